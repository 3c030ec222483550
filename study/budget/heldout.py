"""Held-out alignment on the test videos, for the budget benchmarks: 3-way odd-one-out accuracy on the test
triplets and explained variance (r^2 of the model's cosine similarity with the human similarity over the pairs
the test triplets showed), per model, with the per-triplet credit kept for bootstraps."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.clips import DecodeSettings, load_clips
from data.judgments import load_judgments
from data.splits import similarity_matrix
from metrics.odd_one_out import per_triplet_correct
from metrics.triplet_pairs import positions


@dataclass(frozen=True, eq=False)
class TestSet:
    """The test videos' clips, their triplets (rows index `videos`) and the human similarity among them."""

    videos: np.ndarray
    clips: np.ndarray
    triplets: np.ndarray
    human: np.ndarray
    counts: np.ndarray


def test_set(data_dir: str | Path, decode: DecodeSettings, cache_dir: Path) -> TestSet:
    j = load_judgments(data_dir)
    videos = j.test_videos
    clips = load_clips(data_dir, [j.video_names[v] for v in videos], decode, cache_dir=cache_dir)
    local = positions(videos, j.n_videos)[j.within(videos).triplets]
    human = similarity_matrix(local, videos=np.arange(len(videos)))
    return TestSet(videos, clips, local, human.similarity, human.counts)


def score(embeddings: np.ndarray, test: TestSet) -> dict:
    """{'accuracy', 'explained_variance', 'credit' (n_triplets,)} of unit-row embeddings (n_test_videos, d)."""
    e = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    similarity = e @ e.T
    credit = per_triplet_correct(similarity, test.triplets)
    i, j = np.nonzero(np.triu(test.counts > 0, 1))
    r = np.corrcoef(similarity[i, j], test.human[i, j])[0, 1]
    return {"accuracy": float(credit.mean()), "explained_variance": float(r * r), "credit": credit}
