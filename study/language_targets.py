"""The caption-language similarity a prepared folder's training videos get for the language-distill control
(trainables.objectives): the caption-language model the analysis scores as its baseline (analysis.language: the
mean of each video's caption embeddings, cosine similarity), written into the folder by the sweep before Ray
starts, for a space whose variants need it."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from data.judgments import video_names
from data.prepared import LANGUAGE_FILE, load_prepared, write_language_similarity


def needs_language(variants) -> bool:
    """Whether any of these variant names trains an objective toward the caption-language similarity."""
    from trainables.objectives import OBJECTIVES

    return any(OBJECTIVES[v].target == "language" for v in variants if v in OBJECTIVES)


def ensure_language_targets(prepared_dir: str | Path, data_dir: str | Path, *, language_model=None) -> Path:
    """The folder's language_train_similarity.npy, computed once from the data folder's captions.csv."""
    from analysis.human import cached_caption_embeddings

    prepared_dir = Path(prepared_dir)
    if (prepared_dir / LANGUAGE_FILE).is_file():
        return prepared_dir / LANGUAGE_FILE
    data = load_prepared(prepared_dir)
    names = video_names(data_dir)
    embeddings = cached_caption_embeddings(Path(data_dir), names, model=language_model)
    train = embeddings[data.video_ids[data.rows_train]]
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    return write_language_similarity(prepared_dir, train @ train.T)
