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
    flat = _flat_index(codes, n_codes, w.shape)
    hist = np.bincount(flat, weights=w.ravel(), minlength=w.shape[0] * n_codes)
    # One cumulative sum over all rows, minus what earlier rows contributed, gives each row's own.
    running = np.cumsum(hist)
    row_start = np.repeat(running[n_codes - 1::n_codes] - hist.reshape(-1, n_codes).sum(axis=1), n_codes)
    table = running - hist - row_start + (hist + 1.0) / 2.0
    return table[flat].reshape(w.shape)


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
        return weighted_pearson(weighted_ranks(xc, nx, w), weighted_ranks(yc, ny, w), w)
    raise ValueError(f"unknown resampling correlation method {method!r}; expected 'spearman' or 'pearson'")
