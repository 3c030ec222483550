"""TimeSformer backbone with LoRA adapters and the paper's projection head.

Backbones come from `TimesformerModel.from_pretrained` (hub id or local folder) or, where no weights can be
downloaded, from a named preset: a `TimesformerConfig` with random weights drawn from a fixed seed, so the same
preset name always rebuilds the same base weights (a checkpoint stores only the adapter and the head).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import TimesformerConfig, TimesformerModel

from common.errors import ConfigError, DataError
from trainables.config import ModelConfig

# TimeSformer-K400's input normalisation; every path into the backbone goes through normalise_clips.
PIXEL_MEAN, PIXEL_STD = 0.45, 0.225
PRESET_SEED = 0
PRESETS: dict[str, dict] = {
    # At 32 px it learns the synthetic benchmark with nuisance_strength 0.3 in ~20 s on one CPU thread
    # (docs/trainer.md); patch 16 there means 2x2 patches, and smaller patches did not help the frozen base.
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256, patch_size=16),
    "small": dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=3, intermediate_size=768,
                  patch_size=16),
    # TimeSformer-base's shape with random weights: for GPU throughput and memory measurements.
    "base-random": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                        patch_size=16),
}
# Module names inside one TimesformerLayer (transformers' modeling_timesformer); both the spatial and the
# temporal attention blocks are matched for qkv and the attention output.
_TARGET_PATTERNS = {
    "qkv": r"(?:temporal_)?attention\.attention\.qkv",
    "attn_out": r"(?:temporal_)?attention\.output\.dense",
    "mlp_in": r"intermediate\.dense",
    "mlp_out": r"output\.dense",
    "temporal_dense": r"temporal_dense",
}


def normalise_clips(clips: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, 3, H, W) -> float32 pixel_values, scaled to [0, 1] then standardised."""
    return (clips.float() / 255.0 - PIXEL_MEAN) / PIXEL_STD


def load_backbone(config: ModelConfig) -> TimesformerModel:
    """A preset with fixed random weights, or from_pretrained on a local folder or hub id."""
    if config.backbone in PRESETS:
        return _preset_backbone(config)
    path = Path(config.backbone).expanduser()
    looks_local = is_local_backbone(config.backbone)
    if looks_local and not (path / "config.json").is_file():
        raise ConfigError(f"backbone {config.backbone!r}: no folder with config.json there. " + _HOW_TO_POINT)
    try:
        return TimesformerModel.from_pretrained(str(path) if looks_local else config.backbone)
    except (OSError, ValueError) as err:
        tried = "the local folder" if looks_local else "the Hugging Face hub"
        raise ConfigError(f"backbone {config.backbone!r}: loading from {tried} failed ({err}). "
                         + _HOW_TO_POINT) from None


def is_local_backbone(backbone: str) -> bool:
    """The one rule for "this backbone names a local folder" (else a hub id): it exists, starts like a path,
    or has more slashes than `org/name`."""
    return (Path(backbone).expanduser().exists() or backbone.startswith((".", "/", "~"))
            or backbone.count("/") > 1)


_HOW_TO_POINT = ("Set backbone to a local copy saved with TimesformerModel.from_pretrained(hub_id)"
                 ".save_pretrained(DIR) on a machine with internet, or to a preset: " + ", ".join(PRESETS) + ".")


def _preset_backbone(config: ModelConfig) -> TimesformerModel:
    shape = TimesformerConfig(num_frames=config.num_frames, image_size=config.image_size,
                              **PRESETS[config.backbone])
    with torch.random.fork_rng(devices=[]):  # fixed base weights without disturbing the caller's RNG
        torch.manual_seed(PRESET_SEED)
        return TimesformerModel(shape)


def lora_config(config: ModelConfig) -> LoraConfig:
    """PEFT LoRA over the chosen groups of each encoder layer's linear layers."""
    groups = "|".join(_TARGET_PATTERNS[g] for g in config.target_groups())
    return LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=rf".*encoder\.layer\.\d+\.(?:{groups})", bias="none")


class VideoEmbedder(nn.Module):
    """Clips -> L2-normalised embeddings: backbone CLS -> Linear -> LayerNorm -> ReLU -> Dropout -> unit norm."""

    def __init__(self, backbone: nn.Module, config: ModelConfig, hidden_size: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(nn.Linear(hidden_size, config.embed_dim), nn.LayerNorm(config.embed_dim),
                                  nn.ReLU(), nn.Dropout(config.head_dropout))
        self.bf16 = False  # set by use_device once the device is known
        self.clip_shape = (config.num_frames, 3, config.image_size, config.image_size)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """clips: uint8 (B, T, 3, H, W). Returns float32 (B, embed_dim) with unit rows.

        Anything else is refused: float pixels (already scaled or normalised) or another frame count or size
        would silently reach the backbone unlike in training (the authors' evaluation did both: defect 2).
        """
        if clips.dtype != torch.uint8 or tuple(clips.shape[1:]) != self.clip_shape:
            raise DataError(f"clips must be uint8 (B, {', '.join(map(str, self.clip_shape))}) as the model was "
                             f"trained on; got {clips.dtype} {tuple(clips.shape)}")
        with torch.autocast(clips.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            cls = self.backbone(pixel_values=normalise_clips(clips)).last_hidden_state[:, 0]
            out = self.head(cls)
        return F.normalize(out.float(), dim=1)


def build_model(config: ModelConfig) -> VideoEmbedder:
    """Backbone with LoRA adapters (frozen base) and a fresh head; only adapters and head train."""
    backbone = load_backbone(config)
    adapted = get_peft_model(backbone, lora_config(config))
    if config.gradient_checkpointing:
        _enable_checkpointing(backbone)
    return VideoEmbedder(adapted, config, backbone.config.hidden_size)


def _enable_checkpointing(backbone: TimesformerModel) -> None:
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
