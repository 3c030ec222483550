"""Checkpoint folder: `adapter/` (PEFT save_pretrained), `head.safetensors`, `config.json`, `train_state.pt`.

No pickled objects: the adapter and head are safetensors, the config is JSON, and the train state holds only
tensors, numbers and lists, so `torch.load(..., weights_only=True)` reads it.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch
from peft import set_peft_model_state_dict
from peft.utils import load_peft_weights
from safetensors.torch import load_file, save_file

from trainables.config import TrainConfig
from trainables.model import VideoEmbedder, peft_backbone

ADAPTER, HEAD, CONFIG, STATE = "adapter", "head.safetensors", "config.json", "train_state.pt"


def save_checkpoint(directory: str | Path, model: VideoEmbedder, config: TrainConfig,
                    train_state: dict | None = None) -> Path:
    """Write a checkpoint folder (atomically: see write_atomically)."""
    return write_atomically(directory, functools.partial(write_checkpoint_files, model=model, config=config,
                                                         train_state=train_state))


def write_atomically(directory: str | Path, write: Callable[[Path], None]) -> Path:
    """Let write() fill a temporary folder next to directory, then rename it into place (never half-written)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(tmp, directory)
    return directory


def write_checkpoint_files(directory: Path, model: VideoEmbedder, config: TrainConfig,
                           train_state: dict | None) -> None:
    """The files themselves, into an existing folder (Ray's report copies that folder into storage)."""
    module = getattr(model, "module", model)
    peft_backbone(module).save_pretrained(str(directory / ADAPTER))
    save_file({k: v.detach().cpu().contiguous() for k, v in module.head.state_dict().items()},
              str(directory / HEAD))
    (directory / CONFIG).write_text(config.to_json())
    if train_state is not None:
        torch.save(train_state, directory / STATE)


def read_config(directory: str | Path) -> TrainConfig:
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise ValueError(f"{path}: missing; not a checkpoint folder written by trainables")
    return TrainConfig.from_dict(json.loads(path.read_text()))


def load_weights(directory: str | Path, model: VideoEmbedder) -> None:
    """Load the adapter and head saved in a checkpoint into a model built from the same config."""
    directory = Path(directory)
    module = getattr(model, "module", model)
    result = set_peft_model_state_dict(peft_backbone(module), load_peft_weights(str(directory / ADAPTER)))
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"{directory / ADAPTER}: adapter does not fit the model ({result.unexpected_keys[:3]})")
    module.head.load_state_dict(load_file(str(directory / HEAD)))


def load_train_state(directory: str | Path) -> dict | None:
    path = Path(directory) / STATE
    return torch.load(path, weights_only=True) if path.is_file() else None
