"""What a search space declares: fixed values, ranges, grid axes and the first points to try.

Nothing here samples or computes; `study.sweep` turns a `SearchSpace` into Ray Tune / Optuna objects.
Every declaration validates itself in `__post_init__`, naming the field and the value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# Settings the sweep resolves itself before a trial's config reaches trainables (see docs/sweep.md).
SWEEP_ONLY_KEYS = {
    "lora_alpha_ratio": "LoRA alpha as a multiple of the rank; the trial gets lora_alpha = ratio * lora_r.",
}


@dataclass(frozen=True)
class Float:
    """A real range [low, high]; log=True samples evenly in log space (low must be > 0)."""
    low: float
    high: float
    log: bool = False

    def __post_init__(self):
        if not self.low < self.high:
            raise ValueError(f"Float range needs low < high, got low={self.low!r}, high={self.high!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"Float range with log=True needs low > 0, got low={self.low!r}")


@dataclass(frozen=True)
class Int:
    """An integer range [low, high], both ends included; log=True samples evenly in log space."""
    low: int
    high: int
    log: bool = False

    def __post_init__(self):
        if not (isinstance(self.low, int) and isinstance(self.high, int)) or not self.low < self.high:
            raise ValueError(f"Int range needs integers low < high, got low={self.low!r}, high={self.high!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"Int range with log=True needs low > 0, got low={self.low!r}")


@dataclass(frozen=True)
class Choice:
    """A categorical parameter: one of `values`, searched by the sampler."""
    values: tuple

    def __post_init__(self):
        if len(self.values) < 1:
            raise ValueError(f"Choice needs at least one value, got {self.values!r}")


@dataclass(frozen=True)
class Grid:
    """A grid axis: every value is run (with every value of the other axes)."""
    values: tuple

    def __post_init__(self):
        if len(self.values) < 1:
            raise ValueError(f"Grid needs at least one value, got {self.values!r}")


Param = Float | Int | Choice | Grid


@dataclass(frozen=True)
class SearchSpace:
    """A named space. A key is either fixed or a parameter, never both."""
    name: str = field(metadata={"help": "Name used by --space."})
    description: str = field(metadata={"help": "One line shown by --list-spaces."})
    fixed: Mapping[str, Any] = field(default_factory=dict, metadata={"help": "Constant trial settings."})
    params: Mapping[str, Param] = field(default_factory=dict, metadata={"help": "Searched settings."})
    points_to_evaluate: tuple[Mapping[str, Any], ...] = field(
        default=(), metadata={"help": "Values of the searched settings tried first, in order."})
    num_samples: int = field(default=8, metadata={"help": "Trials (Optuna) or repeats of the grid."})
    metric: str = field(default="val_ooo_acc", metadata={"help": "Per-epoch metric that ranks trials."})
    mode: str = field(default="max", metadata={"help": "'max' or 'min' for the metric."})
    asha: bool = field(default=True, metadata={"help": "Stop weak trials early with ASHA."})
    asha_grace_period: int = field(default=1, metadata={"help": "Epochs every trial runs before ASHA judges."})
    asha_reduction_factor: int = field(default=2, metadata={"help": "ASHA keeps 1/this of trials per rung."})
    replicates: int = field(default=3, metadata={
        "help": "Fresh seeds the selected configuration of each variant is trained again on after the search "
                "(--replicates overrides; 0: none)."})
    smoke: Mapping[str, Any] = field(default_factory=dict, metadata={
        "help": "What --smoke lays over this space after the smoke sizes (written as --set values), e.g. the "
                "tiny presets in place of hub backbones."})

    def __post_init__(self):
        both = sorted(set(self.fixed) & set(self.params))
        if both:
            raise ValueError(f"space {self.name!r}: {both} are both fixed and searched")
        if self.mode not in ("max", "min"):
            raise ValueError(f"space {self.name!r}: mode must be 'max' or 'min', got {self.mode!r}")
        if isinstance(self.replicates, bool) or not isinstance(self.replicates, int) or self.replicates < 0:
            raise ValueError(f"space {self.name!r}: replicates must be a whole number >= 0, got {self.replicates!r}")
        if self.num_samples < 1:
            raise ValueError(f"space {self.name!r}: num_samples must be >= 1, got {self.num_samples!r}")
        if self.is_grid and any(not isinstance(p, Grid) for p in self.params.values()):
            raise ValueError(f"space {self.name!r}: a grid space cannot also hold sampled ranges")
        for point in self.points_to_evaluate:
            extra = sorted(set(point) - set(self.params))
            if extra:
                raise ValueError(f"space {self.name!r}: point to evaluate names unsearched keys {extra}")

    @property
    def is_grid(self) -> bool:
        """Grid spaces run every combination (Tune's BasicVariantGenerator); others are searched by Optuna."""
        return any(isinstance(p, Grid) for p in self.params.values())
