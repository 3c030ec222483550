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
    """(n,) float: 1/0 per triplet for "three_way", 0/0.5/1 for "paper"; the basis for bootstraps."""
    s = np.asarray(similarity, dtype=np.float64)
    t = np.asarray(triplets, dtype=np.int64)
    if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f"triplets must be (n, 3) [kept_a, kept_b, odd], got shape {t.shape}")
    a, b, odd = t[:, 0], t[:, 1], t[:, 2]
    s_ab, s_ao, s_bo = s[a, b], s[a, odd], s[b, odd]
    if rule == "three_way":
        return ((s_ab > s_ao) & (s_ab > s_bo)).astype(np.float64)
    if rule == "paper":
        return 0.5 * ((s_ab > s_ao).astype(np.float64) + (s_ab > s_bo).astype(np.float64))
    raise ValueError(f"unknown odd-one-out rule {rule!r}; expected 'three_way' or 'paper'")
