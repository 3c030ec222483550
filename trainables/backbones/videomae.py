"""VideoMAE (Tong et al. 2022; transformers' VideoMAEModel): tubelets of 2 frames, no CLS token, fixed sinusoidal
position table. The table is computed from the configuration, not learned, so any frame count that fills whole
tubelets and any size that fills whole patches fits: `fit` sets both to the trial's."""
from __future__ import annotations

import torch
from torch import nn
from transformers import VideoMAEConfig, VideoMAEModel

from trainables.backbones.family import ClipLayout, Family, fit_tubelet_grid
from data.clips import DecodeSettings


class VideoMAE(Family):
    name = "videomae"
    model_types = ("videomae",)
    hub_ids = ("MCG-NJU/videomae-base",)
    presets = {"videomae-tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=256, patch_size=16, tubelet_size=2)}
    config_class, model_class = VideoMAEConfig, VideoMAEModel
    layout = ClipLayout(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))  # VideoMAEImageProcessor's
    has_cls, sdpa = False, True
    layer_path = r"encoder\.layer"
    lora_groups = {
        "qkv": r"attention\.attention\.(?:query|key|value)",
        "attn_out": r"attention\.output\.dense",
        "mlp_in": r"intermediate\.dense",
        "mlp_out": r"output\.dense",
    }

    def fit(self, hf_config: VideoMAEConfig, decode: DecodeSettings, *, source: str) -> None:
        fit_tubelet_grid(self, hf_config, decode, source=source)

    def _hidden_states(self, model: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
        return model(pixel_values=pixels).last_hidden_state
