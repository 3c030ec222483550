"""2. Step efficiency: each distinct video of a batch embedded once, its embeddings reused by the RSA term,
versus three forward passes per triplet plus a separate pass over the RSA clips.

Same batch, same RSA subset, dropout off: the two must give the same loss values (checked here, to a
tolerance, before anything is timed); the figure is the time ratio of forward + backward.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import BenchSettings, ratio_spread, side_by_side, spread
from benchmarks.steps import (SMALL, SWEEP_DEFAULT, batches, benchmark_data, build_trainee, forward_backward,
                              naive_step_losses, unique_step_losses)

LOSS_TOLERANCE = 1e-5  # float32 sums over a handful of clips; batching order is the only difference


def run(settings: BenchSettings, work_dir: Path) -> dict:
    data_dir = benchmark_data(work_dir, settings.quick)
    # The larger shape only when the machine has room: one of its three-pass steps takes ~20 s under load.
    shapes = [SWEEP_DEFAULT, SMALL] if settings.repeats >= 7 else [SWEEP_DEFAULT]
    results = {shape.name: _compare(data_dir, work_dir, shape, settings) for shape in shapes}
    return {"name": "step_efficiency", "loss_tolerance": LOSS_TOLERANCE, "shapes": results}


def _compare(data_dir: Path, work_dir: Path, shape, settings: BenchSettings) -> dict:
    trainee = build_trainee(data_dir, work_dir, shape, dropout=0.0, seed=settings.seed)
    work = batches(trainee, 2 if settings.quick else 4, settings.seed)
    max_diff = max(_loss_difference(trainee, triplets, settings.seed + k) for k, triplets in enumerate(work))
    if max_diff > LOSS_TOLERANCE:
        raise RuntimeError(f"{shape.name}: unique-video and three-pass steps disagree by {max_diff:.2e} "
                             f"(tolerance {LOSS_TOLERANCE:g})")
    with torch.no_grad():
        example = _named(unique_step_losses(trainee, work[0], settings.seed))
    forwards = [_forward_counts(trainee, triplets, settings.seed + k) for k, triplets in enumerate(work)]
    unique_turn, naive_turn = itertools.count(), itertools.count()  # both sides walk the same batches

    def unique():
        k = next(unique_turn) % len(work)
        forward_backward(trainee, unique_step_losses, work[k], settings.seed + k)

    def naive():
        k = next(naive_turn) % len(work)
        forward_backward(trainee, naive_step_losses, work[k], settings.seed + k)

    unique_s, naive_s = side_by_side(unique, naive, settings.repeats)
    return {"max_loss_difference": max_diff, "example_losses": example,
            "clips_embedded_unique": spread([f[0] for f in forwards]),
            "clips_embedded_naive": spread([f[1] for f in forwards]), "unique_step_s": spread(unique_s),
            "naive_step_s": spread(naive_s), "time_ratio_naive_over_unique": ratio_spread(naive_s, unique_s)}


def _loss_difference(trainee, triplets: np.ndarray, seed: int) -> float:
    """Largest absolute difference of total, triplet and RSA loss between the two step kinds."""
    with torch.no_grad():
        a = _named(unique_step_losses(trainee, triplets, seed))
        b = _named(naive_step_losses(trainee, triplets, seed))
    return max(abs(a[name] - b[name]) for name in a)


def _named(terms) -> dict[str, float]:
    """{'total': ..., then each term} of a step's Terms."""
    return {"total": float(terms.total), **{name: float(value) for name, value in terms.parts.items()}}


def _forward_counts(trainee, triplets: np.ndarray, seed: int) -> tuple[int, int]:
    """Clips through the model per step: (unique step, naive step)."""
    extra = trainee.step_data.extra_rows(np.unique(triplets), np.random.default_rng(seed))
    rows = np.unique(np.concatenate([triplets.ravel(), extra]))
    return len(rows), 3 * len(triplets) + len(rows)
