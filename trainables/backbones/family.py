"""What a backbone family declares: how to build or load it, the clip layout it wants, how its output becomes
one vector, and which linear layers LoRA adapts. One subclass per family (trainables/backbones/<family>.py).

A family builds from one of three sources: a preset (a shape with random weights drawn from a fixed seed, so the
same preset name always rebuilds the same base: a checkpoint stores only the adapter and the head), a hub id, or a
local save_pretrained folder; the last two go through the family's `model_class.from_pretrained`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from common.errors import ConfigError
from data.clips import DecodeSettings
from trainables.backbone_source import backbone_source
from trainables.config import ModelConfig

PRESET_SEED = 0


@dataclass(frozen=True)
class ClipLayout:
    """The pixels a family's backbone expects: channel order and per-channel mean and std of [0, 1] pixels.
    Frames and size are the prepared clips' (DecodeSettings.num_frames, image_size), fitted by Family.fit."""
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    channels: str = "RGB"

    def normalise(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 (..., 3, H, W) -> float32, scaled to [0, 1] then standardised per channel."""
        pixels = clips.float() / 255.0
        if len(set(self.mean)) == 1 and len(set(self.std)) == 1:  # one scalar: the same float ops as before
            return (pixels - self.mean[0]) / self.std[0]
        shape = (3, 1, 1)
        mean = torch.tensor(self.mean, device=clips.device).view(shape)
        std = torch.tensor(self.std, device=clips.device).view(shape)
        return (pixels - mean) / std


class Family:
    """One backbone family. Subclasses set the class attributes and implement `_hidden_states`."""

    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]  # config.json's model_type values this family loads
    hub_ids: ClassVar[tuple[str, ...]]  # documented checkpoints, the first the comparison's (they need internet)
    presets: ClassVar[dict[str, dict]]  # preset name -> config keyword arguments (random weights), the tiny first
    config_class: ClassVar[type[PretrainedConfig]]
    model_class: ClassVar[type[PreTrainedModel]]
    layout: ClassVar[ClipLayout]
    has_cls: ClassVar[bool]  # a CLS token first in the last layer; else 'cls' pooling means the natural one
    sdpa: ClassVar[bool]  # transformers' own SDPA path (attn_implementation="sdpa")
    layer_path: ClassVar[str]  # regex of the encoder layers' module path, e.g. r"encoder\.layer"
    lora_groups: ClassVar[dict[str, str]]  # LoRA target group -> regex of module names inside one layer
    frames_key: ClassVar[str | None] = "num_frames"  # the configuration's frame count (None: an image model)
    size_key: ClassVar[str] = "image_size"  # the configuration's frame side

    @property
    def tiny_preset(self) -> str:
        """The family's tiny random preset (its first): what the tests and `--space backbones --smoke` run."""
        return next(iter(self.presets))

    # ------------------------------------------------------------ building

    def build(self, config: ModelConfig, decode: DecodeSettings) -> nn.Module:
        """The backbone for this trial: preset or from_pretrained, fitted to the clips' frames and size."""
        attention = "sdpa" if self.sdpa and config.attention == "sdpa" else "eager"
        if config.backbone in self.presets:
            hf_config = self.preset_config(config, decode)
            hf_config._attn_implementation = attention
            with torch.random.fork_rng(devices=[]):  # fixed base weights without disturbing the caller's RNG
                torch.manual_seed(PRESET_SEED)
                model = self.model_class(hf_config)
        else:
            source = backbone_source(config.backbone)
            hf_config = self.config_class.from_pretrained(source)
            self.fit(hf_config, decode, source=config.backbone)
            model = self.model_class.from_pretrained(source, config=hf_config,
                                                     attn_implementation=attention)
        return self.adapt(model, config, decode)

    def preset_config(self, config: ModelConfig, decode: DecodeSettings) -> PretrainedConfig:
        """The preset's configuration at the clips' frames and size."""
        shape = {self.size_key: decode.image_size}
        if self.frames_key:
            shape[self.frames_key] = decode.num_frames
        return self.config_class(**shape, **self.presets[config.backbone])

    def fit(self, hf_config: PretrainedConfig, decode: DecodeSettings, *, source: str) -> None:
        """Set hf_config to the clips' frames and size where the architecture allows it, else ConfigError.
        Called before weights load (also by the sweep's preflight, on config.json alone: check_fits)."""

    def adapt(self, model: nn.Module, config: ModelConfig, decode: DecodeSettings) -> nn.Module:
        """Changes made after the weights are loaded (e.g. resized time embeddings, fused attention)."""
        return model

    # ------------------------------------------------------------ running

    def features(self, model: nn.Module, clips: torch.Tensor, pooling: str) -> torch.Tensor:
        """uint8 clips (B, T, 3, H, W) -> one vector per clip (B, hidden_size)."""
        return self._pool(self._hidden_states(model, self.layout.normalise(clips)), pooling)

    def _hidden_states(self, model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels (B, T, 3, H, W) -> the last layer's tokens (B, tokens, hidden)."""
        raise NotImplementedError

    def _pool(self, tokens: torch.Tensor, pooling: str) -> torch.Tensor:
        if self.has_cls:
            return tokens[:, 0] if pooling == "cls" else tokens[:, 1:].mean(1)
        return tokens.mean(1)  # no CLS token: the mean of the tokens is the family's natural pooling

    def hidden_size(self, model: nn.Module) -> int:
        return int(model.config.hidden_size)

    def lora_target_regex(self, groups: tuple[str, ...]) -> str:
        """PEFT target_modules (a full-match regex) for the chosen groups this family has."""
        patterns = [self.lora_groups[g] for g in groups if g in self.lora_groups]
        if not patterns:
            raise ConfigError(f"lora_targets {','.join(groups)!r}: none of these groups exists in a {self.name} "
                              f"backbone (it has {', '.join(self.lora_groups)})")
        return rf".*{self.layer_path}\.\d+\.(?:{'|'.join(patterns)})"

    def describe_layout(self, config: ModelConfig) -> dict:
        """The preprocessing record a checkpoint carries (trainables.checkpoint)."""
        return {"family": self.name, "channels": self.layout.channels, "pixel_mean": list(self.layout.mean),
                "pixel_std": list(self.layout.std)}


def fit_tubelet_grid(family: Family, hf_config: PretrainedConfig, decode: DecodeSettings, *, source: str) -> None:
    """For a tubelet family with computed (not learned) positions: the clips' frames must fill whole tubelets
    and its size whole patches (else ConfigError naming the setting and value); then hf_config takes both."""
    for setting, step, unit in (("num_frames", hf_config.tubelet_size, "tubelets of frames"),
                                ("image_size", hf_config.patch_size, "patches")):
        value = getattr(decode, setting)
        if value % step:
            raise ConfigError(f"{setting} {value} does not fit backbone {source!r}: {family.name} embeds whole {unit} "
                              f"(a multiple of {step})")
    setattr(hf_config, family.frames_key, decode.num_frames)
    setattr(hf_config, family.size_key, decode.image_size)
