"""Training objectives, one module each, and their registry: the config takes its `variant` choices from
OBJECTIVES, the loop asks the trial's objective for each step's terms, study and analysis ask it what a trial
trains (objective_of), never comparing names.

Adding an objective: a module here with an Objective subclass and `OBJECTIVE = ...` (trainables.objectives.base
says what to declare), plus its line below.
"""
from __future__ import annotations

from trainables.objectives import budget_matched, hybrid, language_distill, linear_probe, rsa_only, triplet_only
from trainables.objectives.base import Objective, Terms

OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    hybrid.OBJECTIVE,
    triplet_only.OBJECTIVE,
    rsa_only.OBJECTIVE,
    budget_matched.OBJECTIVE,
    linear_probe.OBJECTIVE,
    language_distill.OBJECTIVE,
)}
DEFAULT = "hybrid"  # what a trial trains when its config names no variant (trainables.config's default)


def objective_of(config) -> Objective:
    """The Objective a trial trains: from a TrainConfig, a LossConfig or a flat trial config dict (`variant`)."""
    if isinstance(config, dict):
        return OBJECTIVES[config.get("variant", DEFAULT)]
    return OBJECTIVES[getattr(config, "loss", config).variant]


__all__ = ["DEFAULT", "OBJECTIVES", "Objective", "Terms", "objective_of"]
