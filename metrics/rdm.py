"""Representational dissimilarity matrices (RDMs) from model embeddings."""
from __future__ import annotations

import numpy as np


def model_rdm(embeddings: np.ndarray, *, method: str = "cosine") -> np.ndarray:
    """Pairwise distances between videos.

    embeddings: (n_videos, dim). Returns (n_videos, n_videos) float64 with a zero diagonal.
    method: "cosine" (1 - cosine similarity) or "correlation" (1 - Pearson r across dimensions).
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be (n_videos, dim), got shape {x.shape}")
    if method == "cosine":
        return _cosine(x)
    if method == "correlation":
        return _cosine(x - x.mean(axis=1, keepdims=True))
    raise ValueError(f"unknown RDM method {method!r}; expected 'cosine' or 'correlation'")


def _cosine(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms == 0, 1.0, norms)
    rdm = 1.0 - unit @ unit.T
    np.fill_diagonal(rdm, 0.0)
    return rdm


def upper_pairs(n: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices (i, j), i < j, of the pairs to compare; with mask (n, n) bool, only pairs where it is True."""
    i, j = np.triu_indices(n, k=1)
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)[i, j]
        i, j = i[keep], j[keep]
    return i, j
