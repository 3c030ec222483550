"""What runs inside a trial: the LoRA backbone embedder (one module per family in `backbones/`), the hybrid
triplet + RSA loss, triplet sampling and the Ray Train loop. Never imports `study`: a trial reads only its prepared folder."""
from __future__ import annotations

import importlib

_EXPORTS = {
    "TrainConfig": "trainables.config", "config_help": "trainables.config",
    "train_loop_per_worker": "trainables.loop", "train": "trainables.loop",
    "load_prepared": "trainables.data", "load_trained": "trainables.embed", "embed_clips": "trainables.embed",
    "backbone_features": "trainables.embed", "hybrid_loss": "trainables.losses",
    "triplet_loss": "trainables.losses", "rsa_loss": "trainables.losses",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainables' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
