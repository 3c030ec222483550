"""Human judgments split by video (train, validation, test; no video in two parts) and turned into
similarity matrices. Reading and validating the files is data.judgments."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from common.errors import ConfigError
from data.judgments import Judgments
from metrics.triplet_pairs import pair_counts, positions, similarity_from_counts

MIN_SPLIT_VIDEOS = 3


class HumanSimilarity(NamedTuple):
    """similarity: (m, m) float64, P(left together | shared a triplet), NaN where counts == 0 and on the
    diagonal; counts: (m, m) int64, triplets in which the pair appeared together."""

    similarity: np.ndarray
    counts: np.ndarray


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
    local = positions(videos, top)[triplets]
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


def _seeded(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be a whole number in 0..{2**32 - 1}; got {seed!r}")
    return np.random.default_rng(seed)


def _carve(videos: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split `videos` into (rest, picked) with round(fraction * len) seeded picks."""
    picked = rng.choice(videos, size=int(round(fraction * len(videos))), replace=False)
    return np.setdiff1d(videos, picked), np.sort(picked)


def paper_split(j: Judgments, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """The paper's split: test = test.csv's videos; validation = a seeded share of the rest."""
    fraction = _check_fraction("val_fraction", val_fraction)
    rest = np.setdiff1d(np.arange(j.n_videos), j.test_videos)
    train, val = _carve(rest, fraction, _seeded(seed))
    return Split(train=train, val=val, test=j.test_videos)


def random_split(j: Judgments, test_fraction: float = 0.2, val_fraction: float = 0.2, seed: int = 0) -> Split:
    """A seeded split of all videos: test = test_fraction of them; validation = val_fraction of the rest."""
    test_share = _check_fraction("test_fraction", test_fraction)
    val_share = _check_fraction("val_fraction", val_fraction)
    rng = _seeded(seed)
    rest, test = _carve(np.arange(j.n_videos), test_share, rng)
    train, val = _carve(rest, val_share, rng)
    return Split(train=train, val=val, test=test)


def split_triplets(j: Judgments, split: Split) -> SplitTriplets:
    """Each part's triplets; a triplet with videos from two parts goes nowhere."""
    parts = [j.within(ids) for ids in (split.train, split.val, split.test)]
    return SplitTriplets(*parts, n_mixed_dropped=len(j) - sum(len(p) for p in parts))
