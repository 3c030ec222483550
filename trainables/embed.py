"""Embedding videos with a trained checkpoint, or with the bare backbone (the no-fine-tuning baseline)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from data.clips import DecodeSettings
from trainables.checkpoint import load_weights, read_config, read_decode
from trainables.config import ModelConfig, TrainConfig
from trainables.augment import View, apply_view, eval_view_set
from trainables.backbones import family_of
from trainables.model import VideoEmbedder, build_variant_model, load_backbone


def load_trained(checkpoint_dir: str | Path) -> tuple[VideoEmbedder, TrainConfig]:
    """The model a checkpoint folder describes (built for the clips it trained on: its preprocessing record), in
    eval mode on the CPU, and its resolved config."""
    config = read_config(checkpoint_dir)
    family = family_of(config.model.backbone)
    decode = read_decode(checkpoint_dir, family)  # refuses a checkpoint trained under another normalisation
    model = build_variant_model(config, decode, family)
    load_weights(checkpoint_dir, model)
    return model.eval(), config


@torch.no_grad()
def embed_clips(model: torch.nn.Module, clips: np.ndarray, batch_size: int = 8,
                views: list[View] | None = None) -> np.ndarray:
    """clips: uint8 (n, T, 3, H, W). Returns float32 (n, embed_dim) unit rows, in eval mode: each the mean of the
    clip's unit embeddings over `views` (default: the model's eval_views, trainables.model.build_variant_model),
    renormalised."""
    inner = getattr(model, "module", model)
    if len(clips) == 0:
        head = inner.head[0] if isinstance(inner.head, torch.nn.Sequential) else inner.head
        return np.zeros((0, head.out_features), np.float32)
    views = views if views is not None else getattr(inner, "eval_views", [()])
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0
    for view in views:
        total = total + torch.cat([model(_viewed(clips[k:k + batch_size], view).to(device)).cpu()
                                   for k in range(0, len(clips), batch_size)])
    model.train(was_training)
    return torch.nn.functional.normalize(total, dim=1).numpy()


def _viewed(clips: np.ndarray, view: View) -> torch.Tensor:
    batch = torch.from_numpy(np.array(clips))
    return torch.stack([apply_view(clip, view) for clip in batch]) if view else batch


@torch.no_grad()
def backbone_features(config: TrainConfig | ModelConfig, clips: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """The base backbone's pooled features (no adapters, no head; ModelConfig.pooling, through its family):
    float32 (n, hidden_size); for a TrainConfig, the mean over its eval_views, as the trained model is evaluated.
    The backbone is fitted to the clips' own frames and size."""
    model_config = config.model if isinstance(config, TrainConfig) else config
    views = eval_view_set(config.augment.eval_views) if isinstance(config, TrainConfig) else [()]
    family = family_of(model_config.backbone)
    shape = DecodeSettings(num_frames=clips.shape[1], image_size=clips.shape[-1])  # how they were picked is moot
    backbone = load_backbone(model_config, shape, family).eval()
    total = 0
    for view in views:
        total = total + torch.cat([family.features(backbone, _viewed(clips[k:k + batch_size], view),
                                                   model_config.pooling) for k in range(0, len(clips), batch_size)])
    return (total / len(views)).numpy()
