"""Comparing a model RDM with the human one, over the pairs humans actually saw."""
from __future__ import annotations

import numpy as np
from scipy import stats

from metrics.rdm import upper_pairs


def compare_rdms(model: np.ndarray, human: np.ndarray, *, mask: np.ndarray | None = None,
                 method: str = "spearman") -> float:
    """Correlation between two (n, n) dissimilarity matrices over their upper triangle.

    mask: (n, n) bool, the pairs to use (e.g. counts > 0); NaN pairs in either matrix are always left out.
    method: "spearman", "pearson" or "kendall_tau_a".
    """
    model, human = np.asarray(model, dtype=np.float64), np.asarray(human, dtype=np.float64)
    if model.shape != human.shape or model.ndim != 2 or model.shape[0] != model.shape[1]:
        raise ValueError(f"RDMs must be square and the same shape, got {model.shape} and {human.shape}")
    i, j = upper_pairs(model.shape[0], mask)
    a, b = model[i, j], human[i, j]
    finite = np.isfinite(a) & np.isfinite(b)
    return compare_vectors(a[finite], b[finite], method=method)


def compare_vectors(a: np.ndarray, b: np.ndarray, *, method: str = "spearman") -> float:
    """Correlation of two equal-length vectors of pair dissimilarities."""
    if method == "spearman":
        return _pearson(stats.rankdata(a), stats.rankdata(b))
    if method == "pearson":
        return _pearson(a, b)
    if method == "kendall_tau_a":
        return _kendall_tau_a(a, b)
    raise ValueError(f"unknown comparison method {method!r}; expected 'spearman', 'pearson' or 'kendall_tau_a'")


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def _kendall_tau_a(a: np.ndarray, b: np.ndarray) -> float:
    # tau-a = (concordant - discordant) / (n choose 2); scipy's tau-b adjusts for ties, which RSA should
    # not, so undo that adjustment: tau_b = (C - D) / sqrt((n0 - ties_a) * (n0 - ties_b)), O(n log n).
    n = len(a)
    if n < 2:
        return float("nan")
    n0 = n * (n - 1) / 2
    denom = np.sqrt((n0 - _tied_pairs(a)) * (n0 - _tied_pairs(b)))
    if denom == 0:
        return 0.0
    tau_b = stats.kendalltau(a, b, variant="b").statistic
    return float(tau_b * denom / n0)


def _tied_pairs(x: np.ndarray) -> float:
    _, counts = np.unique(x, return_counts=True)
    return float((counts * (counts - 1) / 2).sum())
