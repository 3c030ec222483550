"""The search space a sweep runs: a named space, the smoke sizes and the user's overrides laid over it
(the override language: a value, a list, {low, high, log}, {choice: [...]}, {grid: [...]}), checked whole
before any trial starts; and the trial's sampled settings resolved to what trainables reads."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import search_spaces
from search_spaces import SWEEP_ONLY_KEYS, Choice, Float, Grid, Int, SearchSpace
from common.errors import ConfigError
from study.preflight import check_backbone
from data.clips import DECODE_KEYS, DecodeSettings
from study.sweep.settings import SEED_MAX, SweepSettings


def known_keys() -> dict[str, str]:
    """Every setting a space, --set or a config file may name, with its help text."""
    from trainables.config import config_help

    clips = {f.name: f"{f.metadata['help']} (a clip setting: the prepared folder's, made once per sweep; the trials "
                     "read it there)" for f in dataclasses.fields(DecodeSettings)}
    return {**config_help(), **clips, **SWEEP_ONLY_KEYS}


def build_space(settings: SweepSettings, *, backbone: bool = True) -> SearchSpace:
    """The named space, smoke sizes laid over it if asked, then the user's overrides; validated.
    backbone=False leaves the backbone to the preflight, which checks it after the cheaper data checks."""
    try:
        space = search_spaces.get(settings.space)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if settings.smoke:
        space = _override(space, {**search_spaces.SMOKE_SIZES, **space.smoke})
    space = _override(space, settings.overrides)
    if settings.num_samples is not None:
        space = dataclasses.replace(space, num_samples=settings.num_samples)
    space = expand_families(space)
    validate_space(space, backbone=backbone)
    return space


def expand_families(space: SearchSpace) -> SearchSpace:
    """A backbone axis naming search_spaces.EVERY_FAMILY (or EVERY_FAMILY_TINY) with every registered backbone
    family's first hub checkpoint (or tiny preset), in the registry's order: a family added to
    trainables.backbones joins the `backbones` comparison with no other line."""
    axis = space.params.get("backbone")
    if axis is None or not {search_spaces.EVERY_FAMILY, search_spaces.EVERY_FAMILY_TINY} & set(axis.values):
        return space
    from trainables.backbones import families  # transformers: only for a space that compares families

    every = {search_spaces.EVERY_FAMILY: [f.hub_ids[0] for f in families().values()],
             search_spaces.EVERY_FAMILY_TINY: [f.tiny_preset for f in families().values()]}
    values = tuple(dict.fromkeys(b for value in axis.values for b in every.get(value, [value])))
    return dataclasses.replace(space, params={**space.params, "backbone": type(axis)(values)})


def _override(space: SearchSpace, values: dict) -> SearchSpace:
    known = known_keys()
    fixed, params = dict(space.fixed), dict(space.params)
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown parameter {key!r} (value {value!r}); known: {', '.join(sorted(known))}")
        _check_value(key, value)
        fixed.pop(key, None)
        params.pop(key, None)
        param = _as_param(key, value, grid=space.is_grid)
        (params if param is not None else fixed)[key] = param if param is not None else value
    # A point to evaluate keeps only the keys still searched: an override fixes the others.
    points = tuple({k: v for k, v in p.items() if k in params} for p in space.points_to_evaluate)
    try:
        return dataclasses.replace(space, fixed=fixed, params=params, points_to_evaluate=tuple(p for p in points if p))
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _check_value(key: str, value: Any) -> None:
    """What its flag would refuse is refused here too: a number that is not finite (NaN, inf) for any
    setting, and a seed outside numpy's and Optuna's unsigned 32-bit range (as --seed)."""
    values = value.values() if isinstance(value, dict) else value if isinstance(value, list) else (value,)
    for item in values:
        if isinstance(item, (list, dict)):
            _check_value(key, item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"parameter {key!r}: {item!r} is not a finite number")
        elif key == "seed" and (isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= SEED_MAX):
            raise ConfigError(f"parameter 'seed': {item!r} must be a whole number in 0..{SEED_MAX} (as --seed)")


def _as_param(key: str, value: Any, *, grid: bool):
    """A range, choice or grid from its written form; None for a fixed value."""
    try:
        if isinstance(value, list):
            return Grid(tuple(value)) if grid else Choice(tuple(value))
        if not isinstance(value, dict):
            return None
        if set(value) == {"choice"}:
            return Choice(tuple(value["choice"]))
        if set(value) == {"grid"}:
            return Grid(tuple(value["grid"]))
        if {"low", "high"} <= set(value) <= {"low", "high", "log"}:
            kind = Int if all(isinstance(value[k], int) for k in ("low", "high")) else Float
            return kind(value["low"], value["high"], bool(value.get("log", False)))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"parameter {key!r}: {err}") from None
    raise ConfigError(f"parameter {key!r}: cannot read {value!r}; write a value, a list, {{low, high, log}}, "
                      "{choice: [...]} or {grid: [...]}")


def validate_space(space: SearchSpace, *, backbone: bool = True) -> None:
    """Every corner the sweep can reach must make a valid TrainConfig, and (backbone=True) its backbone must
    resolve; checked before any trial starts."""
    from trainables.config import TrainConfig

    for key in DECODE_KEYS:
        if key in space.params:
            raise ConfigError(f"parameter {key!r} must be fixed: the data are prepared once per sweep")
    if space.asha and "epochs" in space.params:
        raise ConfigError("parameter 'epochs' must be fixed when ASHA is on (it is ASHA's budget)")
    if space.fixed.get("select_metric", space.metric) != space.metric:  # one metric selects, prunes and ranks
        raise ConfigError(f"space {space.name!r}: select_metric {space.fixed['select_metric']!r} differs from the "
                          f"space's metric {space.metric!r}")
    space_clips(space)  # DecodeSettings checks the clip settings' values
    for point in _corners(space):
        try:
            TrainConfig.from_dict(resolve_trial_config({**space.fixed, **point}))
        except ValueError as err:
            raise ConfigError(f"space {space.name!r}: {err}") from None
    if backbone:
        for name in space_backbones(space):
            check_backbone(name, decode=space_clips(space))


def space_backbones(space: SearchSpace) -> tuple[str, ...]:
    """Every backbone the space's trials train: the fixed one, or each value of a backbone axis."""
    from trainables.config import ModelConfig

    if "backbone" in space.params:
        return tuple(str(b) for b in space.params["backbone"].values)
    return (str(space.fixed.get("backbone", ModelConfig().backbone)),)


def space_clips(space: SearchSpace) -> DecodeSettings:
    """The clip settings of the folder the sweep prepares once for all its trials: those the space fixes, the
    rest DecodeSettings' defaults. The trials read them from that folder, not from their config."""
    try:
        return DecodeSettings(**{k: space.fixed[k] for k in DECODE_KEYS if k in space.fixed})
    except ValueError as err:
        raise ConfigError(f"space {space.name!r}: {err}") from None


def with_backbone_folder(space: SearchSpace) -> SearchSpace:
    """The space with the synthetic pretrained backbone's name replaced by its save_pretrained folder (built
    once, then cached: study.pretrain), fixed or on a backbone axis; any other backbone unchanged."""
    from study.pretrain import resolve_backbone

    if "backbone" in space.fixed:
        return dataclasses.replace(space, fixed={**space.fixed, "backbone": resolve_backbone(space.fixed["backbone"])})
    if "backbone" in space.params:
        axis = space.params["backbone"]
        values = tuple(resolve_backbone(b) for b in axis.values)
        return dataclasses.replace(space, params={**space.params, "backbone": type(axis)(values)})
    return space


def _corners(space: SearchSpace) -> list[dict]:
    """Each point to evaluate, then the low and high end (or every value) of each parameter in turn."""
    corners = [dict(p) for p in space.points_to_evaluate]
    for key, param in space.params.items():
        ends = (param.low, param.high) if isinstance(param, (Float, Int)) else param.values
        corners += [{key: value} for value in ends]
    return corners or [{}]


def resolve_trial_config(flat: dict) -> dict:
    """The trial's sampled settings -> the flat dict trainables reads (sweep-only keys resolved, dropped; the clip
    settings dropped too: the trial reads them from its prepared folder)."""
    resolved = {k: v for k, v in flat.items()
                if k not in SWEEP_ONLY_KEYS and k not in DECODE_KEYS and not k.startswith("_")}
    if "lora_alpha_ratio" in flat:
        resolved["lora_alpha"] = float(flat["lora_alpha_ratio"]) * float(flat.get("lora_r", 8))
    return resolved



def epoch_budget(config: dict) -> int:
    """A trial's epoch budget: its setting, else the trainer's default."""
    from trainables.config import OptimConfig

    return int(config.get("epochs", OptimConfig().epochs))
