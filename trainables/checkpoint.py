"""Checkpoint folder: `adapter/` (PEFT save_pretrained), `head.safetensors`, `config.json`, `preprocessing.json`
(the clip settings, pixel normalisation and pooling the model expects), `train_state.pt`.

No pickled objects: the adapter and head are safetensors, the config is JSON, and the train state holds only
tensors, numbers and lists, so `torch.load(..., weights_only=True)` reads it.
"""
from __future__ import annotations

import functools
import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from peft import set_peft_model_state_dict
from peft.utils import SAFETENSORS_WEIGHTS_NAME, load_peft_weights
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from common.atomic import atomic_folder
from common.errors import DataError
from data.clips import DECODE_KEYS, DecodeSettings
from trainables.config import TrainConfig
from trainables.backbones import Family, family_of
from trainables.model import VideoEmbedder, peft_backbone

ADAPTER, HEAD, CONFIG, STATE = "adapter", "head.safetensors", "config.json", "train_state.pt"
PREPROCESSING = "preprocessing.json"


def save_checkpoint(directory: str | Path, model: VideoEmbedder, config: TrainConfig,
                    train_state: dict | None = None) -> Path:
    """Write a checkpoint folder (atomically: see write_atomically)."""
    return write_atomically(directory, functools.partial(write_checkpoint_files, model=model, config=config,
                                                         train_state=train_state))


def write_atomically(directory: str | Path, write: Callable[[Path], None]) -> Path:
    """Let write() fill a temporary folder next to directory, then rename it into place (never half-written;
    an older folder there is replaced)."""
    with atomic_folder(directory, existing="replace") as tmp:
        write(tmp)
    return Path(directory)


def write_checkpoint_files(directory: Path, model: VideoEmbedder, config: TrainConfig,
                           train_state: dict | None) -> None:
    """The files themselves, into an existing folder (Ray's report copies that folder into storage)."""
    module = getattr(model, "module", model)
    peft_backbone(module).save_pretrained(str(directory / ADAPTER))
    save_file({k: v.detach().cpu().contiguous() for k, v in module.head.state_dict().items()},
              str(directory / HEAD))
    (directory / CONFIG).write_text(config.to_json())
    (directory / PREPROCESSING).write_text(json.dumps(preprocessing(config, module.decode, module.family),
                                                      sort_keys=True, indent=2))
    if train_state is not None:
        torch.save(train_state, directory / STATE)


def preprocessing(config: TrainConfig, decode: DecodeSettings, family: Family) -> dict:
    """What a clip must be for this model: frames, size, how they were picked and sized (the prepared folder's
    settings it trained on), and the backbone family's layout (channel order, per-channel mean and std) the model
    applies itself to uint8 pixels."""
    m = config.model
    return {**asdict(decode), "pixels": "uint8 0-255", "pooling": m.pooling, **family.describe_layout(m)}


def read_preprocessing(directory: str | Path, family: Family | None = None) -> dict:
    """The checkpoint's preprocessing record (rebuilt from config.json, which then held the clip settings, for
    checkpoints older than the record); a record whose normalisation differs from what the checkpoint's family
    applies in this code raises DataError naming the file."""
    path = Path(directory) / PREPROCESSING
    config = read_config(directory)
    family = family or family_of(config.model.backbone)
    expected = family.describe_layout(config.model)
    record = json.loads(path.read_text()) if path.is_file() else \
        preprocessing(config, DecodeSettings(**_clip_settings(_config_json(directory))), family)
    for key in ("pixel_mean", "pixel_std"):  # records before the families held one number for all channels
        if _per_channel(record.get(key)) != expected[key]:
            raise DataError(f"{path}: trained with normalisation {key} {record.get(key)}, this code's "
                             f"{expected['family']} backbone applies {expected[key]}")
    return record


def _per_channel(value) -> list | None:
    return [value] * 3 if isinstance(value, (int, float)) else value


def read_decode(directory: str | Path, family: Family | None = None) -> DecodeSettings:
    """The clip settings a checkpoint's model was built for and trained on (its preprocessing record)."""
    return DecodeSettings(**_clip_settings(read_preprocessing(directory, family)))


def check_clip_settings(trained: DecodeSettings, decode: DecodeSettings, source: str) -> None:
    """Refuse clips prepared unlike the ones a model trained on (its `.decode`: read_decode), for a model scored on
    a prepared folder other than its own (defect 2 of the authors: evaluated on other frames than trained on)."""
    for name, have in asdict(decode).items():
        if have != getattr(trained, name):
            raise DataError(f"{source}: clips have {name} = {have!r}, the checkpoint was trained on "
                            f"{getattr(trained, name)!r}")


def read_config(directory: str | Path) -> TrainConfig:
    """config.json as a TrainConfig; the clip settings that checkpoints written before the prepared folder was
    their one source carry there are left to the preprocessing record."""
    doc = _config_json(directory)
    return TrainConfig.from_dict({k: v for k, v in doc.items() if k not in DECODE_KEYS})


def _config_json(directory: str | Path) -> dict:
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise DataError(f"{path}: missing; not a checkpoint folder written by trainables")
    return json.loads(path.read_text())


def _clip_settings(doc: dict) -> dict:
    return {k: doc[k] for k in DECODE_KEYS if k in doc}


def load_weights(directory: str | Path, model: VideoEmbedder) -> None:
    """Load the adapter and head saved in a checkpoint into a model built from the same config."""
    directory = Path(directory)
    module = getattr(model, "module", model)
    adapter = _readable(directory / ADAPTER / SAFETENSORS_WEIGHTS_NAME,
                        lambda: load_peft_weights(str(directory / ADAPTER)))
    result = set_peft_model_state_dict(peft_backbone(module), adapter)
    missing = [k for k in getattr(result, "missing_keys", []) if "lora_" in k]
    if getattr(result, "unexpected_keys", None) or missing:
        raise DataError(f"{directory / ADAPTER}: adapter does not fit the model (unexpected "
                         f"{list(result.unexpected_keys)[:3]}, missing {missing[:3]})")
    # Every head key must be there under its own name: the authors' evaluation loaded their `embedding_layer`
    # into a `head` with strict=False and scored a randomly initialised head (their defect 1).
    saved, wanted = _readable(directory / HEAD, lambda: load_file(str(directory / HEAD))), module.head.state_dict()
    if set(saved) != set(wanted):
        raise DataError(f"{directory / HEAD}: keys {sorted(saved)} do not match the head's {sorted(wanted)}")
    module.head.load_state_dict(saved, strict=True)


def _readable(path: Path, load):
    """load(), a corrupt or truncated file (safetensors' SafetensorError, a bad header) a DataError naming it."""
    try:
        return load()
    except (SafetensorError, ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable checkpoint file ({type(err).__name__}: "
                        f"{str(err).splitlines()[0][:160] if str(err) else ''})") from None


def load_train_state(directory: str | Path) -> dict | None:
    path = Path(directory) / STATE
    return torch.load(path, weights_only=True) if path.is_file() else None
