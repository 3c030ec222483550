"""TimeSformer (Bertasius et al. 2021; transformers' TimesformerModel): divided space-time attention, a CLS token.

transformers computes its attention eagerly (q @ k^T, softmax); `attention="sdpa"` swaps each self-attention for
`FusedSelfAttention` (same weights, same module names: LoRA targets are unchanged). Its layers split the tokens into
frames by `config.num_frames`, so a clip count other than the configuration's would mis-group the attention without
a word: `adapt` sets num_frames to the clips' and resizes the learned time embeddings to match.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import TimesformerConfig, TimesformerModel
from transformers.models.timesformer.modeling_timesformer import TimesformerSelfAttention

from trainables.backbones.family import ClipLayout, Family
from data.clips import DecodeSettings
from trainables.config import ModelConfig


class FusedSelfAttention(TimesformerSelfAttention):
    """TimesformerSelfAttention computed by torch.nn.functional.scaled_dot_product_attention (equal to the eager
    path within fp32 rounding: tests/test_backbones.py); the eager path still serves output_attentions."""

    def forward(self, hidden_states, output_attentions: bool = False):
        if output_attentions:
            return super().forward(hidden_states, output_attentions)
        batch, tokens, channels = hidden_states.shape
        qkv = self.qkv(hidden_states).reshape(batch, tokens, 3, self.num_heads, channels // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)
        context = F.scaled_dot_product_attention(query, key, value, scale=self.scale,
                                                 dropout_p=self.attn_drop.p if self.training else 0.0)
        return (context.transpose(1, 2).reshape(batch, tokens, channels),)


class TimeSformer(Family):
    name = "timesformer"
    model_types = ("timesformer",)
    hub_ids = ("facebook/timesformer-base-finetuned-k400",)
    presets = {
        # At 32 px it learns the synthetic benchmark with nuisance_strength 0.3 in ~20 s on one CPU thread
        # (docs/trainer.md); patch 16 there means 2x2 patches, and smaller patches did not help the frozen base.
        "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256,
                     patch_size=16),
        "small": dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=3, intermediate_size=768,
                      patch_size=16),
        # TimeSformer-base's shape with random weights: for throughput and memory measurements.
        "base-random": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                            patch_size=16),
    }
    config_class, model_class = TimesformerConfig, TimesformerModel
    layout = ClipLayout(mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225))  # TimeSformer-K400's
    has_cls, sdpa = True, False  # transformers has no SDPA path for it: FusedSelfAttention is ours
    layer_path = r"encoder\.layer"
    # Both the spatial and the temporal attention blocks are matched for qkv and the attention output.
    lora_groups = {
        "qkv": r"(?:temporal_)?attention\.attention\.qkv",
        "attn_out": r"(?:temporal_)?attention\.output\.dense",
        "mlp_in": r"intermediate\.dense",
        "mlp_out": r"output\.dense",
        "temporal_dense": r"temporal_dense",
    }

    def adapt(self, model: TimesformerModel, config: ModelConfig, decode: DecodeSettings) -> TimesformerModel:
        set_num_frames(model, decode.num_frames)
        if config.attention == "sdpa":
            for module in model.modules():
                if type(module) is TimesformerSelfAttention:
                    module.__class__ = FusedSelfAttention
        return model

    def _hidden_states(self, model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        return model(pixel_values=pixels).last_hidden_state


def set_num_frames(model: TimesformerModel, num_frames: int) -> None:
    """Make the model's layers group tokens into `num_frames` frames and resize its time embeddings (linear
    interpolation over time) to as many; nothing changes when the configuration already says num_frames."""
    if model.config.num_frames == num_frames:
        return
    embeddings = model.embeddings
    if hasattr(embeddings, "time_embeddings"):  # absent for attention_type 'space_only'
        old = embeddings.time_embeddings.data.transpose(1, 2)  # (1, hidden, frames)
        new = F.interpolate(old, size=num_frames, mode="linear", align_corners=True).transpose(1, 2)
        embeddings.time_embeddings = nn.Parameter(new.contiguous(),
                                                  requires_grad=embeddings.time_embeddings.requires_grad)
    model.config.num_frames = num_frames  # the one config object every TimesformerLayer reads
