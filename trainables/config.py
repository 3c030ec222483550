"""The trial's settings, typed once: Ray hands the worker a flat dict, `TrainConfig.from_dict` turns it into these.

Every flat key belongs to exactly one section (model, loss, sampling, augment, optim) or to the top level; keys are unique
across sections so a search space can name them without prefixes. Bad keys and values raise `ValueError` naming
the key and the value (`study.sweep` re-raises them as `ConfigError`).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from common.errors import ConfigError
from data.budget import JUDGMENT_UNITS, check_budget
from data.clips import DECODE_KEYS
from trainables.augment import AUGMENTATIONS, EVAL_VIEWS, eval_view_set, parse_augment
from trainables.objectives import DEFAULT as _DEFAULT_OBJECTIVE, OBJECTIVES

LORA_TARGET_NAMES = ("qkv", "attn_out", "mlp_in", "mlp_out", "temporal_dense")
VARIANTS = tuple(OBJECTIVES)
SAMPLINGS = ("uniform", "coverage", "hard-negative", "consensus")
PRECISIONS = ("auto", "fp32", "bf16")
LR_SCHEDULES = ("warmup-cosine", "plateau")
POOLINGS = ("cls", "mean")
ATTENTIONS = ("sdpa", "eager")
SELECT_METRICS = ("val_ooo_acc", "val_rsa")


def _help(text: str, **kwargs) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass(frozen=True)
class ModelConfig:
    backbone: str = _help("A preset with fixed random weights (each family's, e.g. 'tiny': "
                          "trainables.backbones.presets(); a name that is none lists them), a hub id such as "
                          "'facebook/timesformer-base-finetuned-k400', or a local save_pretrained folder; its "
                          "family (trainables/backbones/) is the preset's or config.json's model_type.",
                          default="tiny")
    lora_r: int = _help("LoRA rank.", default=8)
    lora_alpha: float = _help("LoRA scaling numerator (scale = lora_alpha / lora_r).", default=16.0)
    lora_dropout: float = _help("Dropout on the LoRA branch, in [0, 1).", default=0.1)
    lora_targets: str = _help("Comma-separated LoRA target groups out of " + ", ".join(LORA_TARGET_NAMES) +
                              " (the paper's default is all five).", default=",".join(LORA_TARGET_NAMES))
    head_dropout: float = _help("Dropout in the projection head, in [0, 1).", default=0.1)
    embed_dim: int = _help("Size of the L2-normalised embedding (paper: 128).", default=128)
    gradient_checkpointing: bool = _help("Recompute backbone activations in backward to save memory.",
                                         default=False)
    precision: str = _help("'auto' (bf16 autocast on a CUDA GPU that supports it, else fp32), 'fp32' or 'bf16'.",
                           default="auto")
    pooling: str = _help("How the backbone's last layer becomes one vector: 'cls' (the CLS token; a family without "
                         "one uses its natural pooling, the mean of its tokens) or 'mean' (mean of the last "
                         "layer's tokens, CLS excluded). An image family pools each frame, then averages frames.",
                         default="cls")
    attention: str = _help("'sdpa' (fused torch scaled_dot_product_attention: transformers' own path where the "
                           "family has one, ours for TimeSformer) or 'eager' (transformers' matmul-softmax).",
                           default="sdpa")

    def __post_init__(self):
        _check_positive(self, "lora_r", "embed_dim")
        _check_fraction(self, "lora_dropout", "head_dropout")
        if self.lora_alpha <= 0:
            raise ConfigError(f"lora_alpha must be > 0, got {self.lora_alpha!r}")
        groups = self.target_groups()
        bad = [g for g in groups if g not in LORA_TARGET_NAMES]
        if bad or not groups:
            raise ConfigError(f"lora_targets must name some of {LORA_TARGET_NAMES}, got {self.lora_targets!r}")
        _check_choice(self, "precision", PRECISIONS)
        _check_choice(self, "pooling", POOLINGS)
        _check_choice(self, "attention", ATTENTIONS)
        if not self.backbone:
            raise ConfigError("backbone must name a preset, a hub id or a folder, got ''")

    def target_groups(self) -> tuple[str, ...]:
        return tuple(g.strip() for g in self.lora_targets.split(",") if g.strip())


@dataclass(frozen=True)
class LossConfig:
    variant: str = _help("The training objective: " + "; ".join(f"'{o.name}' ({o.help})" for o in
                                                               OBJECTIVES.values()) +
                         ". What each computes: trainables/objectives/.", default=_DEFAULT_OBJECTIVE)
    margin: float = _help("Triplet margin on cosine distance (paper 0.2).", default=0.2)
    alpha: float = _help("Weight of the triplet term in the hybrid (paper 0.7).", default=0.7)
    beta_start: float = _help("RSA weight in epoch 0 (paper 0.3).", default=0.3)
    beta_end: float = _help("RSA weight ceiling (paper 0.7).", default=0.7)
    beta_step: float = _help("RSA weight increase per epoch (paper 0.1).", default=0.1)
    rsa_only_beta_start: float = _help("'rsa-only': RSA weight in epoch 0, rising by beta_step per epoch up to "
                                       "rsa_only_beta_end (authors' code 0.5; 1.0 with rsa_only_beta_end 1.0 = a "
                                       "constant weight 1, ours).", default=1.0)
    rsa_only_beta_end: float = _help("'rsa-only': RSA weight ceiling (authors' code 1.0).", default=1.0)
    rsa_steps_per_epoch: int = _help("0 = the RSA term on every step, over the step's videos plus rsa_subset "
                                     "others, all with gradient (ours). N > 0 = the authors' cadence: an RSA step "
                                     "every max(1, steps // N) steps, over rsa_videos freshly drawn training "
                                     "videos (authors' code 6); 'rsa-only' then updates on RSA steps only.",
                                     default=0)
    rsa_videos: int = _help("With rsa_steps_per_epoch > 0: training videos drawn per RSA step, K (authors' 24).",
                            default=24)
    rsa_grad_videos: int = _help("With rsa_steps_per_epoch > 0: how many of the K are embedded with gradient, M "
                                 "(authors' 6); the other K - M are embedded without gradient in eval mode, and "
                                 "the RSA runs over the observed grad x grad and grad x constant pairs.",
                                 default=6)
    probe_identity_weight: float = _help("'linear-probe': weight of ||W - I||^2, the pull of the linear map "
                                         "toward the identity (the base features).", default=0.1)
    budget_constraints: int = _help("'budget-matched': 0 = one mined negative per triplet per step, from the "
                                    "RSA subset, rated below the positive by humans (ours). N > 0 = the "
                                    "authors' rule: up to N extra triplets per epoch, one every "
                                    "max(1, steps // N) steps: the batch's anchor with the largest margin "
                                    "violation, against its hardest other in-batch negative, no human check "
                                    "(authors' 738 = 6 RSA steps x 123 pairs).", default=0)

    def __post_init__(self):
        _check_choice(self, "variant", VARIANTS)
        for name in ("margin", "alpha", "beta_start", "beta_end", "beta_step", "rsa_only_beta_start",
                     "rsa_only_beta_end", "rsa_steps_per_epoch", "budget_constraints", "probe_identity_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        _check_positive(self, "rsa_videos", "rsa_grad_videos")
        if self.rsa_grad_videos > self.rsa_videos:
            raise ConfigError(f"rsa_grad_videos must be <= rsa_videos ({self.rsa_videos}), got "
                             f"{self.rsa_grad_videos!r}")


@dataclass(frozen=True)
class SamplingConfig:
    sampling: str = _help("Triplet order per epoch: 'uniform', 'coverage' (every observed pair before "
                          "repeats), 'hard-negative' (oversample triplets the model gets wrong) or 'consensus' "
                          "(weight triads by participant agreement).", default="uniform")
    hard_negative_boost: float = _help("With 'hard-negative': a violated triplet is this many times as likely "
                                       "to be drawn as a satisfied one.", default=4.0)
    rsa_subset: int = _help("Extra training videos embedded per step (same forward pass) for the RSA term, or "
                            "as the negative pool of 'budget-matched'.", default=16)
    judgment_fraction: float = _help("Share of the training judgments the trial trains on, in (0, 1], drawn from "
                                     "the trial's seed (data.budget); validation and test never shrink.",
                                     default=1.0)
    judgment_unit: str = _help("What judgment_fraction counts: " + " or ".join(map(repr, JUDGMENT_UNITS)) +
                               " (every training triplet of a share of the people).", default="triplets")

    def __post_init__(self):
        _check_choice(self, "sampling", SAMPLINGS)
        if self.hard_negative_boost < 1:
            raise ConfigError(f"hard_negative_boost must be >= 1, got {self.hard_negative_boost!r}")
        if self.rsa_subset < 0:
            raise ConfigError(f"rsa_subset must be >= 0, got {self.rsa_subset!r}")
        check_budget(self.judgment_fraction, self.judgment_unit)


@dataclass(frozen=True)
class AugmentConfig:
    augment: str = _help("Content-preserving views each training clip is drawn under, per video per step, on "
                         "every training embedding path (the triplets' videos, the RSA subset, the mined "
                         "negatives, the authors' RSA anchors): 'none', 'all' (every one) or names out of " +
                         ", ".join(AUGMENTATIONS) + " separated by commas (trainables.augment; the authors used "
                         "none).", default="none")
    eval_views: str = _help("The fixed views each clip's embedding is averaged over wherever it is evaluated "
                            "(validation, the analysis, the base): " + ", ".join(
                                f"'{k}' ({len(v)})" for k, v in EVAL_VIEWS.items()) + ".", default="none")

    def __post_init__(self):
        parse_augment(self.augment)
        eval_view_set(self.eval_views)


@dataclass(frozen=True)
class OptimConfig:
    batch_size: int = _help("Triplets per step per worker.", default=16)
    lr: float = _help("AdamW peak learning rate (cosine decay after a linear warm-up); with the tiny preset at "
                      "64 px on the full-nuisance synthetic benchmark, 1e-3 and above collapsed the pure triplet "
                      "loss's embeddings to one point.", default=3e-4)
    weight_decay: float = _help("AdamW weight decay.", default=0.01)
    warmup_fraction: float = _help("Fraction of all steps spent warming the learning rate up.", default=0.05)
    epochs: int = _help("Training epochs; one validation report per epoch.", default=5)
    steps_per_epoch: int = _help("Cap on steps per epoch (0 = a full pass over the training triplets).",
                                 default=0)
    lr_schedule: str = _help("'warmup-cosine' (per step, ours) or 'plateau' (ReduceLROnPlateau on select_metric "
                             "once per epoch, mode max: the authors').", default="warmup-cosine")
    plateau_patience: int = _help("'plateau': epochs without gain before the learning rate drops (authors' 3).",
                                  default=3)
    plateau_factor: float = _help("'plateau': factor the learning rate is multiplied by (authors' 0.5), in (0, 1).",
                                  default=0.5)
    early_stop_patience: int = _help("Stop after this many epochs without a new best select_metric (authors' 5; "
                                     "0 = never: ours, where ASHA stops weak trials).", default=0)
    select_metric: str = _help("Validation metric that picks the best epoch, drives 'plateau' and early "
                               "stopping: 'val_ooo_acc' (3-way odd-one-out accuracy, ours) or 'val_rsa' "
                               "(Spearman RSA on observed pairs, the authors'). The sweep sets it to the space's "
                               "metric, so ASHA, Optuna, checkpoints and analysis all rank by it.",
                               default="val_ooo_acc")

    def __post_init__(self):
        _check_positive(self, "batch_size", "epochs")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if self.steps_per_epoch < 0:
            raise ConfigError(f"steps_per_epoch must be >= 0, got {self.steps_per_epoch!r}")
        _check_choice(self, "lr_schedule", LR_SCHEDULES)
        _check_choice(self, "select_metric", SELECT_METRICS)
        _check_positive(self, "plateau_patience")
        if not 0 < self.plateau_factor < 1:
            raise ConfigError(f"plateau_factor must be in (0, 1), got {self.plateau_factor!r}")
        if self.early_stop_patience < 0:
            raise ConfigError(f"early_stop_patience must be >= 0, got {self.early_stop_patience!r}")


_SECTIONS = {"model": ModelConfig, "loss": LossConfig, "sampling": SamplingConfig, "augment": AugmentConfig,
             "optim": OptimConfig}


@dataclass(frozen=True)
class TrainConfig:
    prepared_dir: str = _help("Folder written by data.prepared.prepare_dataset.", default="")
    seed: int = _help("Seed for sampling, dropout and head initialisation.", default=0)
    resume_from: str = _help("Checkpoint folder to continue from when Ray offers none ('' = start fresh).",
                             default="")
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    @classmethod
    def from_dict(cls, flat: dict[str, Any]) -> "TrainConfig":
        """Flat trial dict -> typed config. Unknown key or bad value -> ValueError naming key and value."""
        owner = _key_owners()
        parts: dict[str, dict[str, Any]] = {name: {} for name in [*_SECTIONS, "top"]}
        for key, value in flat.items():
            if key in DECODE_KEYS:
                raise ConfigError(f"training setting {key!r} (value {value!r}): the clip settings are the prepared "
                                  "folder's (its meta.json, data.prepared); set them where the folder is made")
            if key not in owner:
                raise ConfigError(f"unknown training setting {key!r} (value {value!r}); known: {sorted(owner)}")
            section, f = owner[key]
            parts[section][key] = _coerce(key, value, f.type)
        sections = {name: kind(**parts[name]) for name, kind in _SECTIONS.items()}
        return cls(**parts["top"], **sections)

    def to_dict(self) -> dict[str, Any]:
        """The flat dict from_dict reads (every key, resolved defaults included)."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _SECTIONS}
        for name in _SECTIONS:
            flat.update(dataclasses.asdict(getattr(self, name)))
        return flat

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)


def config_help() -> dict[str, str]:
    """Every flat key with its help text (for docs and error messages)."""
    return {key: f.metadata.get("help", "") for key, (_, f) in _key_owners().items()}


def _key_owners() -> dict[str, tuple[str, dataclasses.Field]]:
    owner = {f.name: ("top", f) for f in dataclasses.fields(TrainConfig) if f.name not in _SECTIONS}
    for name, kind in _SECTIONS.items():
        owner.update({f.name: (name, f) for f in dataclasses.fields(kind)})
    return owner


def _coerce(key: str, value: Any, type_name: str) -> Any:
    # Optuna and numpy hand over numpy scalars; accept them, but never silently truncate 2.5 to an int.
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    kind = {"int": int, "float": float, "bool": bool, "str": str}[type_name]
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(value, str):
        return value
    raise ConfigError(f"training setting {key!r} must be {type_name}, got {value!r}")


def _check_positive(obj, *names: str) -> None:
    for name in names:
        if getattr(obj, name) <= 0:
            raise ConfigError(f"{name} must be > 0, got {getattr(obj, name)!r}")


def _check_fraction(obj, *names: str) -> None:
    for name in names:
        if not 0 <= getattr(obj, name) < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {getattr(obj, name)!r}")


def _check_choice(obj, name: str, choices: tuple[str, ...]) -> None:
    if getattr(obj, name) not in choices:
        raise ConfigError(f"{name} must be one of {choices}, got {getattr(obj, name)!r}")
