"""Odd-one-out accuracy of a model similarity against human triplet choices."""
from __future__ import annotations

import numpy as np


def odd_one_out_accuracy(similarity: np.ndarray, triplets: np.ndarray, *, rule: str = "three_way") -> float:
    """Fraction of human choices the model reproduces.

    similarity: (n_videos, n_videos), larger = more similar (e.g. 1 - model_rdm).
    triplets: (n, 3) int, ordered [kept_a, kept_b, odd] (the participant's choice last).
    rule:
      "three_way": the model's odd one out is the item outside its most similar pair; chance 1/3.
      "paper": Garcia & Isik's rule. For each kept item, is it more similar to its partner than to the
               chosen odd item? Averaged over both anchors; chance 1/2.
    """
    return float(per_triplet_correct(similarity, triplets, rule=rule).mean())


def per_triplet_correct(similarity: np.ndarray, triplets: np.ndarray, *, rule: str = "three_way") -> np.ndarray:
    """(n,) float credit per triplet, the basis for bootstraps.

    "three_way": 1 when the kept pair is the most similar, 0 otherwise; "paper": 0, 0.5 or 1.
    Ties count as a fair guess among the tied items (1/k for a k-way tie at the top, 1/2 for a tied
    comparison), so a constant matrix scores exactly chance; NaN similarities earn no credit (fill them
    first when that is not wanted, as the noise ceilings do).
    """
    s = np.asarray(similarity, dtype=np.float64)
    t = np.asarray(triplets, dtype=np.int64)
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"triplets must be (n, 3) [kept_a, kept_b, odd], got shape {t.shape}")
    a, b, odd = t[:, 0], t[:, 1], t[:, 2]
    return credit_from_pairs(s[a, b], s[a, odd], s[b, odd], rule=rule)


def credit_from_pairs(s_ab: np.ndarray, s_ao: np.ndarray, s_bo: np.ndarray, *, rule: str = "three_way") -> np.ndarray:
    """`per_triplet_correct` from each triplet's three similarities: kept pair, kept_a-odd, kept_b-odd."""
    if rule == "three_way":
        return _three_way(s_ab, s_ao, s_bo)
    if rule == "paper":
        return 0.5 * (_beats(s_ab, s_ao) + _beats(s_ab, s_bo))
    raise ValueError(f"unknown odd-one-out rule {rule!r}; expected 'three_way' or 'paper'")


def _three_way(s_ab: np.ndarray, s_ao: np.ndarray, s_bo: np.ndarray) -> np.ndarray:
    top = np.maximum(np.maximum(s_ab, s_ao), s_bo)
    n_top = (s_ab == top).astype(np.float64) + (s_ao == top) + (s_bo == top)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s_ab == top, 1.0 / np.maximum(n_top, 1.0), 0.0)


def _beats(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x > y).astype(np.float64) + 0.5 * (x == y)


def model_choices(similarity: np.ndarray, triplets: np.ndarray) -> np.ndarray:
    """The same triads as a model would answer them: (n, 3) ordered [kept_a, kept_b, odd], the kept pair being the
    model's most similar of the three (ties keep the first pair in the triad's own order). The language-distill
    control trains on these with the caption-language similarity in place of the humans' choices."""
    t = np.asarray(triplets, dtype=np.int64)
    s = np.asarray(similarity, dtype=np.float64)
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    kept = np.argmax(np.stack([s[a, b], s[a, c], s[b, c]], axis=1), axis=1)  # 0: ab kept, 1: ac, 2: bc
    orders = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])
    return np.take_along_axis(t, orders[kept], axis=1)
