"""The data layer, the one owner of the human judgments and the clips: reading and validating a judgments
folder (judgments) and its per-video ratings and captions (annotations), splits by video and similarity
(splits), decoding videos into clips (clips), and the prepared folder a trial trains on, written and read in one
module (prepared). Above common and metrics; below trainables, analysis and study. `python -m data DATA_DIR`
summarises a data folder."""
from __future__ import annotations

from data.annotations import RATINGS, read_captions, read_ratings
from data.clips import DECODE_KEYS, DecodeSettings, decode_clip, load_clips, write_clip
from data.judgments import (
    CatchReport, Judgments, authors_test_triplets, data_fingerprint, load_judgments, video_names,
)
from data.prepared import PreparedData, PreparedMeta, load_prepared, prepare_dataset, read_meta
from data.splits import (
    HumanSimilarity, Split, SplitTriplets, paper_split, random_split, similarity_matrix, split_triplets,
)

__all__ = [
    "DECODE_KEYS", "RATINGS", "CatchReport", "DecodeSettings", "HumanSimilarity", "Judgments", "PreparedData",
    "PreparedMeta", "Split", "SplitTriplets", "authors_test_triplets", "data_fingerprint", "decode_clip",
    "load_clips", "load_judgments", "load_prepared", "paper_split", "prepare_dataset", "random_split",
    "read_captions", "read_meta", "read_ratings", "similarity_matrix", "split_triplets", "video_names",
    "write_clip",
]
