"""The folder a trial trains on, written and read here: train and validation clips, triplets as row indices,
human similarity, and meta.json (`PreparedMeta`).

This folder is the contract between `study` and `trainables` (docs/ARCHITECTURE.md, `data.prepared`).
Test videos are never decoded into it, so no test video can reach training. The folder's name is a hash of
everything that shapes its content; it is built under a temporary name and renamed, and reused when present.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from common.atomic import atomic_folder, atomic_path
from common.cache import room_for
from common.errors import ConfigError, DataError
from metrics.triplet_pairs import positions
from data.budget import JudgmentBudget, budget_summary, sample_judgments
from data.judgments import DEFAULT_MIN_CATCH_ACCURACY, Judgments, data_fingerprint, load_judgments
from data.splits import Split, SplitTriplets, paper_split, random_split, similarity_matrix, split_triplets
from data.clips import DecodeSettings, allocated_memmap, default_cache_root, load_clips

FORMAT_VERSION = 1  # bump when the folder's files or their meaning change
SPLIT_KINDS = ("paper", "random")
META_FILE = "meta.json"
_ARRAYS = ("video_ids", "triplets_train", "triplets_val", "rows_train", "rows_val", "human_train_similarity",
           "human_train_counts", "human_val_similarity", "human_val_counts")


@dataclass(frozen=True)
class PreparedMeta:
    """meta.json: what made the folder. Written last, so a folder whose meta carries its key is whole. A field
    an older (or hand-made) folder lacks reads as its default."""

    key: str = field(default="", metadata={"help": "hash of the judgments, clip files and settings"})
    settings: dict = field(default_factory=dict, metadata={"help": "split, seed, fractions, decode key"})
    format_version: int = field(default=FORMAT_VERSION, metadata={"help": "the folder format's version"})
    data_dir: str = field(default="", metadata={"help": "absolute path of the data folder"})
    data_fingerprint: str = field(default="", metadata={"help": "data.judgments.data_fingerprint of it"})
    decode: DecodeSettings = field(default=DecodeSettings(), metadata={"help": "how the clips were decoded"})
    video_names: tuple[str, ...] = field(default=(), metadata={"help": "the name of each row's video"})
    test_video_ids: tuple[int, ...] | None = field(default=None, metadata={
        "help": "held-out video ids (their clips are never in the folder); None in folders older than it"})
    n_videos: dict = field(default_factory=dict, metadata={"help": "videos per split"})
    n_triplets: dict = field(default_factory=dict, metadata={"help": "triplets per split"})
    n_mixed_dropped: int = field(default=0, metadata={"help": "triplets mixing splits, dropped"})
    catch: dict = field(default_factory=dict, metadata={"help": "data.judgments.CatchReport.summary()"})
    judgments: dict = field(default_factory=dict, metadata={
        "help": "data.budget.budget_summary: the training judgments' budget and what it kept"})

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str, source: str) -> "PreparedMeta":
        try:
            doc = json.loads(text)
            known = {f.name for f in fields(cls)}
            meta = {k: v for k, v in doc.items() if k in known}
            meta["decode"] = DecodeSettings(**doc.get("decode", {}))
        except (ValueError, TypeError, AttributeError) as err:
            raise DataError(f"{source}: not a prepared folder's meta ({err})") from None
        for name in ("video_names", "test_video_ids"):
            if meta.get(name) is not None:
                meta[name] = tuple(meta[name])
        return cls(**meta)


def read_meta(directory: str | Path) -> PreparedMeta:
    """A prepared folder's meta.json; DataError naming the file when it is missing or unreadable."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise DataError(f"{path}: the prepared folder is gone or incomplete; rerun the sweep or prepare_dataset")
    return PreparedMeta.from_json(path.read_text(), str(path))


def is_prepared(directory: str | Path) -> bool:
    """True when the folder is whole (its meta.json, written last, is there)."""
    return (Path(directory) / META_FILE).is_file()


def prepare_dataset(data_dir: str | Path, *, split: str = "paper", seed: int = 0, val_fraction: float = 0.2,
                    test_fraction: float = 0.2, decode: DecodeSettings = DecodeSettings(),
                    min_catch_accuracy: float = DEFAULT_MIN_CATCH_ACCURACY,
                    out_root: str | Path | None = None, budget: JudgmentBudget = JudgmentBudget()) -> Path:
    """Build (or reuse) the prepared folder for these data and settings; return its path.

    split: "paper" (test = test.csv) or "random" (seeded; test_fraction of all videos, used only here).
    out_root: default `$SOCIAL_ALIGN_CACHE`, else `~/.cache/social-align`.
    budget: the share of the training judgments kept (data.budget); validation and test keep all of theirs.
    """
    if not isinstance(decode, DecodeSettings):
        raise ConfigError(f"decode must be a data.clips.DecodeSettings; got {decode!r}")
    data_dir = Path(data_dir)
    j = load_judgments(data_dir, min_catch_accuracy=min_catch_accuracy)
    chosen = _make_split(j, split, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
    row_ids = np.concatenate([chosen.train, chosen.val])  # train rows first, then validation
    settings = {"split": split, "seed": int(seed), "val_fraction": float(val_fraction),
                "min_catch_accuracy": float(min_catch_accuracy), "decode": decode.key()}
    if split == "random":  # only then does test_fraction shape the folder
        settings["test_fraction"] = float(test_fraction)
    settings |= budget.settings()  # nothing for a full budget: the folder of today
    key = _folder_key(data_dir, [j.video_names[i] for i in row_ids], settings)
    root = Path(out_root) if out_root is not None else default_cache_root()
    target = root / f"prepared-{key}"
    if _is_complete(target, key):
        return target
    with room_for(root):
        return _build(target, data_dir, j, chosen, decode, budget, meta={"key": key, "settings": settings})


def prepare_budget(prepared_dir: str | Path, budget: JudgmentBudget) -> Path:
    """The sibling of a prepared folder made from the same data and settings with this judgment budget (the
    folder itself when the budget matches its own); its clips come from the same clip cache, not decoded again."""
    if not Path(prepared_dir).is_dir():
        return Path(prepared_dir)  # load_prepared names the missing folder
    meta = read_meta(prepared_dir)
    if budget.settings() == {k: v for k, v in meta.settings.items() if k.startswith("judgment_")}:
        return Path(prepared_dir)
    settings = meta.settings
    return prepare_dataset(meta.data_dir, split=settings["split"], seed=settings["seed"],
                           val_fraction=settings["val_fraction"], test_fraction=settings.get("test_fraction", 0.2),
                           decode=meta.decode, min_catch_accuracy=settings["min_catch_accuracy"],
                           out_root=Path(prepared_dir).parent, budget=budget)


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
        return read_meta(target).key == key
    except DataError:
        return False


def _build(target: Path, data_dir: Path, j: Judgments, split: Split, decode: DecodeSettings,
           budget: JudgmentBudget, meta: dict) -> Path:
    """Write every file into a temporary sibling folder, then rename it into place; if another process finished
    the same folder first, keep theirs (same key, same content)."""
    key = meta["key"]
    with atomic_folder(target, existing="keep", complete=lambda folder: _is_complete(folder, key)) as tmp:
        parts = split_triplets(j, split)
        kept = sample_judgments(parts.train, budget)  # only training judgments shrink
        meta["judgments"] = budget_summary(parts.train, kept, budget)
        parts = parts._replace(train=kept)
        row_ids = np.concatenate([split.train, split.val])
        _write_clips(tmp / "clips.npy", data_dir, [j.video_names[i] for i in row_ids], decode,
                     cache_dir=target.parent / "clips")
        _write_arrays(tmp, row_ids, split, parts, j.n_videos)
        (tmp / META_FILE).write_text(_meta(data_dir, j, split, parts, row_ids, decode, **meta).to_json())
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
    out = allocated_memmap(path, clips.shape)
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
          decode: DecodeSettings, *, key: str, settings: dict, judgments: dict) -> PreparedMeta:
    return PreparedMeta(
        key=key, settings=settings, data_dir=str(data_dir.resolve()), data_fingerprint=data_fingerprint(data_dir),
        decode=decode, video_names=tuple(j.video_names[i] for i in row_ids),
        test_video_ids=tuple(split.test.tolist()),  # ids only: their clips are never in the folder
        n_videos={"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        n_triplets={"train": len(parts.train), "val": len(parts.val), "test": len(parts.test)},
        n_mixed_dropped=parts.n_mixed_dropped, catch=j.catch.summary(), judgments=judgments)


# ---------------------------------------------------------------- reading (the trainer's side)

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
    meta: PreparedMeta
    language_train_similarity: np.ndarray | None = None  # (m, m) in the order of rows_train, when written


LANGUAGE_FILE = "language_train_similarity.npy"


def write_language_similarity(directory: str | Path, similarity: np.ndarray) -> Path:
    """Add the caption-language similarity of the training rows (m, m, in the order of rows_train) to a prepared
    folder, whole or not at all; the language-distill variant trains on it in place of the human one."""
    directory = Path(directory)
    m = len(load_rows_train(directory))
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.shape != (m, m) or not np.isfinite(similarity).all():
        raise DataError(f"{directory / LANGUAGE_FILE}: expected a finite ({m}, {m}) similarity for the {m} training "
                        f"rows, got {similarity.shape}")
    with atomic_path(directory / LANGUAGE_FILE) as tmp:
        np.save(tmp, similarity)
    return directory / LANGUAGE_FILE


def load_video_ids(directory: str | Path) -> np.ndarray:
    """video_ids.npy: the global video id of each row of clips.npy (study.budget reads the training videos' ids)."""
    return _load(Path(directory) / "video_ids.npy")


def load_rows_train(directory: str | Path) -> np.ndarray:
    """rows_train.npy: the clip rows of the training videos."""
    return _load(Path(directory) / "rows_train.npy")


def load_prepared(directory: str | Path) -> PreparedData:
    """Read a prepared folder; a missing or inconsistent file -> DataError naming the file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"prepared_dir {str(directory)!r} is not a folder (write one with data.prepared)")
    arrays = {name: _load(directory / f"{name}.npy") for name in _ARRAYS}
    language = _load(directory / LANGUAGE_FILE) if (directory / LANGUAGE_FILE).is_file() else None
    data = PreparedData(clips=load_clip_rows(directory), meta=read_meta(directory),
                        language_train_similarity=language, **arrays)
    _check(data, directory)
    return data


def load_clip_rows(directory: str | Path) -> np.ndarray:
    """clips.npy, memory-mapped: uint8 (n_rows, T, 3, H, W), rows in the order of video_ids.npy."""
    return _load(Path(directory) / "clips.npy", mmap_mode="r")


def _load(path: Path, mmap_mode: str | None = None) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: missing from the prepared folder")
    return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)


def _check(data: PreparedData, directory: Path) -> None:
    n = len(data.clips)
    if data.clips.ndim != 5 or data.clips.dtype != np.uint8 or data.clips.shape[2] != 3:
        raise DataError(f"{directory / 'clips.npy'}: expected uint8 (n, T, 3, H, W), got "
                        f"{data.clips.dtype} {data.clips.shape}")
    decode = data.meta.decode  # the one source of the clip settings a trial reads: it must describe the clips
    if data.clips.shape[1] != decode.num_frames or data.clips.shape[3:] != (decode.image_size,) * 2:
        raise DataError(f"{directory / 'clips.npy'}: clips of {data.clips.shape[1]} frames of "
                        f"{data.clips.shape[3]}x{data.clips.shape[4]} px, {directory / META_FILE} says "
                        f"{decode.num_frames} of {decode.image_size}x{decode.image_size}")
    for split in ("train", "val"):
        t = getattr(data, f"triplets_{split}")
        if t.ndim != 2 or t.shape[1] != 3 or (t.size and (t.min() < 0 or t.max() >= n)):
            raise DataError(f"{directory / f'triplets_{split}.npy'}: expected (n, 3) row indices below {n}")
        m = len(getattr(data, f"rows_{split}"))
        for kind in ("similarity", "counts"):
            if getattr(data, f"human_{split}_{kind}").shape != (m, m):
                raise DataError(f"{directory / f'human_{split}_{kind}.npy'}: expected ({m}, {m}) for the "
                                f"{m} rows of rows_{split}.npy")
