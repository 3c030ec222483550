"""Training steps to time: the trainer's own step (unique videos embedded once) and the naive alternative.

The unique-video step is the hybrid objective's own step (trainables.objectives, on a `trainables.step.Batch`),
not a copy, so the benchmark measures the code that trains.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from data.clips import DecodeSettings
from data.prepared import prepare_dataset
from study.pretrain import resolve_backbone
from study.synthetic import SyntheticConfig, ensure_benchmark
from trainables.config import TrainConfig
from data.prepared import load_prepared
from trainables.losses import rsa_loss, triplet_loss
from trainables.model import build_model, trainable_parameters
from trainables.objectives import Terms, objective_of
from trainables.objectives.base import ramp
from trainables.step import Batch, StepData


@dataclass(frozen=True)
class StepShape:
    """A model and batch shape to time a step at."""
    name: str
    backbone: str
    num_frames: int
    image_size: int
    batch_size: int
    rsa_subset: int

    def overrides(self) -> dict:
        # a preset or a folder unchanged; the synthetic pretrained backbone's name -> its folder
        backbone = resolve_backbone(self.backbone)
        return {"backbone": backbone, "batch_size": self.batch_size, "rsa_subset": self.rsa_subset}


# The default `python -m study.sweep` trial (search_spaces.smoke sizes), and a larger CPU-sized model.
SWEEP_DEFAULT = StepShape("sweep default (synthetic pretrained tiny, 4x32x32, batch 16, RSA subset 16)",
                          "synthetic-pretrained", 4, 32, 16, 16)
SMALL = StepShape("small (4 layers x 192, 8x64x64, batch 4, RSA subset 16)", "small", 8, 64, 4, 16)


@dataclass
class Trainee:
    """What a timed step needs: the model, the loop's step data, an optimiser and the resolved config."""
    model: torch.nn.Module
    step_data: StepData
    optimizer: torch.optim.Optimizer
    cfg: TrainConfig


def benchmark_data(work_dir: Path, quick: bool) -> Path:
    """The synthetic benchmark the measurements run on: the default one the sweep uses (shared cache), or for
    quick runs a tiny one in the scratch folder."""
    if quick:
        return ensure_benchmark(root=work_dir / "synthetic", config=SyntheticConfig.tiny(num_frames=16))
    return ensure_benchmark(config=SyntheticConfig())


def build_trainee(data_dir: Path, work_dir: Path, shape: StepShape, *, dropout: float = 0.0,
                  seed: int = 0) -> Trainee:
    """Prepared folder, model and optimiser for `shape`; dropout 0 by default so two step kinds can agree."""
    decode = DecodeSettings(num_frames=shape.num_frames, image_size=shape.image_size)
    prepared = prepare_dataset(data_dir, decode=decode, out_root=work_dir / "prepared")
    cfg = TrainConfig.from_dict({"prepared_dir": str(prepared), "seed": seed, "lora_dropout": dropout,
                                 "head_dropout": dropout, **shape.overrides()})
    torch.manual_seed(seed)
    model = build_model(cfg.model, decode).train()
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=cfg.optim.lr)
    return Trainee(model, StepData(load_prepared(prepared), cfg, torch.device("cpu")), optimizer, cfg)


def batches(trainee: Trainee, n: int, seed: int) -> list[np.ndarray]:
    """n batches of training triplets (row indices), drawn without replacement within a batch."""
    rng = np.random.default_rng(seed)
    triplets = trainee.step_data.triplets
    size = trainee.cfg.optim.batch_size
    return [triplets[rng.choice(len(triplets), size=size, replace=False)] for _ in range(n)]


def unique_step_losses(trainee: Trainee, triplets: np.ndarray, seed: int, epoch: int = 0) -> Terms:
    """The trainer's step: each distinct video of the batch and the RSA subset embedded once."""
    batch = Batch(triplets, trainee.step_data, trainee.model, trainee.model, np.random.default_rng(seed),
                  trainee.cfg.loss, epoch)
    return objective_of(trainee.cfg).step(batch)


def naive_step_losses(trainee: Trainee, triplets: np.ndarray, seed: int, epoch: int = 0) -> Terms:
    """Three forward passes per triplet (anchors, positives, negatives) and a separate pass over the RSA clips
    (the batch's videos plus the same extra subset the trainer's step draws with this seed)."""
    data, cfg = trainee.step_data, trainee.cfg
    anchor, positive, negative = (trainee.model(data.clip_tensor(triplets[:, k])) for k in range(3))
    k = len(triplets)
    local = torch.arange(3 * k).reshape(3, k).T
    triplet = triplet_loss(torch.cat([anchor, positive, negative]), local, margin=cfg.loss.margin)
    extra = data.extra_rows(np.unique(triplets), np.random.default_rng(seed))
    rows = np.unique(np.concatenate([triplets.ravel(), extra]))
    position = torch.from_numpy(data.position[rows])
    rsa = rsa_loss(trainee.model(data.clip_tensor(rows)), data.distance[position][:, position],
                   data.observed[position][:, position])
    return Terms(cfg.loss.alpha * triplet + ramp(epoch, cfg.loss) * rsa, {"triplet": triplet, "rsa": rsa})


def forward_backward(trainee: Trainee, losses_fn, triplets: np.ndarray, seed: int) -> Terms:
    """One forward and backward (no optimiser step, so repeats see the same weights and the same losses)."""
    trainee.optimizer.zero_grad(set_to_none=True)
    parts = losses_fn(trainee, triplets, seed)
    parts.total.backward()
    return parts


def timed_training_step(trainee: Trainee, triplets: np.ndarray, seed: int) -> tuple[float, float]:
    """(seconds waiting for clips, seconds of the whole step incl. optimiser) for one trainer step."""
    waited = []
    fetch = trainee.step_data.clip_tensor

    def clip_tensor(rows, rng=None):
        start = time.perf_counter()
        out = fetch(rows, rng)
        waited.append(time.perf_counter() - start)
        return out

    trainee.step_data.clip_tensor = clip_tensor  # instance attribute: times this trainee's fetches only
    try:
        start = time.perf_counter()
        parts = forward_backward(trainee, unique_step_losses, triplets, seed)
        trainee.optimizer.step()
        total = time.perf_counter() - start
    finally:
        del trainee.step_data.clip_tensor
    assert torch.isfinite(parts.total)
    return sum(waited), total
