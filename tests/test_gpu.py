"""The Ray-free training loop (`trainables.loop.train`) on a CUDA GPU: fp32 agrees with the CPU, and bf16
fine-tuning from the synthetic world's pretrained backbone beats the base on held-out videos by the same bar as
the CPU learning test. Selected only with `-m gpu` (conftest); CI has no GPU.

The synthetic world comes from the cache root (`study.synthetic.ensure_benchmark`, `data.prepared`,
`data.clips`): a GPU machine without PyAV or decord runs this on a cache made elsewhere
(`SOCIAL_ALIGN_CACHE` pointing at a copied cache root), since cached worlds, prepared folders and clips are
read without them.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from test_train import LEARNING_RUN, LEARNING_SEEDS, held_out_scorer, write_prepared
from trainables.embed import backbone_features, embed_clips, load_trained
from trainables.loop import train

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_cuda():
    assert torch.cuda.is_available(), "a gpu test needs a CUDA device (select these tests only with -m gpu)"


def test_a_checkpoint_trained_on_cuda_embeds_the_same_on_the_cpu(tmp_path):
    # The cluster workflow: train on a GPU, analyse on a CPU. fp32 here; TF32 matmuls on the GPU
    # (trainables.model.use_device) make the agreement ~1e-3 on unit-length embeddings, not bit for bit.
    prepared = write_prepared(tmp_path / "prepared")
    history = train({"prepared_dir": str(prepared), "epochs": 1, "batch_size": 4, "steps_per_epoch": 3,
                     "rsa_subset": 4, "precision": "fp32"}, checkpoint_dir=tmp_path / "ckpt")
    assert np.isfinite(history[0]["train_loss"])
    model, _ = load_trained(tmp_path / "ckpt" / "epoch_001")
    clips = np.load(prepared / "clips.npy")
    on_cpu = embed_clips(model.cpu(), clips)
    on_gpu = embed_clips(model.cuda(), clips)
    assert np.abs(on_cpu - on_gpu).max() < 5e-3, np.abs(on_cpu - on_gpu).max()


def test_bf16_fine_tuning_on_cuda_beats_the_base_on_held_out_videos(tmp_path):
    from data.clips import DecodeSettings
    from data.judgments import load_judgments
    from data.prepared import prepare_dataset
    from study.pretrain import ensure_pretrained
    from study.synthetic import ensure_benchmark
    from trainables.config import TrainConfig

    data_dir = ensure_benchmark()
    decode = DecodeSettings(num_frames=4, image_size=32)
    run = {**LEARNING_RUN, "backbone": str(ensure_pretrained()), "precision": "auto",
           "prepared_dir": str(prepare_dataset(data_dir, decode=decode))}
    score, n_triplets, clips = held_out_scorer(data_dir, load_judgments(data_dir), decode, None)
    base = score(None, backbone_features(TrainConfig.from_dict({**run, "seed": 0}), clips))[0]
    bar = base + 2.33 * np.sqrt(2 * 0.25 / n_triplets)  # the CPU learning test's bar over the features' base
    for seed in LEARNING_SEEDS:
        began = time.perf_counter()
        history = train({**run, "variant": "hybrid", "seed": seed}, checkpoint_dir=tmp_path / f"s{seed}")
        seconds = time.perf_counter() - began
        accuracy = score(load_trained(tmp_path / f"s{seed}" / f"epoch_{run['epochs']:03d}")[0])[0]
        print(f"{torch.cuda.get_device_name(0)}: seed {seed}, {len(history)} epochs in {seconds:.1f} s, "
              f"held-out 3-way accuracy {accuracy:.3f} (base {base:.3f}, bar {bar:.3f}, {n_triplets} triplets)")
        assert accuracy > bar, (seed, accuracy, bar)
