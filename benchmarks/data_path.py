"""1. Data path: clips per second from the decode-once cache vs the authors' decode-every-step pipeline,
and the share of a training step spent waiting for clips.

Both sides deliver the same clips: three per triplet (duplicates included), 16 frames at 224 x 224, from the
synthetic benchmark's videos. The cache side is what the trainer does each step (rows of the memory-mapped
cache -> one contiguous uint8 tensor); the model normalises on its device, so no float copy is made here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from benchmarks.common import BenchSettings, ratio_spread, side_by_side, spread, timed
from benchmarks.reference_pipeline import REFERENCE_FRAMES, REFERENCE_SIZE, reference_batch
from benchmarks.steps import SMALL, SWEEP_DEFAULT, batches, benchmark_data, build_trainee, timed_training_step
from data.clips import DecodeSettings, load_clips
from data.judgments import load_judgments

TARGET_SPEEDUP = 10.0
TARGET_WAIT_FRACTION = 0.05


def run(settings: BenchSettings, work_dir: Path) -> dict:
    data_dir = benchmark_data(work_dir, settings.quick)
    size = 64 if settings.quick else REFERENCE_SIZE
    throughput = _throughput(data_dir, work_dir, settings, size)
    shapes = [SWEEP_DEFAULT] if settings.quick else [SWEEP_DEFAULT, SMALL]
    waiting = {shape.name: _wait_fraction(data_dir, work_dir, shape, settings) for shape in shapes}
    worst = max(w["wait_fraction"]["median"] for w in waiting.values())
    return {"name": "data_path", "clip_shape": [REFERENCE_FRAMES, 3, size, size], **throughput,
            "step_wait": waiting,
            "targets": {"speedup_at_least": TARGET_SPEEDUP, "wait_fraction_below": TARGET_WAIT_FRACTION,
                        "speedup_met": throughput["speedup"]["median"] >= TARGET_SPEEDUP,
                        "wait_fraction_met": worst < TARGET_WAIT_FRACTION}}


def _throughput(data_dir: Path, work_dir: Path, settings: BenchSettings, size: int) -> dict:
    """Clips per second of both pipelines on the same batches of triplets, timed alternately."""
    j = load_judgments(data_dir)
    decode = DecodeSettings(num_frames=REFERENCE_FRAMES, image_size=size)
    cache_dir = work_dir / "clip-cache"
    build_s = timed(lambda: load_clips(data_dir, j.video_names, decode, cache_dir=cache_dir))
    clips = load_clips(data_dir, j.video_names, decode, cache_dir=cache_dir)
    batch_size = 2 if settings.quick else 4
    rng = np.random.default_rng(settings.seed)
    picks = (j.triplets[rng.choice(len(j.triplets), size=batch_size, replace=False)] for _ in iter(int, 1))
    videos = Path(data_dir) / "videos"

    def cached():
        batch = next(picks)
        out = torch.from_numpy(np.ascontiguousarray(clips[batch.ravel()]))
        assert out.shape == (3 * batch_size, *decode_shape(decode))

    def reference():
        batch = next(picks)
        paths = [tuple(videos / j.video_names[v] for v in triplet) for triplet in batch]
        out = reference_batch(paths, REFERENCE_FRAMES, size)
        assert out[0].shape == (batch_size, 3, REFERENCE_FRAMES, size, size)

    cache_s, reference_s = side_by_side(cached, reference, settings.repeats)
    clips_per_batch = 3 * batch_size
    return {"batch_triplets": batch_size, "clips_per_batch": clips_per_batch, "cache_build_s": build_s,
            "n_videos_cached": len(j.video_names),
            "cache_clips_per_s": spread(clips_per_batch / np.asarray(cache_s)),
            "reference_clips_per_s": spread(clips_per_batch / np.asarray(reference_s)),
            "speedup": ratio_spread(reference_s, cache_s)}


def decode_shape(decode: DecodeSettings) -> tuple[int, int, int, int]:
    return decode.num_frames, 3, decode.image_size, decode.image_size


def _wait_fraction(data_dir: Path, work_dir: Path, shape, settings: BenchSettings) -> dict:
    """Seconds waiting for clips / seconds of the whole step, over training steps of the real trainer."""
    torch.manual_seed(settings.seed)
    trainee = build_trainee(data_dir, work_dir, shape, dropout=0.1, seed=settings.seed)
    steps = batches(trainee, 2 + (2 if settings.quick else 3 * settings.repeats), settings.seed)
    timings = [timed_training_step(trainee, triplets, settings.seed + k) for k, triplets in enumerate(steps)]
    waited, total = np.asarray(timings[2:]).T  # the first two steps warm up allocators and caches
    return {"wait_s": spread(waited), "step_s": spread(total), "wait_fraction": spread(waited / total)}
