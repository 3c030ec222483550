"""8. Fused attention: one training step (forward, backward, AdamW on the LoRA adapters and head) of TimeSformer at
its base shape (8 x 224 x 224, batch 2, LoRA on, random weights, fp32), eager attention against
`attention="sdpa"` (torch's scaled_dot_product_attention in place of matmul-softmax).

Step time: both sides built in this process and timed alternately (side_by_side), the ratio per pair of repeats.
Peak memory: each side in a fresh child process (`python -m benchmarks.attention SIDE`), the step's rise of the
process's resident memory (sampled every 5 ms by a thread) over its resident memory before the step; on a GPU, the
peak of torch.cuda.max_memory_allocated during the step. (ru_maxrss cannot tell: building the model already peaks
higher than a step at these sizes.) Both sides must first agree on the embeddings (fp32 tolerance).
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import torch

from benchmarks.common import BenchSettings, ratio_spread, side_by_side, spread

SIDES = ("eager", "sdpa")
BASE = dict(backbone="base-random", num_frames=8, image_size=224, batch=2)
QUICK = dict(backbone="tiny", num_frames=4, image_size=32, batch=2)
EMBEDDING_TOLERANCE = 1e-4  # unit-norm fp32 embeddings through 12 layers; tests/test_backbones.py asks 1e-5 of tiny


def run(settings: BenchSettings, work_dir: Path) -> dict:
    shape = QUICK if settings.quick else BASE
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    steps = {side: _Step(shape, side, device, settings.seed) for side in SIDES}
    with torch.no_grad():
        diff = (steps["eager"].embed() - steps["sdpa"].embed()).abs().max().item()
    if diff > EMBEDDING_TOLERANCE:
        raise RuntimeError(f"eager and sdpa embeddings differ by {diff:.2e} (tolerance {EMBEDDING_TOLERANCE:g})")
    eager_s, sdpa_s = side_by_side(steps["eager"], steps["sdpa"], settings.repeats)
    del steps
    memory = {side: _child_peak(side, settings) for side in SIDES}
    return {"name": "attention", "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
            "shape": shape, "max_embedding_difference": diff, "eager_step_s": spread(eager_s),
            "sdpa_step_s": spread(sdpa_s), "time_ratio_eager_over_sdpa": ratio_spread(eager_s, sdpa_s),
            "step_peak_memory_mib": memory,
            "memory_ratio_eager_over_sdpa": memory["eager"] / memory["sdpa"] if memory["sdpa"] > 0 else None}


class _Step:
    """One side's model, optimiser and batch; calling it runs one training step."""

    def __init__(self, shape: dict, attention: str, device: torch.device, seed: int):
        from data.clips import DecodeSettings
        from trainables.config import ModelConfig
        from trainables.model import build_model, trainable_parameters

        config = ModelConfig(backbone=shape["backbone"], attention=attention, precision="fp32",
                             lora_dropout=0.0, head_dropout=0.0)
        decode = DecodeSettings(num_frames=shape["num_frames"], image_size=shape["image_size"])
        torch.manual_seed(seed)  # the same head on both sides
        self.model = build_model(config, decode).to(device).train()
        self.optimizer = torch.optim.AdamW(trainable_parameters(self.model), lr=1e-4)
        generator = torch.Generator().manual_seed(seed)
        size = (shape["batch"], shape["num_frames"], 3, shape["image_size"], shape["image_size"])
        self.clips = torch.randint(0, 256, size, dtype=torch.uint8, generator=generator).to(device)

    def embed(self) -> torch.Tensor:
        return self.model(self.clips)

    def __call__(self) -> None:
        emb = self.model(self.clips)
        loss = -(emb[0] @ emb[1:].T).mean()  # any scalar of the embeddings: the step's cost is the point
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.clips.device.type == "cuda":
            torch.cuda.synchronize()


def _child_peak(side: str, settings: BenchSettings) -> float:
    """The step's peak memory in MiB, measured in a fresh process so that the sides cannot share a peak."""
    command = [sys.executable, "-m", "benchmarks.attention", side, "quick" if settings.quick else "base",
               str(settings.seed)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-1000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["step_peak_mib"])


def measure_step_peak(side: str, shape: dict, seed: int) -> float:
    """Peak memory one step adds, in MiB (see the module docstring)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    step = _Step(shape, side, device, seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    process, peak, done = psutil.Process(), [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.005)

    before = process.memory_info().rss
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        step()
    finally:
        done.set()
        sampler.join()
    return max(peak[0] - before, 0) / 2**20


if __name__ == "__main__":
    name, size, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    peak = measure_step_peak(name, QUICK if size == "quick" else BASE, seed)
    print(json.dumps({"side": name, "step_peak_mib": peak}))
