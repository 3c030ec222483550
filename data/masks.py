"""Where the agents are: the synthetic benchmark's ground_truth/agent_masks.npz, brought to the clips a model
sees (data.clips.clip_masks: the same frames, resize and crop). Real data has no such file."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from common.errors import DataError
from data.clips import DecodeSettings, clip_masks

MASKS_FILE = Path("ground_truth") / "agent_masks.npz"


def masks_missing(data_dir: str | Path) -> str | None:
    """Why a folder's clips have no agent masks (None when they have): the line a report prints."""
    if (Path(data_dir) / MASKS_FILE).is_file():
        return None
    if (Path(data_dir) / "ground_truth").is_dir():
        return (f"{Path(data_dir) / MASKS_FILE} is missing: a synthetic benchmark written before the masks "
                "existed; regenerate it (python -m study.synthetic) to score attention")
    return f"{data_dir} has no {MASKS_FILE} (real videos: nobody marked where the people are)"


def load_clip_masks(data_dir: str | Path, video_names: Sequence[str], settings: DecodeSettings) -> np.ndarray:
    """float32 (n, T, S, S) agent coverage in [0, 1] of each named video, aligned with `load_clips` of the same
    settings. DataError naming the file when it or a video's entry is missing."""
    path = Path(data_dir) / MASKS_FILE
    if not path.is_file():
        raise DataError(masks_missing(data_dir))
    with np.load(path) as stored:
        missing = [name for name in video_names if name not in stored.files]
        if missing:
            raise DataError(f"{path}: no mask for video {missing[0]!r} ({len(missing)} missing)")
        return np.stack([clip_masks(stored[name].astype(np.float32) / 255.0, settings) for name in video_names])
