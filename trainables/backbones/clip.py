"""CLIP's image encoder (Radford et al. 2021; transformers' CLIPVisionModel), the v2 paper's image baseline: each
frame is embedded on its own and the clip's vector is the mean over its frames. Any frame count fits; a frame size
other than the configuration's interpolates the learned position embeddings (interpolate_pos_encoding)."""
from __future__ import annotations

import torch
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel

from trainables.backbones.family import ClipLayout, Family


class CLIP(Family):
    name = "clip"
    model_types = ("clip", "clip_vision_model")  # a whole CLIP checkpoint or its vision tower alone
    hub_ids = ("openai/clip-vit-base-patch32",)
    presets = {"clip-tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 intermediate_size=256, patch_size=16)}
    config_class, model_class = CLIPVisionConfig, CLIPVisionModel
    layout = ClipLayout(mean=(0.48145466, 0.4578275, 0.40821073),  # CLIPImageProcessor's
                        std=(0.26862954, 0.26130258, 0.27577711))
    has_cls, sdpa = True, True
    frames_key = None  # frames are embedded one by one
    layer_path = r"encoder\.layers"
    lora_groups = {
        "qkv": r"self_attn\.(?:q_proj|k_proj|v_proj)",
        "attn_out": r"self_attn\.out_proj",
        "mlp_in": r"mlp\.fc1",
        "mlp_out": r"mlp\.fc2",
    }

    def features(self, model: nn.Module, clips: torch.Tensor, pooling: str) -> torch.Tensor:
        """Each frame through the image encoder; 'cls' is CLIP's pooled (post-layernorm) CLS, 'mean' the mean of
        the patch tokens; then the mean over frames."""
        batch, frames = clips.shape[:2]
        pixels = self.layout.normalise(clips.flatten(0, 1))
        out = model(pixel_values=pixels, interpolate_pos_encoding=pixels.shape[-1] != model.config.image_size)
        per_frame = out.pooler_output if pooling == "cls" else out.last_hidden_state[:, 1:].mean(1)
        return per_frame.view(batch, frames, -1).mean(1)
