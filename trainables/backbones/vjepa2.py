"""V-JEPA 2 (Assran et al. 2025; transformers' VJEPA2Model): tubelets of 2 frames, 3-D rotary positions, no CLS
token. Only the encoder runs (skip_predictor). Rotary positions extrapolate, so `fit` sets the configuration's
frames_per_clip and crop_size to the trial's (whole tubelets and patches); the position grid is read from
crop_size, so leaving it at 256 for 224-px clips would misplace every token."""
from __future__ import annotations

import torch
from torch import nn
from transformers import VJEPA2Config, VJEPA2Model

from trainables.backbones.family import ClipLayout, Family, fit_tubelet_grid
from data.clips import DecodeSettings


class VJEPA2(Family):
    name = "vjepa2"
    model_types = ("vjepa2",)
    hub_ids = ("facebook/vjepa2-vitl-fpc64-256",)
    presets = {"vjepa2-tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=4.0,
                                   patch_size=16, tubelet_size=2, pred_hidden_size=32, pred_num_hidden_layers=1,
                                   pred_num_attention_heads=2)}
    config_class, model_class = VJEPA2Config, VJEPA2Model
    layout = ClipLayout(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))  # VJEPA2VideoProcessor's
    has_cls, sdpa = False, True
    frames_key, size_key = "frames_per_clip", "crop_size"
    layer_path = r"encoder\.layer"  # the predictor's layers ('predictor.layer.N') are not adapted
    lora_groups = {
        "qkv": r"attention\.(?:query|key|value)",
        "attn_out": r"attention\.proj",
        "mlp_in": r"mlp\.fc1",
        "mlp_out": r"mlp\.fc2",
    }

    def fit(self, hf_config: VJEPA2Config, decode: DecodeSettings, *, source: str) -> None:
        fit_tubelet_grid(self, hf_config, decode, source=source)

    def _hidden_states(self, model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        return model(pixel_values_videos=pixels, skip_predictor=True).last_hidden_state
