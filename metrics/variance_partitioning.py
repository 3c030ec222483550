"""How much of the human similarity a video model and a caption-language model explain, alone and together.

Ordinary least squares of human dissimilarity (1 - similarity, over the pairs humans saw) on each model's
dissimilarity: R^2_video, R^2_language, R^2_both; then unique_video = R^2_both - R^2_language,
unique_language = R^2_both - R^2_video, shared = R^2_video + R^2_language - R^2_both.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metrics.bootstrap import Estimate, multiplicities, percentile_interval
from metrics.triplet_pairs import ParticipantPairs
from metrics.weighted_stats import pair_weighted_sums

_FIELDS = ("r2_video", "r2_language", "r2_both", "unique_video", "unique_language", "shared")


class VariancePartition(NamedTuple):
    r2_video: float
    r2_language: float
    r2_both: float
    unique_video: float
    unique_language: float
    shared: float


def variance_partitioning(human: np.ndarray, video: np.ndarray, language: np.ndarray) -> VariancePartition:
    """human, video, language: (n_pairs,) dissimilarities of the same pairs."""
    parts = _partition(np.ones((1, len(human))), _moments_features(human, video, language))
    return VariancePartition(*(float(p[0]) for p in parts))


def bootstrap_variance_partitioning(video_rdm: np.ndarray, language_rdm: np.ndarray, pairs: ParticipantPairs,
                                    *, n_boot: int = 1000, ci: float = 0.95,
                                    seed: int = 0) -> dict[str, Estimate]:
    """Each part with a percentile interval from resampling videos (pair weight m_i * m_j).

    video_rdm, language_rdm: (m, m) in the order of the videos `pairs` was built with."""
    human = 1.0 - pairs.similarity()
    video, language = (np.asarray(r, dtype=np.float64)[pairs.i, pairs.j] for r in (video_rdm, language_rdm))
    features = _moments_features(human, video, language)
    point = variance_partitioning(human, video, language)
    m = multiplicities(np.asarray(video_rdm).shape[0], n_boot, seed).astype(np.float64)
    samples = np.stack(_partition_sums(pair_weighted_sums(m, pairs.i, pairs.j, features)), axis=1)
    return {name: Estimate(getattr(point, name), *percentile_interval(samples[:, k], ci), len(human))
            for k, name in enumerate(_FIELDS)}


def _moments_features(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n_pairs, 10) products whose weighted sums give every mean and covariance the fits need."""
    return np.stack([np.ones_like(y), y, a, b, y * y, a * a, b * b, y * a, y * b, a * b], axis=1)


def _partition(weights: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, ...]:
    return _partition_sums(weights @ features)


def _partition_sums(s: np.ndarray) -> tuple[np.ndarray, ...]:
    """s: (n_samples, 10) weighted sums of the `_moments_features` columns."""
    n, my, ma, mb = s[:, 0], s[:, 1] / s[:, 0], s[:, 2] / s[:, 0], s[:, 3] / s[:, 0]
    syy, saa, sbb = s[:, 4] / n - my * my, s[:, 5] / n - ma * ma, s[:, 6] / n - mb * mb
    sya, syb, sab = s[:, 7] / n - my * ma, s[:, 8] / n - my * mb, s[:, 9] / n - ma * mb
    with np.errstate(invalid="ignore", divide="ignore"):
        r2_a, r2_b = sya ** 2 / (saa * syy), syb ** 2 / (sbb * syy)
        # Two-predictor R^2 from the covariance matrix: c' S^-1 c / var(y).
        det = saa * sbb - sab ** 2
        r2_ab = (sya ** 2 * sbb - 2 * sya * syb * sab + syb ** 2 * saa) / (det * syy)
    return r2_a, r2_b, r2_ab, r2_ab - r2_b, r2_ab - r2_a, r2_a + r2_b - r2_ab
