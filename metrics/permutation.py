"""Permutation test for RSA: is the model-human correlation larger than chance?"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metrics.compare import compare_vectors
from metrics.triplet_pairs import ParticipantPairs
from metrics.weighted_stats import dense_codes, weighted_correlation

_CHUNK = 50


class PermutationTest(NamedTuple):
    """observed: RSA; p_value: (1 + #null >= observed) / (1 + n_perm), one-sided; null: (n_perm,)."""
    observed: float
    p_value: float
    null: np.ndarray


def rsa_permutation_test(model_rdm: np.ndarray, pairs: ParticipantPairs, *, method: str = "spearman",
                         n_perm: int = 1000, seed: int = 0) -> PermutationTest:
    """Shuffle the model's video labels (rows and columns together), keep the human pairs fixed.

    model_rdm: (m, m) in the order of the videos `pairs` was built with. method: "spearman" or "pearson".
    """
    rdm = np.asarray(model_rdm, dtype=np.float64)
    human = 1.0 - pairs.similarity()
    observed = compare_vectors(rdm[pairs.i, pairs.j], human, method=method)
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((n_perm, rdm.shape[0])), axis=1)
    if method == "spearman" and len(pairs.i) == rdm.shape[0] * (rdm.shape[0] - 1) // 2:
        null = _null_every_pair_seen(rdm, human, pairs, perms)
        return PermutationTest(observed, float((1 + np.sum(null >= observed)) / (1 + n_perm)), null)
    full_codes, n_codes = dense_codes(rdm)
    human_codes = dense_codes(human)
    null = np.concatenate([_null_block(rdm, full_codes, n_codes, human, human_codes, pairs,
                                       perms[s:s + _CHUNK], method) for s in range(0, n_perm, _CHUNK)])
    p = (1 + np.sum(null >= observed)) / (1 + n_perm)
    return PermutationTest(observed, float(p), null)


def _null_block(rdm, full_codes, n_codes, human, human_codes, pairs, perms, method) -> np.ndarray:
    pi, pj = perms[:, pairs.i], perms[:, pairs.j]
    ones = np.ones(pi.shape)
    if method == "pearson":
        return weighted_correlation(rdm[pi, pj], human, ones, method="pearson")
    return weighted_correlation(None, human, ones, method="spearman",
                                x_codes=(full_codes[pi, pj], n_codes), y_codes=human_codes)


def _null_every_pair_seen(rdm, human, pairs, perms) -> np.ndarray:
    # When humans saw every pair, a relabelling only reorders the model's values, so their ranks are the
    # full matrix's ranks reordered: one gather and one dot product per permutation, no sorting.
    from scipy import stats

    ranks = np.zeros_like(rdm)
    i, j = np.triu_indices(len(rdm), 1)
    ranks[i, j] = stats.rankdata(rdm[i, j])
    ranks += ranks.T
    y = stats.rankdata(human)
    y = (y - y.mean()) / np.sqrt(((y - y.mean()) ** 2).sum())
    x0 = ranks[pairs.i, pairs.j]
    scale = np.sqrt(((x0 - x0.mean()) ** 2).sum())
    return np.concatenate([ranks[p[:, pairs.i], p[:, pairs.j]] @ y for p in np.array_split(perms, max(1, len(perms) // _CHUNK))]) / scale
