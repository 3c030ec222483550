"""Pair events of odd-one-out triplets: the raw counts every human similarity in `analysis` is built from.

A triplet [kept_a, kept_b, odd] shows three pairs: (kept_a, kept_b) was left together; the two pairs
with the odd item were split. similarity[i, j] = together / shown, NaN where a pair was never shown.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PairEvents(NamedTuple):
    """pair: (n, 3) int64 flat index i * n_videos + j (i < j) of each triplet's pairs, the kept pair first;
    together: (3,) float64, [1, 0, 0]: whether each of those pairs was left together."""
    pair: np.ndarray
    together: np.ndarray


def pair_events(triplets: np.ndarray, n_videos: int) -> PairEvents:
    """The three pairs of each triplet as flat indices into an (n_videos, n_videos) matrix."""
    t = np.asarray(triplets, dtype=np.int64)
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"triplets must be (n, 3) [kept_a, kept_b, odd], got shape {t.shape}")
    first = t[:, [0, 0, 1]]
    second = t[:, [1, 2, 2]]
    lo, hi = np.minimum(first, second), np.maximum(first, second)
    return PairEvents(lo * n_videos + hi, np.array([1.0, 0.0, 0.0]))


def pair_counts(triplets: np.ndarray, n_videos: int,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(together, shown), each (n_videos, n_videos) float64 and symmetric.

    weights: (n,) per-triplet weight (e.g. a participant's multiplicity in a bootstrap sample)."""
    ev = pair_events(triplets, n_videos)
    w = np.ones(len(ev.pair)) if weights is None else np.asarray(weights, dtype=np.float64)
    size = n_videos * n_videos
    shown = np.bincount(ev.pair.ravel(), weights=np.repeat(w, 3), minlength=size)
    together = np.bincount(ev.pair[:, 0], weights=w, minlength=size)
    return _symmetric(together, n_videos), _symmetric(shown, n_videos)


def similarity_from_counts(together: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """together / shown, NaN where shown == 0 and on the diagonal."""
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(shown > 0, together / np.where(shown > 0, shown, 1.0), np.nan)
    np.fill_diagonal(sim, np.nan)
    return sim


def human_similarity(triplets: np.ndarray, n_videos: int) -> tuple[np.ndarray, np.ndarray]:
    """(similarity, shown) of the triplets; `data.splits.similarity_matrix` is built on the same counts."""
    together, shown = pair_counts(triplets, n_videos)
    return similarity_from_counts(together, shown), shown


def _symmetric(flat: np.ndarray, n: int) -> np.ndarray:
    m = flat.reshape(n, n)
    return m + m.T


class ParticipantPairs(NamedTuple):
    """Counts per (pair, participant) over the pairs within a set of videos, seen at least once.

    together, shown: sparse (n_pairs, n_participants); i, j: (n_pairs,) positions of each pair's videos
    in the `videos` order (i < j in global id)."""
    together: "sparse.csr_matrix"
    shown: "sparse.csr_matrix"
    i: np.ndarray
    j: np.ndarray

    def similarity(self) -> np.ndarray:
        """(n_pairs,) pooled human similarity of each pair."""
        return np.asarray(self.together.sum(axis=1)).ravel() / np.asarray(self.shown.sum(axis=1)).ravel()


def positions(ids: np.ndarray, size: int) -> np.ndarray:
    """ids: (m,) distinct ints in 0..size-1. (size,) int64: the position of each id in `ids`, -1 for an id not
    in it; `positions(ids, n)[triplets]` maps video ids to rows (and marks triplets leaving `ids`)."""
    ids = np.asarray(ids, dtype=np.int64)
    position = np.full(int(size), -1, dtype=np.int64)
    position[ids] = np.arange(len(ids))
    return position


def participant_pairs(triplets: np.ndarray, participant: np.ndarray, n_videos: int,
                      videos: np.ndarray | None = None) -> ParticipantPairs:
    """Pair events from every triplet (mixed ones included) whose two videos both lie in `videos`."""
    from scipy import sparse

    ev = pair_events(triplets, n_videos)
    videos = np.arange(n_videos) if videos is None else np.asarray(videos, dtype=np.int64)
    local = positions(videos, n_videos)
    gi, gj = np.divmod(ev.pair, n_videos)
    ok = (local[gi] >= 0) & (local[gj] >= 0) & (gi != gj)  # a catch triad (a, a, b) shows no pair (a, a)
    column = np.repeat(np.asarray(participant, dtype=np.int64)[:, None], 3, axis=1)[ok]
    pairs, row = np.unique(ev.pair[ok], return_inverse=True)
    shape = (len(pairs), int(np.max(participant)) + 1)
    tog = np.broadcast_to(ev.together, ev.pair.shape)[ok]
    together = sparse.csr_matrix((tog, (row, column)), shape=shape)
    shown = sparse.csr_matrix((np.ones(ok.sum()), (row, column)), shape=shape)
    pi, pj = np.divmod(pairs, n_videos)
    return ParticipantPairs(together, shown, local[pi], local[pj])
