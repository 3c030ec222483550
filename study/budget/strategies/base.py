"""What every strategy shares: the pool it chooses from, what it returns, and the model's odd-one-out chances."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np


@dataclass(frozen=True)
class Pool:
    """candidates: (m, 3) triads of video ids to choose among; judged: (n, 3) triplets already collected (video
    ids, any order); n_videos: ids are below it; similarities: model similarity matrices (n_videos, n_videos),
    larger = more alike, one per replicate seed (empty for a strategy that needs no model)."""

    candidates: np.ndarray
    judged: np.ndarray
    n_videos: int
    similarities: tuple[np.ndarray, ...] = ()


class Choice(NamedTuple):
    """picked: (n,) indices into pool.candidates, best first; scores: (m,) every candidate's score."""

    picked: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class Strategy:
    name: str
    help: str
    models_needed: int  # 0: none; 1: the current model; 2: two or more replicate seeds
    choose: Callable[[Pool, int, np.random.Generator], Choice]


def top_n(scores: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """The n highest scores, ties broken at random (a seeded order, not the candidates' order)."""
    order = np.lexsort((rng.random(len(scores)), -np.asarray(scores, dtype=np.float64)))
    return order[:n]


def odd_probabilities(similarity: np.ndarray, triads: np.ndarray) -> np.ndarray:
    """(m, 3) the model's chance that each position is the odd one out: a softmax over the similarity of the pair
    left behind, on similarities standardised by their spread over the triads' pairs (so a model's scale, which
    its loss does not fix, does not decide how sure it looks). Position k's pair is the other two videos."""
    s = np.asarray(similarity, dtype=np.float64)
    a, b, c = np.asarray(triads, dtype=np.int64).T
    left = np.stack([s[b, c], s[a, c], s[a, b]], axis=1)
    spread = left.std()
    left = (left - left.mean()) / (spread if spread > 0 else 1.0)
    soft = np.exp(left - left.max(axis=1, keepdims=True))
    return soft / soft.sum(axis=1, keepdims=True)


def entropy(probs: np.ndarray) -> np.ndarray:
    """(m,) entropy in nats of each row of (m, k) probabilities."""
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)
