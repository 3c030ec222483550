"""Pair coverage: the triads whose pairs have been judged least. Greedy, so one batch spreads over the least-judged
pairs instead of spending all of itself on the same few: after each pick its three pairs count once more."""
from __future__ import annotations

import numpy as np

from study.budget.candidates import judged_pair_counts
from study.budget.strategies.base import Choice, Pool, Strategy


def choose(pool: Pool, n: int, rng: np.random.Generator) -> Choice:
    counts = judged_pair_counts(pool.judged, pool.n_videos).astype(np.float64)
    t = np.asarray(pool.candidates, dtype=np.int64)
    pairs = [(t[:, 0], t[:, 1]), (t[:, 0], t[:, 2]), (t[:, 1], t[:, 2])]
    jitter = rng.random(len(t)) * 1e-3  # breaks ties at random; far below one judgment
    first_scores = -sum(counts[i, j] for i, j in pairs)
    available = np.ones(len(t), bool)
    picked = []
    for _ in range(min(n, len(t))):
        # A triad's score: minus the judgments its least-covered pairs have had (sum over its three pairs).
        score = np.where(available, -sum(counts[i, j] for i, j in pairs) + jitter, -np.inf)
        best = int(np.argmax(score))
        picked.append(best)
        available[best] = False
        for i, j in pairs:
            counts[i[best], j[best]] += 1
            counts[j[best], i[best]] += 1
    return Choice(np.array(picked, dtype=np.int64), first_scores)


STRATEGY = Strategy("coverage", "triads whose three pairs have been judged least (greedy over the batch)", 0,
                    choose)
