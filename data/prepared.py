"""The folder a trial trains on: train and validation clips, triplets as row indices, human similarity.

This folder is the contract between `study` and `trainables` (docs/ARCHITECTURE.md, `study.prepare`).
Test videos are never decoded into it, so no test video can reach training. The folder's name is a hash of
everything that shapes its content; it is built under a temporary name and renamed, and reused when present.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from common.atomic import atomic_folder
from common.errors import ConfigError, DataError
from metrics.triplet_pairs import positions
from study.judgments import (
    DEFAULT_MIN_CATCH_ACCURACY, Judgments, Split, SplitTriplets, data_fingerprint, load_judgments, paper_split,
    random_split, similarity_matrix, split_triplets,
)
from trainables.clips import DecodeSettings, default_cache_root, load_clips

FORMAT_VERSION = 1  # bump when the folder's files or their meaning change
SPLIT_KINDS = ("paper", "random")


def prepare_dataset(data_dir: str | Path, *, split: str = "paper", seed: int = 0, val_fraction: float = 0.2,
                    test_fraction: float = 0.2, decode: DecodeSettings = DecodeSettings(),
                    min_catch_accuracy: float = DEFAULT_MIN_CATCH_ACCURACY,
                    out_root: str | Path | None = None) -> Path:
    """Build (or reuse) the prepared folder for these data and settings; return its path.

    split: "paper" (test = test.csv) or "random" (seeded; test_fraction of all videos, used only here).
    out_root: default `$SOCIAL_ALIGN_CACHE`, else `~/.cache/social-align`.
    """
    if not isinstance(decode, DecodeSettings):
        raise ConfigError(f"decode must be a study.clips.DecodeSettings; got {decode!r}")
    data_dir = Path(data_dir)
    j = load_judgments(data_dir, min_catch_accuracy=min_catch_accuracy)
    chosen = _make_split(j, split, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
    row_ids = np.concatenate([chosen.train, chosen.val])  # train rows first, then validation
    settings = {"split": split, "seed": int(seed), "val_fraction": float(val_fraction),
                "min_catch_accuracy": float(min_catch_accuracy), "decode": decode.key()}
    if split == "random":  # only then does test_fraction shape the folder
        settings["test_fraction"] = float(test_fraction)
    key = _folder_key(data_dir, [j.video_names[i] for i in row_ids], settings)
    root = Path(out_root) if out_root is not None else default_cache_root()
    target = root / f"prepared-{key}"
    if _is_complete(target, key):
        return target
    return _build(target, data_dir, j, chosen, decode, meta={"key": key, "settings": settings})


def _make_split(j: Judgments, kind: str, *, seed: int, val_fraction: float, test_fraction: float) -> Split:
    if kind == "paper":
        return paper_split(j, val_fraction=val_fraction, seed=seed)
    if kind == "random":
        return random_split(j, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed)
    raise ConfigError(f"split must be one of {', '.join(SPLIT_KINDS)}; got {kind!r}")


def _folder_key(data_dir: Path, row_names: list[str], settings: dict) -> str:
    """Hash of the judgments' bytes, the clip files used (name, size, mtime) and every setting."""
    files = []
    for name in row_names:
        path = data_dir / "videos" / name
        if not path.is_file():
            raise DataError(f"{path}: video file not found")
        stat = path.stat()
        files.append([name, stat.st_size, stat.st_mtime_ns])
    doc = {"version": FORMAT_VERSION, "data": data_fingerprint(data_dir), "files": files, "settings": settings}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:20]


def _is_complete(target: Path, key: str) -> bool:
    """meta.json is written last, so a folder whose meta.json carries our key is whole."""
    try:
        return json.loads((target / "meta.json").read_text())["key"] == key
    except (OSError, ValueError, KeyError):
        return False


def _build(target: Path, data_dir: Path, j: Judgments, split: Split, decode: DecodeSettings,
           meta: dict) -> Path:
    """Write every file into a temporary sibling folder, then rename it into place; if another process finished
    the same folder first, keep theirs (same key, same content)."""
    key = meta["key"]
    with atomic_folder(target, existing="keep", complete=lambda folder: _is_complete(folder, key)) as tmp:
        parts = split_triplets(j, split)
        row_ids = np.concatenate([split.train, split.val])
        _write_clips(tmp / "clips.npy", data_dir, [j.video_names[i] for i in row_ids], decode,
                     cache_dir=target.parent / "clips")
        _write_arrays(tmp, row_ids, split, parts, j.n_videos)
        meta = meta | _meta(data_dir, j, split, parts, row_ids, decode)
        (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True, indent=1))
    return target


def _write_clips(path: Path, data_dir: Path, names: list[str], decode: DecodeSettings, cache_dir: Path) -> None:
    """Decode through the clip cache; hard-link its file when we can (no second copy), else copy."""
    clips = load_clips(data_dir, names, decode, cache_dir=cache_dir)
    source = getattr(clips, "filename", None)
    if source is not None:
        try:
            os.link(source, path)
            return
        except OSError:  # another filesystem, or links not allowed: fall through to a copy
            pass
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=clips.shape)
    for row in range(len(clips)):  # row by row: the clips may not fit in memory at full size
        out[row] = clips[row]
    out.flush()


def _write_arrays(folder: Path, row_ids: np.ndarray, split: Split, parts: SplitTriplets, n_videos: int) -> None:
    """Triplets as row indices into clips.npy; each split's similarity over its rows, in their order."""
    row_of = positions(row_ids, n_videos)  # test videos keep -1: they have no row
    rows = {"train": np.arange(len(split.train)), "val": len(split.train) + np.arange(len(split.val))}
    arrays = {"video_ids": row_ids.astype(np.int64)}
    for name, part in (("train", parts.train), ("val", parts.val)):
        local = row_of[part.triplets]
        human = similarity_matrix(local, videos=rows[name])
        arrays |= {f"triplets_{name}": local, f"rows_{name}": rows[name],
                   f"human_{name}_similarity": human.similarity, f"human_{name}_counts": human.counts}
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)


def _meta(data_dir: Path, j: Judgments, split: Split, parts: SplitTriplets, row_ids: np.ndarray,
          decode: DecodeSettings) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "data_dir": str(data_dir.resolve()),
        "data_fingerprint": data_fingerprint(data_dir),
        "decode": asdict(decode),
        "video_names": [j.video_names[i] for i in row_ids],
        "test_video_ids": split.test.tolist(),  # ids only: their clips are never in the folder
        "n_videos": {"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        "n_triplets": {"train": len(parts.train), "val": len(parts.val), "test": len(parts.test)},
        "n_mixed_dropped": parts.n_mixed_dropped,
        "catch": j.catch.summary(),
    }
