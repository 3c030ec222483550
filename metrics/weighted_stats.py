"""Weighted ranks and correlations, many samples at once: the engine of the vectorised bootstraps.

A bootstrap sample that draws a video (or participant) k times is the same as weighting its pairs by
that multiplicity, so every resample is a row of weights over one fixed set of pairs; no matrix is copied.
"""
from __future__ import annotations

import numpy as np


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes that sort like `values` (equal values share a code), and how many codes there are."""
    uniq, codes = np.unique(values, return_inverse=True)
    return codes.reshape(np.shape(values)), len(uniq)


def weighted_ranks(codes: np.ndarray, n_codes: int, weights: np.ndarray) -> np.ndarray:
    """Average ranks (1-based) of each entry in its row, counting each entry `weights` times.

    codes: (n_samples, n) or (n,) int in [0, n_codes); weights: (n_samples, n) >= 0.
    Equals scipy.stats.rankdata(method="average") on the data with each entry repeated weight times.
    """
    w = np.atleast_2d(weights).astype(np.float64, copy=False)
    if np.ndim(codes) == 1 and n_codes == len(codes):
        return _ranks_of_distinct(np.asarray(codes), w)
    flat = _flat_index(codes, n_codes, w.shape)
    hist = np.bincount(flat, weights=w.ravel(), minlength=w.shape[0] * n_codes)
    # One cumulative sum over all rows, minus what earlier rows contributed, gives each row's own.
    running = np.cumsum(hist)
    row_start = np.repeat(running[n_codes - 1::n_codes] - hist.reshape(-1, n_codes).sum(axis=1), n_codes)
    table = running - hist - row_start + (hist + 1.0) / 2.0
    return table[flat].reshape(w.shape)


def _ranks_of_distinct(codes: np.ndarray, w: np.ndarray) -> np.ndarray:
    # Same values in every row, all distinct (a model's distances): a cumulative sum in their sorted order
    # gives each entry's weighted rank without histogramming n_codes bins per row.
    order = np.argsort(codes)
    sorted_w = w[:, order]
    ranks = np.empty_like(w)
    ranks[:, order] = np.cumsum(sorted_w, axis=1) - (sorted_w - 1.0) / 2.0
    return ranks


def _flat_index(codes: np.ndarray, n_codes: int, shape: tuple[int, int]) -> np.ndarray:
    rows = np.arange(shape[0], dtype=np.int64)[:, None] * n_codes
    return (rows + codes).ravel()


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(n_samples,) Pearson r of x and y per row, with weights w; x, y broadcast to w's shape."""
    w = np.atleast_2d(w).astype(np.float64, copy=False)
    x, y = np.broadcast_to(x, w.shape), np.broadcast_to(y, w.shape)
    wx, wy = w * x, w * y
    # Raw moments (einsum keeps them to one pass each); float64 keeps the cancellation harmless here.
    sw = w.sum(axis=1)
    sx, sy = wx.sum(axis=1), wy.sum(axis=1)
    sxx, syy, sxy = (np.einsum("ij,ij->i", a, b) for a, b in ((wx, x), (wy, y), (wx, y)))
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / sw
        return cov / np.sqrt((sxx - sx * sx / sw) * (syy - sy * sy / sw))


def weighted_correlation(x: np.ndarray, y: np.ndarray, w: np.ndarray, *, method: str = "spearman",
                         x_codes: tuple[np.ndarray, int] | None = None,
                         y_codes: tuple[np.ndarray, int] | None = None) -> np.ndarray:
    """(n_samples,) correlation per row of weights; "spearman" ranks with the weights first.

    x_codes / y_codes: precomputed `dense_codes` (pass them when x or y changes per row)."""
    if method == "pearson":
        return weighted_pearson(x, y, w)
    if method == "spearman":
        xc, nx = x_codes if x_codes is not None else dense_codes(x)
        yc, ny = y_codes if y_codes is not None else dense_codes(y)
        if np.ndim(xc) == 1 and nx == len(xc):
            # Pearson ignores the order of entries: work in x's sorted order, where x's weighted ranks are
            # a running sum, and only the weights and y's codes need reordering.
            w = np.atleast_2d(w)
            if np.any(np.diff(xc) < 0):  # callers that pre-sort by x skip these gathers
                order = np.argsort(xc)
                w = w[:, order]
                yc = yc[order] if np.ndim(yc) == 1 else yc[:, order]
            rx = np.cumsum(w, axis=1) - (w - 1.0) / 2.0
            return weighted_pearson(rx, weighted_ranks(yc, ny, w), w)
        return weighted_pearson(weighted_ranks(xc, nx, w), weighted_ranks(yc, ny, w), w)
    raise ValueError(f"unknown resampling correlation method {method!r}; expected 'spearman' or 'pearson'")


def pair_weighted_sums(m: np.ndarray, i: np.ndarray, j: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(n_samples, k) sums over pairs of features[p] * m[:, i[p]] * m[:, j[p]] (pairs weighted by the product of
    their videos' multiplicities), as one quadratic form m' G m per feature: no (n_samples, n_pairs) array.

    m: (n_samples, n_videos); i, j: (n_pairs,) with i != j; features: (n_pairs, k)."""
    n = m.shape[1]
    grid = np.zeros((features.shape[1], n, n))
    grid[:, i, j] = features.T
    return np.stack([np.einsum("bi,bi->b", m @ g, m) for g in grid], axis=1)


def pearson_from_sums(s: np.ndarray) -> np.ndarray:
    """Pearson r from weighted sums [w, x, y, xx, yy, xy] (n_samples, 6)."""
    w, x, y, xx, yy, xy = s.T
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xy - x * y / w) / np.sqrt((xx - x * x / w) * (yy - y * y / w))
