"""Shared by the paper-protocol tests: a hand-made prepared folder (random 4-frame 32 px clips and triplets),
its fixture, the paper space's values at that size, and the loop run in-process."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import search_spaces
from data.clips import DECODE_KEYS
from metrics.triplet_pairs import pair_counts, similarity_from_counts
import trainables.loop as loop
from trainables.config import TrainConfig

FRAMES, SIZE = 4, 32


def write_prepared(folder: Path, n_train: int = 30, n_val: int = 8, seed: int = 0, **decode) -> Path:
    """Random clips and triplets in the data.prepared format; every training pair observed at least once is
    not needed, the human matrix is whatever the random triplets give. decode: the meta's other clip settings
    (frame_sampling, resize)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    n = n_train + n_val
    np.save(folder / "clips.npy", rng.integers(0, 256, (n, FRAMES, 3, SIZE, SIZE), dtype=np.uint8))
    np.save(folder / "video_ids.npy", np.arange(n, dtype=np.int64))
    for split, rows in (("train", np.arange(n_train)), ("val", np.arange(n_train, n))):
        triplets = np.array([rng.choice(rows, 3, replace=False) for _ in range(20 * len(rows))], dtype=np.int64)
        local = triplets - rows[0]
        together, shown = pair_counts(local, len(rows))
        similarity, counts = similarity_from_counts(together, shown), shown.astype(np.int64)
        for name, array in ((f"triplets_{split}", triplets), (f"rows_{split}", rows),
                            (f"human_{split}_similarity", similarity), (f"human_{split}_counts", counts)):
            np.save(folder / f"{name}.npy", array)
    (folder / "meta.json").write_text(json.dumps({"kind": "hand-made",
                                                  "decode": {"num_frames": FRAMES, "image_size": SIZE, **decode}}))
    return folder


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("paper") / "folder")


def paper_config(prepared: Path, **overrides) -> dict:
    """The paper space's training values (its clip settings are the prepared folder's) on the hand-made data."""
    config = {k: v for k, v in search_spaces.PAPER_CONFIG.items() if k not in DECODE_KEYS}
    config |= {"backbone": "tiny", "prepared_dir": str(prepared), "epochs": 1, "steps_per_epoch": 12,
               "variant": "hybrid"}
    return {**config, **overrides}


def run_loop(config: dict) -> list[dict]:
    """loop.run in this process; returns per-epoch metrics with the learning rate the report saw."""
    history = []

    def report(metrics, write, worker):
        history.append({**metrics, "lr": write.keywords["train_state"]["optimizer"]["param_groups"][0]["lr"]})

    loop.run(TrainConfig.from_dict(config), loop.Worker(), report, resume_dir=None)
    return history
