"""Disagreement between replicate seeds: query by committee (Seung, Opper & Sompolinsky 1992; McCallum & Nigam
1998's KL-to-the-mean). Triads on which models trained from different seeds give different odd-one-out chances
are those the data have not pinned down yet; a triad every seed finds hard but answers alike scores low."""
from __future__ import annotations

import numpy as np

from study.budget.strategies.base import Choice, Pool, Strategy, odd_probabilities, top_n


def choose(pool: Pool, n: int, rng: np.random.Generator) -> Choice:
    if len(pool.similarities) < 2:
        raise ValueError(f"strategy 'disagreement' needs two or more replicate seeds' similarities, got "
                         f"{len(pool.similarities)}")
    probs = np.stack([odd_probabilities(s, pool.candidates) for s in pool.similarities])  # (k, m, 3)
    mean = probs.mean(axis=0)
    kl = (probs * (np.log(np.clip(probs, 1e-12, 1)) - np.log(np.clip(mean, 1e-12, 1)))).sum(axis=2)
    scores = kl.mean(axis=0)
    return Choice(top_n(scores, n, rng), scores)


STRATEGY = Strategy("disagreement", "triads on which replicate seeds disagree most (mean KL to their consensus)",
                    2, choose)
