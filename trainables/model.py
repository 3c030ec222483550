"""A backbone with LoRA adapters and the paper's projection head.

The backbone comes from its family (trainables/backbones/: a preset with fixed random weights, a hub id or a local
save_pretrained folder); this module names no family. A checkpoint stores only the adapter and the head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from common.errors import ConfigError, DataError
from data.clips import DecodeSettings
from trainables.backbones import HOW_TO_POINT, Family, family_of
from trainables.augment import eval_view_set
from trainables.config import ModelConfig, TrainConfig
from trainables.objectives import objective_of

_DEFAULT = family_of(ModelConfig().backbone)
# The default family's normalisation, for code that normalises without a model (study/pretrain.py).
PIXEL_MEAN, PIXEL_STD = _DEFAULT.layout.mean[0], _DEFAULT.layout.std[0]


def normalise_clips(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, 3, H, W) -> float32 pixel_values in the default family's normalisation."""
    return _DEFAULT.layout.normalise(clips)


def load_backbone(config: ModelConfig, decode: DecodeSettings, family: Family | None = None) -> nn.Module:
    """The trial's backbone from its family (resolved here when not given): preset, hub id or local folder,
    fitted to the clips it will see (the prepared folder's: data.prepared)."""
    family = family or family_of(config.backbone)
    try:
        return family.build(config, decode)
    except (OSError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"backbone {config.backbone!r}: loading it as a {family.name} failed ({err}). "
                          + HOW_TO_POINT) from None


def lora_config(config: ModelConfig, family: Family) -> LoraConfig:
    """PEFT LoRA over the chosen groups of each encoder layer's linear layers (the family names them)."""
    target = family.lora_target_regex(config.target_groups())
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=target, bias="none")


class VideoEmbedder(nn.Module):
    """Clips -> L2-normalised embeddings: the family's pooled vector (ModelConfig.pooling) -> Linear -> LayerNorm
    -> ReLU -> Dropout -> unit norm."""

    def __init__(self, backbone: nn.Module, config: ModelConfig, hidden_size: int, family: Family,
                 decode: DecodeSettings):
        super().__init__()
        self.backbone = backbone
        self.family, self.pooling = family, config.pooling
        self.head = nn.Sequential(nn.Linear(hidden_size, config.embed_dim), nn.LayerNorm(config.embed_dim),
                                  nn.ReLU(), nn.Dropout(config.head_dropout))
        self.bf16 = False  # set by use_device once the device is known
        self.decode = decode  # what it is built for: the prepared folder's settings (the checkpoint records them)
        self.clip_shape = (decode.num_frames, 3, decode.image_size, decode.image_size)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips: uint8 (B, T, 3, H, W). Returns float32 (B, embed_dim) with unit rows.

        Anything else is refused: float pixels (already scaled or normalised) or another frame count or size
        would silently reach the backbone unlike in training (the authors' evaluation did both: defect 2).
        """
        if clips.dtype != torch.uint8 or tuple(clips.shape[1:]) != self.clip_shape:
            raise DataError(f"clips must be uint8 (B, {', '.join(map(str, self.clip_shape))}) as the model was "
                             f"trained on; got {clips.dtype} {tuple(clips.shape)}")
        with torch.autocast(clips.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = self.head(self.family.features(self.backbone, clips, self.pooling))
        return F.normalize(out.float(), dim=1)


def build_model(config: ModelConfig, decode: DecodeSettings, family: Family | None = None) -> VideoEmbedder:
    """Backbone with LoRA adapters (frozen base) and a fresh head, for clips decoded as `decode`; only adapters and
    head train. The family is resolved once (here when not given) and the model carries it (`.family`)."""
    family = family or family_of(config.backbone)
    backbone = load_backbone(config, decode, family)
    adapted = get_peft_model(backbone, lora_config(config, family))
    if config.gradient_checkpointing:
        _enable_checkpointing(backbone)
    return VideoEmbedder(adapted, config, family.hidden_size(backbone), family, decode)


def build_variant_model(config: TrainConfig, decode: DecodeSettings, family: Family | None = None) -> VideoEmbedder:
    """The model the trial's objective trains (LoRA adapters and a projection head, or the objective's own:
    trainables.objectives), carrying its eval_views (what embed_clips averages over)."""
    model = build_model(config.model, decode, family)
    model.eval_views = eval_view_set(config.augment.eval_views)
    return objective_of(config).prepare_model(model)


class IdentityLinear(nn.Linear):
    """A square linear map initialised at the identity (the linear probe's head: no bias drift at the start)."""

    def __init__(self, size: int):
        super().__init__(size, size)
        with torch.no_grad():
            self.weight.copy_(torch.eye(size))
            self.bias.zero_()

    def distance_from_identity(self) -> torch.Tensor:
        return ((self.weight - torch.eye(len(self.weight), device=self.weight.device)) ** 2).sum()


def _enable_checkpointing(backbone: nn.Module) -> None:
    # Enabled after PEFT wraps the model: PEFT would otherwise hook the patch embedding to make inputs require
    # grad, which TimeSformer's tuple-returning patch embedding breaks. Non-reentrant checkpointing needs no
    # such hook to reach the adapters. transformers 5 renamed the method; keep working on 4.x.
    enable = getattr(backbone, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def use_device(model: VideoEmbedder, config: ModelConfig, device: torch.device) -> VideoEmbedder:
    """Move to device and pick the precision: bf16 autocast on CUDA where supported ('auto'), else float32."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 matmuls left outside autocast run on tensor cores
        torch.backends.cudnn.allow_tf32 = True
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    model.bf16 = config.precision == "bf16" or (config.precision == "auto" and cuda_bf16)
    return model.to(device)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def peft_backbone(model: nn.Module) -> PeftModel:
    """The PeftModel inside a VideoEmbedder, unwrapping DDP if needed."""
    return getattr(model, "module", model).backbone
