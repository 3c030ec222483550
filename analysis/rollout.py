"""Attention rollout (Abnar and Zuidema 2020, "Quantifying Attention Flow in Transformers") and the share of it that
falls on the agents. Pure numpy: attention matrices in, maps and shares out (no torch, no files).

Rollout: each layer's attention, averaged over heads, gets the residual connection as an identity term,
Â = r I + (1 - r) A (rows renormalised; r = 0.5 as in the paper), and the layers multiply, last layer on the left:
R = Â_L ... Â_1. Row i of R says how much of output token i's information came from each input token.

TimeSformer's divided space-time layer attends twice, time first, then space (each with its own residual);
`divided_mixing` builds the layer's one token-mixing matrix as Ŝ Ŧ over the full token set (CLS first, then
patch-major, frame-minor: token 1 + p T + t), the CLS row of Ŝ being the mean over frames of the per-frame CLS rows
(TimeSformer averages the CLS token's spatial output over frames). Joint space-time models (VideoMAE, V-JEPA 2)
attend over all tubelet tokens at once: rollout applies as is. CLIP embeds frames one by one: one rollout per frame.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from metrics.bootstrap import multiplicities, paired_difference, percentile_interval

RESIDUAL = 0.5  # Abnar and Zuidema's weight of the identity (the residual stream)


def with_residual(attention: np.ndarray, residual: float = RESIDUAL) -> np.ndarray:
    """(..., N, N) row-stochastic attention -> r I + (1 - r) A, rows renormalised."""
    a = np.asarray(attention, dtype=np.float64)
    hat = residual * np.eye(a.shape[-1]) + (1.0 - residual) * a
    return hat / hat.sum(axis=-1, keepdims=True)


def rollout(layers: Sequence[np.ndarray], residual: float = RESIDUAL) -> np.ndarray:
    """layers: one (..., N, N) attention per layer (heads averaged), first layer first. Returns (..., N, N)
    R = Â_L ... Â_1. residual=0 multiplies the matrices as given (for layers already mixed, `divided_mixing`)."""
    out = None
    for attention in layers:
        hat = with_residual(attention, residual)
        out = hat if out is None else hat @ out
    if out is None:
        raise ValueError("rollout needs at least one layer")
    return out


def divided_mixing(spatial: np.ndarray, temporal: np.ndarray, residual: float = RESIDUAL) -> np.ndarray:
    """One divided space-time layer as a token-mixing matrix (N, N), N = 1 + P T, tokens [CLS, 1 + p T + t].

    spatial: (T, 1 + P, 1 + P) per frame [CLS, patches of frame t]; temporal: (P, T, T) per patch over frames
    (the CLS token takes no part in it). Both heads-averaged. Returns Ŝ Ŧ (time first, as TimeSformer runs)."""
    frames, patches = spatial.shape[0], spatial.shape[1] - 1
    n = 1 + patches * frames
    time = np.eye(n)
    for p in range(patches):
        idx = 1 + p * frames + np.arange(frames)
        time[np.ix_(idx, idx)] = with_residual(temporal[p], residual)
    space = residual * np.eye(n)
    for t in range(frames):
        cols = np.concatenate([[0], 1 + np.arange(patches) * frames + t])
        space[np.ix_(cols[1:], cols)] += (1.0 - residual) * spatial[t][1:]
        space[0, cols] += (1.0 - residual) * spatial[t][0] / frames
    return space @ time


def pooled_attribution(r: np.ndarray, pooling: str, has_cls: bool) -> np.ndarray:
    """(N, N) rollout -> (N - has_cls,) share of the pooled vector's information from each input patch token
    (sums to 1): the CLS row for 'cls' pooling, the mean of the patch rows otherwise. The CLS input column is
    dropped: it is a learned constant, no pixel. No mass on any patch (the CLS kept only itself): uniform."""
    first = 1 if has_cls else 0
    row = r[0] if (pooling == "cls" and has_cls) else r[first:].mean(axis=0)
    mass = row[first:]
    total = mass.sum()
    return mass / total if total > 0 else np.full(len(mass), 1.0 / len(mass))


def pixel_map(tokens: np.ndarray, frames_per_token: int, patch: int) -> np.ndarray:
    """(T', gh, gw) token masses (tubelets of `frames_per_token` frames, patches of patch x patch pixels) ->
    (T' frames_per_token, gh patch, gw patch) pixel masses with the same total: each token's mass spread evenly
    over its pixels."""
    spread = np.repeat(np.repeat(np.repeat(tokens, frames_per_token, axis=0), patch, axis=1), patch, axis=2)
    return spread / (frames_per_token * patch * patch)


def agent_share(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """maps: (n, T, H, W) non-negative attention; masks: (n, T, H, W) agent coverage in [0, 1]. Returns
    (share of each map's mass on agent pixels (n,), the same share for uniform attention (n,): the floor)."""
    maps, masks = np.asarray(maps, dtype=np.float64), np.asarray(masks, dtype=np.float64)
    if maps.shape != masks.shape:
        raise ValueError(f"maps {maps.shape} and masks {masks.shape} differ in shape")
    axes = tuple(range(1, maps.ndim))
    return (maps * masks).sum(axis=axes) / maps.sum(axis=axes), masks.mean(axis=axes)


class Share(NamedTuple):
    value: float
    ci_low: float
    ci_high: float
    n: int


def share_interval(per_video: np.ndarray, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
                   ) -> tuple[Share, np.ndarray]:
    """Mean over videos with a bootstrap interval over videos; also the resampled means (n_boot,), which a
    paired difference reuses (same seed, same resamples)."""
    per_video = np.asarray(per_video, dtype=np.float64)
    m = multiplicities(len(per_video), n_boot, seed)
    samples = (m @ per_video) / m.sum(axis=1)
    return Share(float(per_video.mean()), *percentile_interval(samples, ci), len(per_video)), samples


def paired_share_difference(a: np.ndarray, b: np.ndarray, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0):
    """mean(a) - mean(b) over the same videos, resampled together (metrics.bootstrap.PairedDifference)."""
    (sa, xa), (sb, xb) = (share_interval(x, n_boot=n_boot, ci=ci, seed=seed) for x in (a, b))
    return paired_difference(sa.value, sb.value, xa, xb, ci)
