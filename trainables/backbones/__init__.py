"""Backbone families: one module each, one registry here. Adding a family is one file (a `Family` subclass) and
one line in `_FAMILIES`; nothing else in the project names a family.

`family_of(backbone)` finds the family of a preset name, a documented hub id, or a local / cached folder (by its
config.json's model_type, as transformers' Auto classes do)."""
from __future__ import annotations

from common.errors import ConfigError
from data.clips import DecodeSettings
from trainables.backbone_source import FOLDER_HINT, backbone_source, check_folder, is_local_backbone
from trainables.backbones.clip import CLIP
from trainables.backbones.family import ClipLayout, Family
from trainables.backbones.timesformer import TimeSformer
from trainables.backbones.videomae import VideoMAE
from trainables.backbones.vjepa2 import VJEPA2
from trainables.config import ModelConfig

_FAMILIES: dict[str, Family] = {f.name: f for f in (TimeSformer(), VideoMAE(), VJEPA2(), CLIP())}


def families() -> dict[str, Family]:
    """Family name -> family, in registry order."""
    return dict(_FAMILIES)


def presets() -> dict[str, str]:
    """Preset name -> family name, over every family."""
    return {preset: f.name for f in _FAMILIES.values() for preset in f.presets}


def family_of(backbone: str) -> Family:
    """The family that builds `backbone`: a preset, a documented hub id, else the model_type in its config.json
    (a local folder, or a hub id in the local cache or on a reachable hub). ConfigError when none fits."""
    for family in _FAMILIES.values():
        if backbone in family.presets or backbone in family.hub_ids:
            return family
    model_type = _model_type(backbone)
    for family in _FAMILIES.values():
        if model_type in family.model_types:
            return family
    known = ", ".join(t for f in _FAMILIES.values() for t in f.model_types)
    raise ConfigError(f"backbone {backbone!r}: model_type {model_type!r} is no known family's ({known})")


def _model_type(backbone: str) -> str | None:
    from transformers import PretrainedConfig

    if is_local_backbone(backbone):
        check_folder(backbone, hint=HOW_TO_POINT)
    try:
        return PretrainedConfig.get_config_dict(backbone_source(backbone))[0].get("model_type")
    except (OSError, ValueError) as err:
        tried = "the local folder" if is_local_backbone(backbone) else "the Hugging Face hub"
        raise ConfigError(f"backbone {backbone!r}: reading its config.json from {tried} failed ({err}). "
                          + HOW_TO_POINT) from None


HOW_TO_POINT = FOLDER_HINT + ": " + ", ".join(presets()) + "."


def check_fits(backbone: str, decode: DecodeSettings) -> None:
    """The one check where clip settings meet a backbone: ConfigError (one line naming the setting, its value and
    the backbone) when the backbone's configuration cannot take these clips' frames and size. Reads config.json
    only, loads no weights; building the backbone applies the same rule (Family.fit). Presets are built to fit."""
    family = family_of(backbone)
    if backbone in family.presets:
        return
    hf_config = family.config_class.from_pretrained(backbone_source(backbone))
    family.fit(hf_config, decode, source=backbone)


__all__ = ["ClipLayout", "Family", "families", "presets", "family_of", "is_local_backbone", "check_fits",
           "backbone_source", "HOW_TO_POINT"]
