"""Two-level bootstrap over training seeds and test videos: a model trained K times (seed replicates) is
reported as the mean over its seeds, with an interval that holds both sources of run-to-run change, the
training seed and the sample of test videos.

Each resample b draws the test videos once (the same multiplicities for every seed and every model, so
differences are paired on videos) and, independently, K of the model's K seeds with replacement. Its statistic
is the mean, over the drawn seeds, of each seed's statistic on that resample's videos. The seed draw alone
would give a variance of (K-1)/K of the seeds' spread (the plain bootstrap's small-sample shrinkage, serious at
K = 2 or 3); the seed deviations are therefore scaled by sqrt(K/(K-1)), which makes that part of the variance
unbiased (Davison & Hinkley 1997, sec. 3.3: the same correction for residuals). With K = 1 the interval is
over videos only.

Inputs are what a one-seed analysis already has: per_seed (K, n_boot), row k = seed k's statistic on the
video resamples every model shares (metrics.bootstrap draws them from the suite's seed).
"""
from __future__ import annotations

import numpy as np

from metrics.bootstrap import Estimate, PairedDifference, multiplicities, paired_difference, percentile_interval


def two_level_samples(per_seed: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(n_boot,) the seed-mean on each two-level resample.

    per_seed: (K, n_boot) each seed's statistic on the shared video resamples; seed: the seed of the seed draws
    (give each model its own, and the same one in every comparison of that model)."""
    per_seed = np.asarray(per_seed, dtype=np.float64)
    if per_seed.ndim != 2 or per_seed.shape[0] < 1:
        raise ValueError(f"per_seed must be (n_seeds, n_boot), got shape {per_seed.shape}")
    k, n_boot = per_seed.shape
    videos_only = per_seed.mean(axis=0)  # a resample with no valid statistic (NaN) stays NaN and is dropped later
    if k == 1:
        return videos_only
    draws = multiplicities(k, n_boot, seed).astype(np.float64)          # (n_boot, K)
    with np.errstate(invalid="ignore"):  # a resample with an infinite statistic (R^2 of one repeated video)
        drawn = np.einsum("bk,kb->b", draws, per_seed) / k
        return videos_only + seed_scale(per_seed) * (drawn - videos_only)


def seed_scale(per_seed: np.ndarray) -> float:
    """The factor on the seed deviations: sqrt(K/(K-1)) (unbiased seed variance) times sqrt(1 - noise / spread),
    where spread is the seeds' variance and noise the part of it the video resamples already hold (each seed's
    own video noise), estimated from the same resamples; 0 when the seeds differ no more than that noise."""
    k = per_seed.shape[0]
    finite = per_seed[:, np.isfinite(per_seed).all(axis=0)]
    within = np.var(finite, axis=1, ddof=1).mean()           # one seed's variance over video resamples
    pooled = np.var(finite.mean(axis=0), ddof=1)             # the seed-mean's: shared part + within / K
    noise = max(0.0, within - pooled) * k / (k - 1)          # the per-seed part of within (not shared)
    spread = np.var(finite.mean(axis=1), ddof=1)             # the seeds' spread, noise included
    share = max(0.0, 1.0 - noise / spread) if spread > 0 else 0.0
    return float(np.sqrt(k / (k - 1) * share))


def two_level_estimate(values: np.ndarray, per_seed: np.ndarray, *, ci: float = 0.95, seed: int = 0) -> Estimate:
    """Mean over seeds with its two-level percentile interval. values: (K,) each seed's statistic on all test
    videos; per_seed: (K, n_boot) as in two_level_samples. n: K."""
    values = np.asarray(values, dtype=np.float64)
    return Estimate(float(values.mean()), *percentile_interval(two_level_samples(per_seed, seed=seed), ci), len(values))


def two_level_difference(values_a: np.ndarray, per_seed_a: np.ndarray, values_b: np.ndarray,
                         per_seed_b: np.ndarray, *, ci: float = 0.95, seed_a: int = 0, seed_b: int = 1) -> PairedDifference:
    """mean(a) - mean(b) over their seeds, on the same video resamples, each model's seeds drawn with its own seed
    (seeds of two models are independent trainings, so they are not paired). Either may have K = 1."""
    return paired_difference(float(np.mean(values_a)), float(np.mean(values_b)),
                             two_level_samples(per_seed_a, seed=seed_a), two_level_samples(per_seed_b, seed=seed_b), ci)
