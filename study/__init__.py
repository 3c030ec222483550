"""The experiment, the top layer: human judgments split by video, the synthetic benchmark, the prepared
training folder, the preflight and the sweep driver (`python -m study.sweep`). Clip decoding lives in
trainables.clips, the judgments' reader in analysis.human_judgments (both re-exported here).

Names are re-exported lazily, so `python -m study.sweep` can set Ray's environment before anything heavy
is imported.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "load_judgments": "study.judgments", "similarity_matrix": "study.judgments", "Judgments": "study.judgments",
    "Split": "study.judgments", "paper_split": "study.judgments", "random_split": "study.judgments",
    "split_triplets": "study.judgments", "data_fingerprint": "study.judgments",
    "DecodeSettings": "trainables.clips", "decode_clip": "trainables.clips", "load_clips": "trainables.clips",
    "SyntheticConfig": "study.synthetic", "generate_benchmark": "study.synthetic",
    "ensure_benchmark": "study.synthetic", "prepare_dataset": "study.prepare",
    "DataError": "common.errors", "ConfigError": "common.errors",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'study' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
