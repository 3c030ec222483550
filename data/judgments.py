"""Human odd-one-out judgments: read and validate a data folder, drop catch trials, exclude inattentive
participants. The analysis scores models against them; data.splits splits them by video.

A data folder follows the public dataset's layout (`all_triplets.csv`, `video_mapping.csv`, `test.csv`);
the synthetic benchmark writes the same files, so one loader reads both.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.csv_text import read_csv_text
from common.errors import ConfigError, DataError

TRIPLETS_FILE = "all_triplets.csv"
MAPPING_FILE = "video_mapping.csv"
TEST_FILE = "test.csv"
JUDGMENT_FILES = (TRIPLETS_FILE, MAPPING_FILE, TEST_FILE)
STIM_COLUMNS = ("stim1_name", "stim2_name", "stim3_name")
ID_COLUMNS = STIM_COLUMNS + ("choice",)
TRIPLET_COLUMNS = ("participation",) + ID_COLUMNS + ("response_time",)

# Random answering passes a catch trial 1 time in 3; an attentive participant passes nearly all. With ~11
# catch trials each, 0.75 separates the two cleanly. Every participant in the real data scores 1.0, so the
# default excludes nobody there; it does remove the synthetic benchmark's random responders.
DEFAULT_MIN_CATCH_ACCURACY = 0.75


@dataclass(frozen=True, eq=False)
class CatchReport:
    """What the loader dropped: catch trials (three videos not distinct) and participants who failed them."""

    n_rows: int = field(metadata={"help": "data rows read from all_triplets.csv"})
    n_catch_trials: int = field(metadata={"help": "rows whose three videos are not distinct (all dropped)"})
    min_catch_accuracy: float = field(metadata={"help": "participants scoring below this were excluded"})
    participants: tuple[str, ...] = field(metadata={"help": "every participant in the file"})
    catch_accuracy: np.ndarray = field(metadata={"help": "(n_participants,) share of catch trials passed; "
                                                          "NaN for a participant who saw none (kept)"})
    excluded: tuple[str, ...] = field(metadata={"help": "participants excluded for low catch accuracy"})
    n_excluded_rows: int = field(metadata={"help": "valid (non-catch) rows dropped with excluded participants"})
    n_kept: int = field(metadata={"help": "valid triplets kept"})

    def summary(self) -> dict:
        """Plain-JSON summary (for meta.json and the command line)."""
        return {
            "n_rows": self.n_rows, "n_catch_trials": self.n_catch_trials,
            "min_catch_accuracy": self.min_catch_accuracy, "n_participants": len(self.participants),
            "excluded_participants": list(self.excluded), "n_excluded_rows": self.n_excluded_rows,
            "n_kept": self.n_kept,
        }


@dataclass(frozen=True, eq=False)
class Judgments:
    """Valid triplets, ordered [kept_a, kept_b, odd]; catch trials and excluded participants removed."""

    triplets: np.ndarray = field(metadata={"help": "(n, 3) int64 video ids [kept_a, kept_b, odd]"})
    participant: np.ndarray = field(metadata={"help": "(n,) int64 index into `participants`"})
    response_time: np.ndarray = field(metadata={"help": "(n,) float64 seconds (has extreme outliers)"})
    participants: tuple[str, ...] = field(metadata={"help": "kept participants' ids"})
    video_names: tuple[str, ...] = field(metadata={"help": "file name of each video; index = video id"})
    test_videos: np.ndarray = field(metadata={"help": "(50,) int64 ids listed in test.csv"})
    catch: CatchReport = field(metadata={"help": "what was dropped while loading"})

    @property
    def n_videos(self) -> int:
        return len(self.video_names)

    def __len__(self) -> int:
        return len(self.triplets)

    def subset(self, mask: np.ndarray) -> Judgments:
        """The triplets where `mask` (bool (n,) or indices) selects; everything else carried over."""
        return Judgments(self.triplets[mask], self.participant[mask], self.response_time[mask],
                         self.participants, self.video_names, self.test_videos, self.catch)

    def within(self, videos: np.ndarray) -> Judgments:
        """The triplets whose three videos are all in `videos`."""
        return self.subset(np.isin(self.triplets, np.asarray(videos)).all(axis=1))


# ---------------------------------------------------------------- loading and validation

def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read every column as text (so ids are checked by us, not guessed), insisting on `columns`."""
    frame = read_csv_text(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(frame.columns)})")
    if frame.empty:
        raise DataError(f"{path}: no data rows after the header")
    return frame


def _integer_column(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Column as int64; the first value that is not a whole number is reported by its 1-based data row."""
    text = frame[column].str.strip()
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    if bad.any():
        row = _first_bad_row(bad)
        raise DataError(f"{path}: row {row + 1}, column {column}: {text.iloc[row]!r} is not an integer id")
    return numbers.astype(np.int64)


def _float_column(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    """Column as float64; an empty cell is NaN (missing), any other non-number is an error."""
    text = frame[column].str.strip()
    numbers = pd.to_numeric(text.replace("", "nan"), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(numbers) & text.ne("").to_numpy() & ~text.str.lower().eq("nan").to_numpy()
    if bad.any():
        row = _first_bad_row(bad)
        raise DataError(f"{path}: row {row + 1}, column {column}: {text.iloc[row]!r} is not a number")
    return numbers


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.argmax(bad))


def _load_mapping(data_dir: Path) -> tuple[str, ...]:
    """video_mapping.csv: ids must be exactly 0..n-1 (any order), names unique."""
    path = data_dir / MAPPING_FILE
    frame = _read_csv(path, ("index", "video_name"))
    ids = _integer_column(frame, "index", path)
    order = np.argsort(ids, kind="stable")
    wrong = ids[order] != np.arange(len(ids))
    if wrong.any():
        row = int(order[_first_bad_row(wrong)])
        raise DataError(f"{path}: row {row + 1}: video ids must run 0..{len(ids) - 1} without gaps or "
                        f"repeats; found {ids[row]}")
    _check_video_names(frame["video_name"].tolist(), path)
    names = frame["video_name"].to_numpy()[order]
    return tuple(str(n) for n in names)


def _check_video_names(names: list[str], path: Path) -> None:
    """Each name a file inside videos/ (relative, no '..'), and no two rows naming the same file."""
    first_row: dict[str, int] = {}
    for row, name in enumerate(names, start=1):
        parts = Path(name).parts
        if not name.strip() or Path(name).is_absolute() or ".." in parts or "\\" in name:
            raise DataError(f"{path}: row {row}, column video_name: {name!r} is not a file name inside videos/")
        key = str(Path(*parts))
        if key in first_row:
            raise DataError(f"{path}: rows {first_row[key]} and {row} both name video {name!r}")
        first_row[key] = row


def _load_test_videos(data_dir: Path, video_names: tuple[str, ...]) -> np.ndarray:
    """test.csv: ids known to video_mapping.csv and with the same names there."""
    path = data_dir / TEST_FILE
    frame = _read_csv(path, ("index", "video_name"))
    ids = _integer_column(frame, "index", path)
    unknown = (ids < 0) | (ids >= len(video_names))
    if unknown.any():
        row = _first_bad_row(unknown)
        raise DataError(f"{path}: row {row + 1}: video id {ids[row]} is not in {MAPPING_FILE}")
    mismatch = np.asarray(video_names, dtype=object)[ids] != frame["video_name"].to_numpy()
    if mismatch.any():
        row = _first_bad_row(mismatch)
        raise DataError(f"{path}: row {row + 1}: video {ids[row]} is named {frame['video_name'].iloc[row]!r} "
                        f"here but {video_names[ids[row]]!r} in {MAPPING_FILE}")
    return np.unique(ids)


def _validate_trials(stims: np.ndarray, choice: np.ndarray, n_videos: int, path: Path) -> None:
    """Every id a known video; every choice one of the row's three."""
    ids = np.column_stack([stims, choice])
    unknown = (ids < 0) | (ids >= n_videos)
    if unknown.any():
        row, col = np.argwhere(unknown)[0]
        raise DataError(f"{path}: row {row + 1}, column {ID_COLUMNS[col]}: video id {ids[row, col]} is not in "
                        f"{MAPPING_FILE} (ids 0..{n_videos - 1})")
    not_shown = ~(stims == choice[:, None]).any(axis=1)
    if not_shown.any():
        row = _first_bad_row(not_shown)
        raise DataError(f"{path}: row {row + 1}: choice {choice[row]} is not one of the three videos "
                        f"{tuple(int(v) for v in stims[row])}")


def _read_trials(path: Path, n_videos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """all_triplets.csv -> stims (n, 3), choice (n,), response_time (n,), participant ids (n,), validated."""
    frame = _read_csv(path, TRIPLET_COLUMNS)
    stims = np.column_stack([_integer_column(frame, c, path) for c in STIM_COLUMNS])
    choice = _integer_column(frame, "choice", path)
    _validate_trials(stims, choice, n_videos, path)
    participation = frame["participation"].str.strip().to_numpy()
    if (participation == "").any():
        raise DataError(f"{path}: row {_first_bad_row(participation == '') + 1}, column participation: empty")
    return stims, choice, _float_column(frame, "response_time", path), participation


def _catch_answer(stims: np.ndarray) -> np.ndarray:
    """For a triad like (120, 120, 56), the video that appears once is the right answer."""
    a, b, c = stims.T
    return np.where(a == b, c, np.where(a == c, b, a))


def _catch_accuracy(scorable: np.ndarray, correct: np.ndarray, who: np.ndarray, n_people: int) -> np.ndarray:
    """Share of scorable catch trials each participant passed; NaN for those who saw none."""
    seen = np.bincount(who[scorable], minlength=n_people)
    passed = np.bincount(who[scorable & correct], minlength=n_people)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(seen > 0, passed / np.maximum(seen, 1), np.nan)


def _order_kept_first(stims: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """Reorder each valid triad to [kept_a, kept_b, odd], keeping the two kept videos in file order."""
    is_odd = stims == choice[:, None]
    kept_order = np.argsort(is_odd, axis=1, kind="stable")  # False (kept) first, file order preserved
    return np.take_along_axis(stims, kept_order, axis=1)


def _check_threshold(min_catch_accuracy: float) -> float:
    value = float(min_catch_accuracy)
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"min_catch_accuracy must be in [0, 1]; got {min_catch_accuracy!r}")
    return value


def load_judgments(data_dir: str | Path, *,
                   min_catch_accuracy: float = DEFAULT_MIN_CATCH_ACCURACY) -> Judgments:
    """Read and validate a data folder; score and drop catch trials; exclude inattentive participants.

    Raises DataError naming the file and the 1-based data row (row 1 = first line after the header).
    """
    threshold = _check_threshold(min_catch_accuracy)
    video_names = _load_mapping(Path(data_dir))
    test_videos = _load_test_videos(Path(data_dir), video_names)
    stims, choice, response_time, participation = _read_trials(Path(data_dir) / TRIPLETS_FILE, len(video_names))
    who, people = pd.factorize(participation, sort=False)
    is_catch = (stims[:, 0] == stims[:, 1]) | (stims[:, 0] == stims[:, 2]) | (stims[:, 1] == stims[:, 2])
    # Two real rows show one video three times: a catch trial without a right answer, dropped but not scored.
    scorable = is_catch & ~((stims[:, 0] == stims[:, 1]) & (stims[:, 1] == stims[:, 2]))
    accuracy = _catch_accuracy(scorable, choice == _catch_answer(stims), who, len(people))
    failed = accuracy < threshold  # NaN (no catch trials) compares False: kept, no evidence against them
    keep = ~is_catch & ~failed[who]
    if not keep.any():
        raise DataError(f"{Path(data_dir) / TRIPLETS_FILE}: no valid triplet: all {len(stims)} rows are catch "
                        f"trials or from participants excluded for catch accuracy < {threshold:g}")
    kept_people, kept_who = np.unique(who[keep], return_inverse=True)
    report = CatchReport(
        n_rows=len(stims), n_catch_trials=int(is_catch.sum()), min_catch_accuracy=threshold,
        participants=tuple(str(p) for p in people), catch_accuracy=accuracy,
        excluded=tuple(str(p) for p in people[failed]),
        n_excluded_rows=int((~is_catch & failed[who]).sum()), n_kept=int(keep.sum()))
    return Judgments(
        triplets=_order_kept_first(stims[keep], choice[keep]).astype(np.int64),
        participant=kept_who.astype(np.int64).reshape(-1),
        response_time=response_time[keep],
        participants=tuple(str(people[i]) for i in kept_people),
        video_names=video_names, test_videos=test_videos, catch=report)


def data_fingerprint(data_dir: str | Path) -> str:
    """Short sha256 over the judgment files' names and bytes: the identity of the data a trial saw."""
    digest = hashlib.sha256()
    for name in JUDGMENT_FILES:
        path = Path(data_dir) / name
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def video_names(data_dir: str | Path) -> tuple[str, ...]:
    """The name of each video id (video_mapping.csv, validated)."""
    return _load_mapping(Path(data_dir))


def authors_test_triplets(data_dir: str | Path, test_videos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The authors' test construction: every row of all_triplets.csv whose three videos are all test videos,
    catch trials and every participant included (451 rows, 670 pairs on the public data). Returns
    (triplets (n, 3) [kept, kept, odd] ordered as load_judgments orders valid ones, participant (n,))."""
    n_videos = len(_load_mapping(Path(data_dir)))
    stims, choice, _, participation = _read_trials(Path(data_dir) / TRIPLETS_FILE, n_videos)
    inside = np.isin(stims, test_videos).all(axis=1)
    participant = pd.factorize(participation[inside])[0]
    return _order_kept_first(stims[inside], choice[inside]), participant.astype(np.int64)
