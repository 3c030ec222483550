"""The triads a strategy chooses among: three distinct videos of the given set (training videos: never a test
video), none already judged, none twice; and the pair counts of what has been judged."""
from __future__ import annotations

from math import comb

import numpy as np

from metrics.triplet_pairs import pair_counts


def triad_keys(triads: np.ndarray, n_videos: int) -> np.ndarray:
    """(m,) int64 key of each unordered triad (the same for any order of its three videos)."""
    t = np.sort(np.asarray(triads, dtype=np.int64).reshape(-1, 3), axis=1)
    return (t[:, 0] * n_videos + t[:, 1]) * n_videos + t[:, 2]


def candidate_triads(videos: np.ndarray, judged: np.ndarray, n_videos: int, rng: np.random.Generator,
                     size: int = 20_000) -> np.ndarray:
    """(m, 3) sorted triads of `videos` not among `judged` (any order): every one when few enough, else up to
    `size` drawn at random."""
    videos = np.unique(np.asarray(videos, dtype=np.int64))
    if len(videos) < 3:
        return np.zeros((0, 3), np.int64)
    if comb(len(videos), 3) <= size:
        triads = _all_triads(len(videos))
    else:
        picks = _random_triads(rng, len(videos), 2 * size)
        triads = np.unique(np.sort(picks, axis=1), axis=0)
        triads = triads[rng.permutation(len(triads))[:size]]
    triads = np.sort(videos[triads], axis=1)
    seen = np.isin(triad_keys(triads, n_videos), triad_keys(judged, n_videos))
    return triads[~seen]


def judged_pair_counts(judged: np.ndarray, n_videos: int) -> np.ndarray:
    """(n_videos, n_videos) int64: how many judged triplets showed each pair together."""
    _, shown = pair_counts(np.asarray(judged, dtype=np.int64).reshape(-1, 3), n_videos)
    counts = np.asarray(shown, dtype=np.int64)
    np.fill_diagonal(counts, 0)
    return counts


def presentation_order(triads: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each triad's three videos in a random order, as a participant would see them."""
    return np.take_along_axis(triads, np.argsort(rng.random(triads.shape), axis=1), axis=1)


def _all_triads(n: int) -> np.ndarray:
    grid = np.array(np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")).reshape(3, -1).T
    return grid[(grid[:, 0] < grid[:, 1]) & (grid[:, 1] < grid[:, 2])]


def _random_triads(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    """(m, 3) three distinct positions below n per row."""
    first = rng.integers(n, size=m)
    second = (first + 1 + rng.integers(n - 1, size=m)) % n
    third = rng.integers(n - 2, size=m)
    low, high = np.minimum(first, second), np.maximum(first, second)
    third = third + (third >= low)
    third = third + (third >= high)
    return np.stack([first, second, third], axis=1)
