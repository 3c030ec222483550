"""The judgment budget: how many of the training judgments a prepared folder keeps, as a fraction of the training
triplets or of the participants (both are choices a lab makes: fewer trials each, or fewer people), drawn
reproducibly from a seed. Only the training part shrinks; validation and test judgments are never touched.
data.prepared records the budget in the folder's meta.json and in its cache key (a full budget adds nothing,
so its folder is exactly the folder made without one)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from common.errors import ConfigError
from data.judgments import Judgments

JUDGMENT_UNITS = ("triplets", "participants")
_STREAM = 0x6A0D6E  # keeps the draw apart from the split's stream when both use the same seed


@dataclass(frozen=True)
class JudgmentBudget:
    """Which share of the training judgments a folder keeps."""

    fraction: float = field(default=1.0, metadata={"help": "share of the training judgments kept, in (0, 1]"})
    unit: str = field(default="triplets", metadata={
        "help": "'triplets' (a random share of the training triplets) or 'participants' (every training "
                "triplet of a random share of the people)"})
    seed: int = field(default=0, metadata={"help": "seed of the draw (the trial's seed)"})

    def __post_init__(self) -> None:
        check_budget(self.fraction, self.unit)
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"judgment seed must be a whole number in 0..{2**32 - 1}; got {self.seed!r}")

    @property
    def is_full(self) -> bool:
        return self.fraction == 1.0

    def settings(self) -> dict:
        """What the budget adds to the prepared folder's settings (and so to its key): nothing when full."""
        if self.is_full:
            return {}
        return {"judgment_fraction": float(self.fraction), "judgment_unit": self.unit, "judgment_seed": int(self.seed)}


def check_budget(fraction, unit) -> None:
    """ConfigError naming the setting and the value when the fraction or the unit is not one we can draw."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) \
            or not 0.0 < float(fraction) <= 1.0:
        raise ConfigError(f"judgment_fraction must be a number in (0, 1]; got {fraction!r}")
    if unit not in JUDGMENT_UNITS:
        raise ConfigError(f"judgment_unit must be one of {', '.join(JUDGMENT_UNITS)}; got {unit!r}")


def sample_judgments(train: Judgments, budget: JudgmentBudget) -> Judgments:
    """The training judgments the budget keeps (at least one triplet, or one person), in their file order."""
    if budget.is_full or len(train) == 0:
        return train
    rng = np.random.default_rng([int(budget.seed), _STREAM])
    if budget.unit == "triplets":
        keep = np.sort(rng.choice(len(train), size=_share(budget.fraction, len(train)), replace=False))
        return train.subset(keep)
    people = np.unique(train.participant)
    chosen = rng.choice(people, size=_share(budget.fraction, len(people)), replace=False)
    return train.subset(np.isin(train.participant, chosen))


def budget_summary(available: Judgments, kept: Judgments, budget: JudgmentBudget) -> dict:
    """Plain-JSON record of the draw for meta.json."""
    return {"fraction": float(budget.fraction), "unit": budget.unit, "seed": int(budget.seed),
            "n_triplets_available": len(available), "n_triplets_kept": len(kept),
            "n_participants_available": int(len(np.unique(available.participant))),
            "n_participants_kept": int(len(np.unique(kept.participant)))}


def _share(fraction: float, n: int) -> int:
    return min(n, max(1, int(round(float(fraction) * n))))
