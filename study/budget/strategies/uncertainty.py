"""The current model's uncertainty: triads whose odd one out the model is least sure of (the entropy of its
odd-one-out chances; highest when it splits the triad evenly three ways), the classic uncertainty sampling of
active learning (Lewis & Gale 1994)."""
from __future__ import annotations

import numpy as np

from study.budget.strategies.base import Choice, Pool, Strategy, entropy, odd_probabilities, top_n


def choose(pool: Pool, n: int, rng: np.random.Generator) -> Choice:
    if not pool.similarities:
        raise ValueError("strategy 'uncertainty' needs the current model's similarity")
    scores = entropy(odd_probabilities(pool.similarities[0], pool.candidates))
    return Choice(top_n(scores, n, rng), scores)


STRATEGY = Strategy("uncertainty", "triads whose odd one out the current model is least sure of (entropy)", 1,
                    choose)
