"""Reading the folder `study.prepare.prepare_dataset` writes (see docs/ARCHITECTURE.md); trainers never import study."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import DataError

_ARRAYS = ("video_ids", "triplets_train", "triplets_val", "rows_train", "rows_val", "human_train_similarity",
           "human_train_counts", "human_val_similarity", "human_val_counts")


@dataclass(frozen=True)
class PreparedData:
    """clips: uint8 (n_rows, T, 3, H, W), memory-mapped; triplets_*: (n, 3) row indices [kept_a, kept_b, odd];
    rows_*: the rows of each split's videos; human_*_similarity / counts: (m, m) in the order of rows_*."""
    clips: np.ndarray
    video_ids: np.ndarray
    triplets_train: np.ndarray
    triplets_val: np.ndarray
    rows_train: np.ndarray
    rows_val: np.ndarray
    human_train_similarity: np.ndarray
    human_train_counts: np.ndarray
    human_val_similarity: np.ndarray
    human_val_counts: np.ndarray
    meta: dict


def load_prepared(directory: str | Path) -> PreparedData:
    """Read a prepared folder; a missing or inconsistent file -> ValueError naming the file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"prepared_dir {str(directory)!r} is not a folder (write one with study.prepare)")
    arrays = {name: _load(directory / f"{name}.npy") for name in _ARRAYS}
    clips = _load(directory / "clips.npy", mmap_mode="r")
    meta_path = directory / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    data = PreparedData(clips=clips, meta=meta, **arrays)
    _check(data, directory)
    return data


def _load(path: Path, mmap_mode: str | None = None) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: missing from the prepared folder")
    return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)


def _check(data: PreparedData, directory: Path) -> None:
    n = len(data.clips)
    if data.clips.ndim != 5 or data.clips.dtype != np.uint8 or data.clips.shape[2] != 3:
        raise DataError(f"{directory / 'clips.npy'}: expected uint8 (n, T, 3, H, W), got "
                         f"{data.clips.dtype} {data.clips.shape}")
    for split in ("train", "val"):
        t = getattr(data, f"triplets_{split}")
        if t.ndim != 2 or t.shape[1] != 3 or (t.size and (t.min() < 0 or t.max() >= n)):
            raise DataError(f"{directory / f'triplets_{split}.npy'}: expected (n, 3) row indices below {n}")
        m = len(getattr(data, f"rows_{split}"))
        for kind in ("similarity", "counts"):
            if getattr(data, f"human_{split}_{kind}").shape != (m, m):
                raise DataError(f"{directory / f'human_{split}_{kind}.npy'}: expected ({m}, {m}) for the "
                                 f"{m} rows of rows_{split}.npy")
