"""Which training triplets an epoch visits, in what order. One signature for every strategy:

    strategy(pool: TripletPool, n_draws: int, rng: np.random.Generator) -> (n_draws,) int64 indices into
    pool.triplets

Every worker calls it with the same seeded rng and takes its own shard, so workers agree on the order without
talking to each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from common.errors import ConfigError


@dataclass(frozen=True)
class TripletPool:
    """triplets: (n, 3) [kept_a, kept_b, odd]; violated: (n,) bool, triplets the current model gets wrong
    (needed by 'hard-negative' only); hard_negative_boost: a violated triplet's weight relative to 1."""
    triplets: np.ndarray
    violated: np.ndarray | None = None
    hard_negative_boost: float = 4.0


def sample_uniform(pool: TripletPool, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffled passes over all triplets, each seen once per pass."""
    n = len(pool.triplets)
    passes = [rng.permutation(n) for _ in range(-(-n_draws // n))]
    return np.concatenate(passes)[:n_draws].astype(np.int64)


def sample_coverage(pool: TripletPool, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Each pass starts with a block that covers every observed pair, then the remaining triplets.

    The block takes, in a random order, each triplet that adds a pair not yet covered; a pair is in some
    triplet, so by the end of one scan every observed pair is covered, in fewer draws than a full pass.
    """
    n = len(pool.triplets)
    passes = [_coverage_pass(pool.triplets, rng) for _ in range(-(-n_draws // n))]
    return np.concatenate(passes)[:n_draws].astype(np.int64)


def _coverage_pass(triplets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    order = rng.permutation(len(triplets))
    covered: set[tuple[int, int]] = set()
    first, rest = [], []
    for k in order:
        pairs = set(observed_pairs(triplets[k:k + 1]))
        (first if pairs - covered else rest).append(k)
        covered |= pairs
    return np.array(first + rest, dtype=np.int64)


def sample_hard_negative(pool: TripletPool, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws with replacement; a triplet the model violates is hard_negative_boost times as likely."""
    if pool.violated is None:
        raise ConfigError("sampling 'hard-negative' needs pool.violated (the current model's mistakes)")
    weights = np.where(np.asarray(pool.violated, dtype=bool), pool.hard_negative_boost, 1.0)
    return rng.choice(len(pool.triplets), size=n_draws, p=weights / weights.sum()).astype(np.int64)


def sample_consensus(pool: TripletPool, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Draws with replacement, weighted by how many participants agreed with this row's choice."""
    weights = consensus_weights(pool.triplets)
    return rng.choice(len(pool.triplets), size=n_draws, p=weights / weights.sum()).astype(np.int64)


def consensus_weights(triplets: np.ndarray) -> np.ndarray:
    """(n,) smoothed agreement (same_choice + 1) / (repeats + 2) over all showings of the same three videos.

    A triad shown once gets 2/3; shown three times with choices x, x, y its x rows get 3/5 and its y row 2/5;
    the smoothing keeps a single showing from counting as unanimous.
    """
    t = np.asarray(triplets, dtype=np.int64)
    triad = np.sort(t, axis=1)
    _, triad_id, repeats = np.unique(triad, axis=0, return_inverse=True, return_counts=True)
    _, choice_id, same = np.unique(np.column_stack([triad, t[:, 2]]), axis=0, return_inverse=True,
                                   return_counts=True)
    return (same[choice_id.ravel()] + 1.0) / (repeats[triad_id.ravel()] + 2.0)


def observed_pairs(triplets: np.ndarray) -> list[tuple[int, int]]:
    """Every unordered pair (i < j) that shares a triplet."""
    t = np.asarray(triplets, dtype=np.int64)
    pairs = np.concatenate([t[:, [0, 1]], t[:, [0, 2]], t[:, [1, 2]]])
    return [tuple(p) for p in np.sort(pairs, axis=1).tolist()]


STRATEGIES: dict[str, Callable[[TripletPool, int, np.random.Generator], np.ndarray]] = {
    "uniform": sample_uniform,
    "coverage": sample_coverage,
    "hard-negative": sample_hard_negative,
    "consensus": sample_consensus,
}


def sample_triplets(name: str, pool: TripletPool, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """Dispatch by strategy name; unknown name -> ValueError naming it."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown sampling {name!r}; expected one of {sorted(STRATEGIES)}")
    return STRATEGIES[name](pool, n_draws, rng)
