"""Which triplets to collect next: one strategy per file, one registry (adding one = one file + one line here).

A strategy sees a `Pool` (candidate triads, what has been judged, and zero or more model similarity matrices:
one per replicate seed) and returns a `Choice`: the n candidates it picks, best first, and its score of every
candidate (higher = collect sooner), whose distribution next_triplets reports."""
from __future__ import annotations

from study.budget.strategies.base import Choice, Pool, Strategy, odd_probabilities, top_n
from study.budget.strategies import coverage, disagreement, uncertainty, uniform

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    uniform.STRATEGY,
    coverage.STRATEGY,
    uncertainty.STRATEGY,
    disagreement.STRATEGY,
)}


def get_strategy(name: str) -> Strategy:
    """The registered strategy; ValueError naming the unknown name and the known ones."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


__all__ = ["Choice", "Pool", "STRATEGIES", "Strategy", "get_strategy", "odd_probabilities", "top_n"]
