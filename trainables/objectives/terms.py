"""The step computations objectives share: embed a batch's distinct videos once and compute the triplet and RSA
terms over them (ours), or the authors' step with periodic anchored RSA and extra constraints (their cadence).

Each returns the raw (triplet, rsa) terms; the objective weighs them into its total.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from trainables.losses import (anchored_rsa_loss, mine_hard_negatives, rsa_loss, triplet_loss,
                               violation_extra_triplet)
from trainables.objectives.base import every

if TYPE_CHECKING:
    from trainables.step import Batch


def batch_terms(batch: Batch, *, mined: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(triplet, rsa) over each distinct video of the batch and its extra videos, embedded once; mined: each
    triplet also gets the extra video humans rank below its positive that the model puts closest (budget-matched).
    The RSA term is computed either way, so it is logged for every objective."""
    data, triplets = batch.data, batch.triplets
    extra = data.extra_rows(np.unique(triplets), batch.rng)
    rows = np.unique(np.concatenate([triplets.ravel(), extra]))
    embeddings = batch.model(data.clip_tensor(rows, batch.rng))
    local = torch.from_numpy(np.searchsorted(rows, triplets)).to(embeddings.device)
    position = torch.from_numpy(data.position[rows]).to(embeddings.device)
    if mined:
        pool = torch.from_numpy(np.searchsorted(rows, extra)).to(embeddings.device)
        local = torch.cat([local, mine_hard_negatives(embeddings, local, pool, data.similarity[position][:, position])])
    triplet = triplet_loss(embeddings, local, margin=batch.loss.margin)
    rsa = rsa_loss(embeddings, data.distance[position][:, position], data.observed[position][:, position])
    return triplet, rsa


def rsa_step(batch: Batch) -> bool:
    """Whether this step is one of the authors' RSA steps (one every max(1, steps // rsa_steps_per_epoch))."""
    return batch.index % every(batch.steps, batch.loss.rsa_steps_per_epoch) == 0


def extra_step(batch: Batch) -> bool:
    """Whether this step adds the authors' budget-matched constraint (at most budget_constraints an epoch)."""
    spacing = every(batch.steps, batch.loss.budget_constraints)
    return batch.index % spacing == 0 and batch.index // spacing < batch.loss.budget_constraints


def paper_terms(batch: Batch, *, triplet: bool = True, rsa: bool = False,
                extra: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(triplet, rsa) under the authors' rules; a term left out is 0.

    rsa (an RSA step): K = rsa_videos training videos are drawn; the first M = rsa_grad_videos share the batch's
    forward pass (train mode, with gradient), the other K - M are embedded without gradient in eval mode, after
    which train mode is restored (the authors' code left the model in eval mode: their defect 3). extra: one
    extra triplet, the batch's worst anchor against its hardest other negative (their budget-matched rule).
    """
    loss, data = batch.loss, batch.data
    drawn = np.zeros(0, dtype=np.int64)
    if rsa:
        drawn = batch.rng.choice(data.rows_train, size=min(loss.rsa_videos, len(data.rows_train)), replace=False)
    grad_rows, const_rows = drawn[:loss.rsa_grad_videos], np.sort(drawn[loss.rsa_grad_videos:])
    rows = np.unique(np.concatenate([batch.triplets.ravel() if triplet else np.zeros(0, np.int64), grad_rows]))
    embeddings = batch.model(data.clip_tensor(rows, batch.rng))
    zero = embeddings.sum() * 0.0
    triplet_term = rsa_term = zero
    if triplet:
        local = torch.from_numpy(np.searchsorted(rows, batch.triplets)).to(embeddings.device)
        triplet_term = triplet_loss(embeddings, local, margin=loss.margin)
        if extra:
            worst = violation_extra_triplet(embeddings, local, margin=loss.margin)
            triplet_term = triplet_term + triplet_loss(embeddings, worst, margin=loss.margin)
    if len(drawn):
        const = data.embed_constant(batch.module, const_rows, batch.rng).to(embeddings.device)
        position = torch.from_numpy(data.position[np.concatenate([grad_rows, const_rows])]).to(embeddings.device)
        grad = embeddings[torch.from_numpy(np.searchsorted(rows, grad_rows)).to(embeddings.device)]
        rsa_term = anchored_rsa_loss(grad, const, data.distance[position][:, position],
                                     data.observed[position][:, position])
    return triplet_term, rsa_term
