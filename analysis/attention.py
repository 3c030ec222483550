"""Attention maps of a backbone over its clips: the attention weights of every layer are read with forward hooks
while the family embeds the clips, then rolled out (analysis.rollout) and spread over the pixels.

The maps always come from the eager attention path (`attention_backbone` builds the trial's model with
attention="eager"), whatever the trial trained with; tests/test_attention.py checks that it embeds as the fused
one does. Which rollout a backbone gets follows its architecture, not its name: an image model (no frame count)
is rolled out frame by frame, a divided space-time TimeSformer layer by layer through `divided_mixing`, a joint
space-time model (tubelets) over all its tokens at once."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from transformers.models.clip.modeling_clip import CLIPAttention
from transformers.models.timesformer.modeling_timesformer import TimesformerSelfAttention
from transformers.models.videomae.modeling_videomae import VideoMAESelfAttention
from transformers.models.vjepa2.modeling_vjepa2 import VJEPA2RopeAttention

from analysis.rollout import divided_mixing, pixel_map, pooled_attribution, rollout
from data.clips import DecodeSettings
from trainables.backbones import family_of
from trainables.checkpoint import load_weights
from trainables.config import ModelConfig, TrainConfig
from trainables.model import load_backbone
from trainables.model import build_variant_model

_RETURNS_WEIGHTS = (VideoMAESelfAttention, VJEPA2RopeAttention, CLIPAttention)  # (context, weights) when eager


def attention_backbone(config: TrainConfig, decode: DecodeSettings, checkpoint: str | Path | None = None
                       ) -> torch.nn.Module:
    """The backbone a trial scores with, on the eager attention path, for clips decoded as `decode` (the trial's:
    its model's `.decode`): the base (checkpoint None) or the trial's adapted backbone from its checkpoint, in
    eval mode."""
    eager = replace(config, model=replace(config.model, attention="eager"))
    if checkpoint is None:
        return load_backbone(eager.model, decode).eval()
    model = build_variant_model(eager, decode)
    load_weights(checkpoint, model)
    return model.backbone.eval()


@torch.no_grad()
def attention_maps(backbone: torch.nn.Module, config: ModelConfig, clips: np.ndarray, batch_size: int = 2
                   ) -> np.ndarray:
    """clips: uint8 (n, T, 3, H, W) -> float64 (n, T, H, W): each clip's rollout of the pooled vector
    (config.pooling) spread over its pixels; each map sums to 1."""
    family = family_of(config.backbone)
    hf = _hf_config(backbone)
    maps = []
    for k in range(0, len(clips), batch_size):
        batch = torch.from_numpy(np.array(clips[k:k + batch_size]))
        captured = capture_attention(backbone, lambda: family.features(backbone, batch, config.pooling))
        maps += _maps(captured, hf, family, config, batch.shape[1], batch.shape[-1])
    return np.stack(maps)


def _hf_config(backbone: torch.nn.Module):
    inner = backbone.get_base_model() if hasattr(backbone, "get_base_model") else backbone
    return inner.config


def capture_attention(backbone: torch.nn.Module, run) -> list[tuple[str, np.ndarray]]:
    """Run `run()` with a hook on every attention module; returns (module name, heads-averaged weights
    (batch, N, N)) in call order."""
    captured, handles = [], []
    for name, module in backbone.named_modules():
        if isinstance(module, TimesformerSelfAttention):
            handles.append(module.register_forward_hook(_timesformer_hook(name, captured)))
        elif isinstance(module, _RETURNS_WEIGHTS):
            handles.append(module.register_forward_hook(_weights_hook(name, captured)))
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    if not captured:
        raise ValueError("no attention module of a known kind in this backbone")
    return captured


def _weights_hook(name: str, captured: list):
    def hook(module, args, output):
        if not isinstance(output, tuple) or output[1] is None:
            raise ValueError(f"{name}: no attention weights returned (is the eager attention path in use?)")
        captured.append((name, output[1].detach().float().mean(dim=1).numpy()))
    return hook


def _timesformer_hook(name: str, captured: list):
    """TimeSformer's temporal attention never returns its weights: recompute softmax(q k^T scale) from the
    module's input and its (LoRA-adapted) qkv layer, exactly as the eager module does."""
    def hook(module, args, output):
        hidden = args[0]
        batch, tokens, channels = hidden.shape
        qkv = module.qkv(hidden).reshape(batch, tokens, 3, module.num_heads, channels // module.num_heads)
        query, key, _ = qkv.permute(2, 0, 3, 1, 4)
        probs = ((query @ key.transpose(-2, -1)) * module.scale).softmax(dim=-1)
        captured.append((name, probs.detach().float().mean(dim=1).numpy()))
    return hook


def _maps(captured, hf, family, config: ModelConfig, frames: int, size: int) -> list[np.ndarray]:
    patch, grid = hf.patch_size, size // hf.patch_size
    if family.frames_key is None:  # an image model: one rollout per frame, the clip is their mean
        r = rollout([w for _, w in captured])  # (batch * frames, N, N)
        per_frame = np.stack([pooled_attribution(x, config.pooling, family.has_cls) for x in r])
        tokens = per_frame.reshape(-1, frames, grid, grid) / frames
        return [pixel_map(t, 1, patch) for t in tokens]
    if getattr(hf, "attention_type", None) == "divided_space_time":
        return _divided_maps(captured, family, config, frames, grid, patch)
    tubelet = int(getattr(hf, "tubelet_size", 1))
    r = rollout([w for _, w in captured])  # (batch, N, N), tokens tubelet-major
    return [pixel_map(pooled_attribution(x, config.pooling, family.has_cls).reshape(-1, grid, grid), tubelet, patch)
            for x in r]


def _divided_maps(captured, family, config: ModelConfig, frames: int, grid: int, patch: int) -> list[np.ndarray]:
    temporal = [w for name, w in captured if "temporal_attention" in name]
    spatial = [w for name, w in captured if "temporal_attention" not in name]
    patches = grid * grid
    out = []
    for b in range(len(spatial[0]) // frames):
        layers = [divided_mixing(s[b * frames:(b + 1) * frames], t[b * patches:(b + 1) * patches])
                  for s, t in zip(spatial, temporal)]
        mass = pooled_attribution(rollout(layers, residual=0.0), config.pooling, family.has_cls)
        # tokens are patch-major, frame-minor (1 + p T + t): to (T, grid, grid)
        out.append(pixel_map(mass.reshape(patches, frames).T.reshape(frames, grid, grid), 1, patch))
    return out
