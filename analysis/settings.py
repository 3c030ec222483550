"""The settings both analysis commands take (`python -m analysis`, `python -m analysis.human`): how much the
suite resamples (SuiteSettings) and how the caption-language baseline is embedded (CaptionSettings). Standard
library only, so a command builds its options from them and refuses a bad value before numpy, pandas or a model
loads (analysis.cli)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

EV_METHODS = ("pearson", "spearman")
RDM_METHODS = ("cosine", "correlation")
COMBINE = ("mean", "first", "concat")


@dataclass(frozen=True)
class SuiteSettings:
    """How much resampling the suite does."""

    n_boot: int = field(default=1000, metadata={"help": "bootstrap resamples per interval"})
    n_perm: int = field(default=1000, metadata={"help": "label permutations of the RSA permutation test"})
    n_splits: int = field(default=100, metadata={"help": "random participant split-halves (noise ceilings)"})
    ci: float = field(default=0.95, metadata={"help": "confidence level of every interval"})
    rdm_method: str = field(default="cosine", metadata={"help": "model RDM: 'cosine' or 'correlation'"})
    seed: int = field(default=0, metadata={"help": "seed of every resample (shared by all models: paired)"})
    ev_method: str = field(default="pearson", metadata={
        "help": "explained variance as 'pearson' r^2 (ours) or 'spearman' rho^2 (the paper's, presumably); the "
                "noise ceiling it is divided by is computed with the same correlation, never mixed"})

    def __post_init__(self):
        for name in ("n_boot", "n_perm", "n_splits"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"SuiteSettings.{name} must be >= 2, got {getattr(self, name)!r}")
        if not 0.5 <= self.ci < 1:
            raise ValueError(f"SuiteSettings.ci must be in [0.5, 1), got {self.ci!r}")
        if not 0 <= int(self.seed) <= 2**32 - 1:  # numpy's seeds are unsigned 32-bit
            raise ValueError(f"SuiteSettings.seed must be a whole number in 0..{2**32 - 1}, got {self.seed!r}")
        if self.ev_method not in EV_METHODS:
            raise ValueError(f"SuiteSettings.ev_method must be one of {EV_METHODS}, got {self.ev_method!r}")
        if self.rdm_method not in RDM_METHODS:
            raise ValueError(f"SuiteSettings.rdm_method must be one of {RDM_METHODS}, got {self.rdm_method!r}")


@dataclass(frozen=True)
class CaptionSettings:
    """How the caption-language baseline is embedded (analysis.language)."""

    language_model: str | None = field(default=None, metadata={
        "help": "sentence-transformers name or folder (default: the bundled all-MiniLM-L6-v2); a name must be in "
                "the local Hugging Face cache unless HF_HUB_OFFLINE=0"})
    combine: str = field(default="mean", metadata={
        "help": "how a video's captions become one vector: mean of their embeddings, first caption, or concat"})
    cache_dir: Path | None = field(default=None, metadata={
        "help": "caption-embedding cache folder (default: captions/ in the cache root, $SOCIAL_ALIGN_CACHE "
                "else ~/.cache/social-align)", "type": Path})

    def __post_init__(self):
        if self.combine not in COMBINE:
            raise ValueError(f"CaptionSettings.combine must be one of {COMBINE}, got {self.combine!r}")
