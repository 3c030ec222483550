"""5. Analysis on the real judgments: the full `python -m analysis.human DATA_DIR` command, and odd-one-out
accuracy alone over every valid triplet.

The command runs as a child process, so its time includes start-up and imports, as a user sees it. Caption
embeddings are cached on disk after the first run on a machine, so the first repeat may be slower.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from metrics.odd_one_out import odd_one_out_accuracy
from benchmarks.common import BenchSettings, spread
from data.judgments import TRIPLETS_FILE, load_judgments

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("SOCIAL_OOO_DATA", REPO.parent / "shared" / "data" / "social-ooo"))


def run(settings: BenchSettings, work_dir: Path, data_dir: Path = REAL_DATA) -> dict:
    if not (Path(data_dir) / TRIPLETS_FILE).is_file():
        raise FileNotFoundError(f"{data_dir}: no all_triplets.csv (the real judgments); pass --real-data")
    return {"name": "analysis", "data_dir": str(data_dir), "full_analysis": _full(settings, Path(data_dir)),
            "odd_one_out": _odd_one_out(settings, Path(data_dir))}


def _full(settings: BenchSettings, data_dir: Path) -> dict:
    """Wall time of the analysis command (default resampling, or a token amount when quick)."""
    args = ["--n-boot", "20", "--n-splits", "4"] if settings.quick else []
    command = [sys.executable, "-m", "analysis.human", str(data_dir), *args]
    times = []
    for _ in range(1 if settings.quick else max(3, settings.repeats // 2)):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return {"command": "python -m analysis.human DATA_DIR " + " ".join(args), "wall_s": spread(times)}


def _odd_one_out(settings: BenchSettings, data_dir: Path) -> dict:
    """odd_one_out_accuracy over all valid triplets (catch trials out, nobody excluded) for a random model."""
    j = load_judgments(data_dir, min_catch_accuracy=0.0)
    rng = np.random.default_rng(settings.seed)
    embeddings = rng.normal(size=(j.n_videos, 128))
    similarity = embeddings @ embeddings.T
    result = {"n_triplets": int(len(j.triplets))}
    for rule in ("three_way", "paper"):
        times, accuracy = [], None
        for _ in range(3 if settings.quick else 5 * settings.repeats):
            start = time.perf_counter()
            accuracy = odd_one_out_accuracy(similarity, j.triplets, rule=rule)
            times.append(time.perf_counter() - start)
        result[rule] = {"seconds": spread(times), "accuracy_random_model": accuracy}
    return result
