"""A data folder's per-video annotations: the ratings (annotations.csv) and the captions (captions.csv), read
beside the judgments (data.judgments) with errors that name the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.csv_text import numeric_columns, read_csv_text
from common.errors import DataError

# The rated attributes the linear probes read (here, with their reader: reading them imports no model code).
RATINGS = ("intimacy", "valence", "dominance", "communication", "arousal", "joint_action", "facingness",
           "agent_distance", "indoor", "expanse", "object")


def read_ratings(data_dir: str | Path, video_names, attributes=RATINGS) -> pd.DataFrame:
    """(n_videos, k) ratings in the order of `video_names`, one column per attribute present in the file.

    annotations.csv holds `rating-<attribute>` columns; ValueError naming the file when it is missing, lacks
    a video, or has none of the attributes."""
    path = Path(data_dir) / "annotations.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no annotations file (needed for the linear probes)")
    frame = read_csv_text(path)
    if "video_name" not in frame.columns:
        raise DataError(f"{path}: missing column 'video_name'")
    columns = [a for a in attributes if f"rating-{a}" in frame.columns]
    if not columns:
        raise DataError(f"{path}: none of the rating columns rating-{{{', '.join(attributes)}}}")
    table = numeric_columns(frame, [f"rating-{a}" for a in columns], path).set_axis(columns, axis=1)
    table.index = frame["video_name"]
    missing = [v for v in video_names if v not in table.index]
    if missing:
        raise DataError(f"{path}: no ratings for {len(missing)} video(s), e.g. {missing[0]!r}")
    out = table.loc[list(video_names)].astype(np.float64)
    bad = out.isna().any(axis=1).to_numpy()
    if bad.any():
        raise DataError(f"{path}: empty rating for video {out.index[np.argmax(bad)]!r}")
    return out.reset_index(drop=True)


def read_captions(data_dir: str | Path) -> pd.DataFrame:
    """captions.csv (video_name, caption_index, caption); ValueError naming the file when unusable."""
    path = Path(data_dir) / "captions.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no captions file (needed for the language baseline)")
    frame = read_csv_text(path)
    missing = {"video_name", "caption"} - set(frame.columns)
    if missing:
        raise DataError(f"{path}: missing column(s) {sorted(missing)}")
    if "caption_index" in frame.columns:
        frame["caption_index"] = numeric_columns(frame, ["caption_index"], path)["caption_index"]
    return frame[frame["caption"].str.strip().ne("")]
