"""Embedding videos with a trained checkpoint, or with the bare backbone (the no-fine-tuning baseline)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainables.checkpoint import load_weights, read_config, read_preprocessing
from trainables.config import ModelConfig, TrainConfig
from trainables.backbones import family_of
from trainables.model import VideoEmbedder, build_model, load_backbone


def load_trained(checkpoint_dir: str | Path) -> tuple[VideoEmbedder, TrainConfig]:
    """The model a checkpoint folder describes, in eval mode on the CPU, and its resolved config."""
    config = read_config(checkpoint_dir)
    read_preprocessing(checkpoint_dir)  # refuses a checkpoint trained under another normalisation
    model = build_model(config.model)
    load_weights(checkpoint_dir, model)
    return model.eval(), config


@torch.no_grad()
def embed_clips(model: torch.nn.Module, clips: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """clips: uint8 (n, T, 3, H, W). Returns float32 (n, embed_dim) unit rows, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = [model(torch.from_numpy(np.array(clips[k:k + batch_size])).to(device)).cpu()
           for k in range(0, len(clips), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.head[0].out_features), np.float32)


@torch.no_grad()
def backbone_features(config: TrainConfig | ModelConfig, clips: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """The base backbone's pooled features (no adapters, no head; ModelConfig.pooling): float32 (n, hidden_size)."""
    model_config = config.model if isinstance(config, TrainConfig) else config
    family, backbone = family_of(model_config.backbone), load_backbone(model_config).eval()
    out = [family.features(backbone, torch.from_numpy(np.array(clips[k:k + batch_size])), model_config.pooling)
           for k in range(0, len(clips), batch_size)]
    return torch.cat(out).numpy()
