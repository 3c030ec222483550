"""Uniform at random: today's design, the baseline every other strategy must beat."""
from __future__ import annotations

import numpy as np

from study.budget.strategies.base import Choice, Pool, Strategy, top_n


def choose(pool: Pool, n: int, rng: np.random.Generator) -> Choice:
    scores = rng.random(len(pool.candidates))
    return Choice(top_n(scores, n, rng), scores)


STRATEGY = Strategy("uniform", "triads drawn uniformly at random (the baseline)", 0, choose)
