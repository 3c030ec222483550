"""Human odd-one-out judgments: load and validate, drop catch trials, split by video, similarity matrices.

A data folder follows the public dataset's layout (`all_triplets.csv`, `video_mapping.csv`, `test.csv`);
the synthetic benchmark writes the same files, so one loader reads both.

    python -m study.judgments DATA_DIR      # one-screen summary; exit 2 on bad input
"""
from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from metrics.triplet_pairs import pair_counts, similarity_from_counts
from common.errors import ConfigError, DataError, cli_entry

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
MIN_SPLIT_VIDEOS = 3


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


class HumanSimilarity(NamedTuple):
    """similarity: (m, m) float64, P(left together | shared a triplet), NaN where counts == 0 and on the
    diagonal; counts: (m, m) int64, triplets in which the pair appeared together."""

    similarity: np.ndarray
    counts: np.ndarray


# ---------------------------------------------------------------- loading and validation

def _read_csv(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """Read every column as text (so ids are checked by us, not guessed), insisting on `columns`."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV ({str(err).splitlines()[0][:120]})") from None
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
    names = frame["video_name"].to_numpy()[order]
    return tuple(str(n) for n in names)


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


# ---------------------------------------------------------------- similarity

def similarity_matrix(triplets: np.ndarray, n_videos: int | None = None,
                      videos: np.ndarray | None = None) -> HumanSimilarity:
    """Human similarity from [kept_a, kept_b, odd] triplets (n, 3) of video ids.

    Without `videos`, rows/cols are ids 0..n_videos-1 (default: max id + 1). With `videos`, rows/cols follow
    that order and only triplets whose three videos are all in `videos` count.
    """
    triplets = np.asarray(triplets, dtype=np.int64).reshape(-1, 3)
    if videos is None:
        size = int(n_videos) if n_videos is not None else int(triplets.max(initial=-1)) + 1
        local = triplets
    else:
        videos = np.asarray(videos, dtype=np.int64)
        size, local = len(videos), _to_local(triplets, videos)
    if local.size and (local.min() < 0 or local.max() >= size):
        raise ValueError(f"triplets hold video ids outside 0..{size - 1}")
    return _similarity_from_local(local, size)


def _to_local(triplets: np.ndarray, videos: np.ndarray) -> np.ndarray:
    """Global ids -> positions in `videos`, keeping only triplets entirely inside it."""
    if len(np.unique(videos)) != len(videos):
        raise ValueError("videos holds repeated ids")
    top = max(int(triplets.max(initial=-1)), int(videos.max(initial=-1))) + 1
    position = np.full(top, -1, dtype=np.int64)
    position[videos] = np.arange(len(videos))
    local = position[triplets]
    return local[(local >= 0).all(axis=1)]


def _similarity_from_local(local: np.ndarray, size: int) -> HumanSimilarity:
    # One construction for the whole project: analysis's pair counts (pure numpy), as integers here.
    together, shown = pair_counts(local, size)
    counts = shown.astype(np.int64)
    np.fill_diagonal(counts, 0)  # a pair of one video with itself is not a pair
    return HumanSimilarity(similarity_from_counts(together, counts), counts)


# ---------------------------------------------------------------- splits by video

@dataclass(frozen=True, eq=False)
class Split:
    """Video ids of each part; disjoint, each with at least 3 videos (one triplet's worth)."""

    train: np.ndarray = field(metadata={"help": "training video ids"})
    val: np.ndarray = field(metadata={"help": "validation video ids"})
    test: np.ndarray = field(metadata={"help": "held-out test video ids; never reach training"})

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            ids = np.unique(np.asarray(getattr(self, name), dtype=np.int64))
            object.__setattr__(self, name, ids)
            if len(ids) < MIN_SPLIT_VIDEOS:
                raise ConfigError(f"split part {name!r} has {len(ids)} video(s); each part needs at least "
                                  f"{MIN_SPLIT_VIDEOS}")
        for one, other in (("train", "val"), ("train", "test"), ("val", "test")):
            shared = np.intersect1d(getattr(self, one), getattr(self, other))
            if shared.size:
                raise ConfigError(f"split parts {one!r} and {other!r} share video id(s) {shared[:5].tolist()}")


class SplitTriplets(NamedTuple):
    """Each part's triplets (all three videos in that part); triplets mixing parts are dropped and counted."""

    train: Judgments
    val: Judgments
    test: Judgments
    n_mixed_dropped: int


def _check_fraction(name: str, value: float) -> float:
    if not 0.0 < float(value) < 1.0:
        raise ConfigError(f"{name} must be between 0 and 1 (exclusive); got {value!r}")
    return float(value)


def _carve(videos: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split `videos` into (rest, picked) with round(fraction * len) seeded picks."""
    picked = rng.choice(videos, size=int(round(fraction * len(videos))), replace=False)
    return np.setdiff1d(videos, picked), np.sort(picked)


def paper_split(j: Judgments, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """The paper's split: test = test.csv's videos; validation = a seeded share of the rest."""
    fraction = _check_fraction("val_fraction", val_fraction)
    rest = np.setdiff1d(np.arange(j.n_videos), j.test_videos)
    train, val = _carve(rest, fraction, np.random.default_rng(seed))
    return Split(train=train, val=val, test=j.test_videos)


def random_split(j: Judgments, test_fraction: float = 0.2, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """A seeded split of all videos: test = test_fraction of them; validation = val_fraction of the rest."""
    test_share = _check_fraction("test_fraction", test_fraction)
    val_share = _check_fraction("val_fraction", val_fraction)
    rng = np.random.default_rng(seed)
    rest, test = _carve(np.arange(j.n_videos), test_share, rng)
    train, val = _carve(rest, val_share, rng)
    return Split(train=train, val=val, test=test)


def split_triplets(j: Judgments, split: Split) -> SplitTriplets:
    """Each part's triplets; a triplet with videos from two parts goes nowhere."""
    parts = [j.within(ids) for ids in (split.train, split.val, split.test)]
    return SplitTriplets(*parts, n_mixed_dropped=len(j) - sum(len(p) for p in parts))


# ---------------------------------------------------------------- command line

def _summary_lines(data_dir: Path, j: Judgments, split: Split, parts: SplitTriplets) -> list[str]:
    c = j.catch
    return [
        f"rows read            {c.n_rows:>8,}",
        f"catch trials         {c.n_catch_trials:>8,}  (dropped)",
        f"participants         {len(c.participants):>8,}",
        f"excluded             {len(c.excluded):>8,}  (catch accuracy < {c.min_catch_accuracy:g}; "
        f"{c.n_excluded_rows:,} rows)",
        f"valid triplets       {len(j):>8,}",
        f"videos               {j.n_videos:>8,}",
        f"paper split videos   train {len(split.train)}, val {len(split.val)}, test {len(split.test)}",
        f"paper split triplets train {len(parts.train):,}, val {len(parts.val):,}, test {len(parts.test):,}, "
        f"mixed dropped {parts.n_mixed_dropped:,}",
        f"data fingerprint     {data_fingerprint(data_dir)}",
    ]


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.judgments", description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="folder with all_triplets.csv, video_mapping.csv, test.csv")
    parser.add_argument("--min-catch-accuracy", type=float, default=DEFAULT_MIN_CATCH_ACCURACY,
                        help="exclude participants whose catch-trial accuracy is below this")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation draw")
    args = parser.parse_args(argv)
    j = load_judgments(args.data_dir, min_catch_accuracy=args.min_catch_accuracy)
    split = paper_split(j, seed=args.seed)
    print("\n".join(_summary_lines(args.data_dir, j, split, split_triplets(j, split))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
