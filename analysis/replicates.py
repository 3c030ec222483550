"""Models trained on several seeds (the sweep's replication stage): which rows of results.parquet are a chosen
trial's replicates, and their rows in the metrics table, the mean over seeds with the two-level interval
(metrics.two_level_bootstrap: seeds and test videos resampled together) and every paired difference on the
same resamples.

Contract (results.parquet): a replicate row has `stage == "replicate"`, `replicate_of` = the trial_id of the
search trial whose configuration it repeats, `replicate_index` 0..K-1 and its training seed in `config/seed`.
"""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from analysis.ranking import REPLICATE
from analysis.scorers import SCORERS, SEEDS_AND_VIDEOS, ModelScores
from analysis.suite import SuiteSettings, row
from metrics.two_level_bootstrap import two_level_difference, two_level_estimate


def replicates_of(frame: pd.DataFrame, trial_id: str) -> pd.DataFrame:
    """The finished replicates (with a checkpoint) of one search trial, in replicate_index order."""
    if "stage" not in frame.columns or "replicate_of" not in frame.columns:
        return frame.iloc[:0]
    mine = frame["stage"].eq(REPLICATE) & frame["replicate_of"].eq(trial_id) & frame["checkpoint_path"].notna()
    if "status" in frame.columns:
        mine &= frame["status"].eq("TERMINATED")
    return frame[mine].sort_values("replicate_index", kind="stable")


def draw_seed(name: str, s: SuiteSettings) -> int:
    """The seed of a model's seed draws: its own (models' trainings are independent), the same in every row and
    comparison of that model, and fixed by the suite's seed. `name` is the model's identity (Embedded.identities:
    its name without Tune's random trial id), so the same sweep run twice gives the same intervals."""
    return zlib.crc32(f"{s.seed}|{name}".encode())


def pooled_rows(name: str, runs: list[ModelScores], s: SuiteSettings, key: str | None = None) -> list[dict]:
    """The seed-pooled row of every Scorer with a resampled form: the mean over seeds, two-level interval; the
    seeds drawn by draw_seed(key or name)."""
    rows = []
    for sc in (sc for sc in SCORERS if sc.over_videos is not None):
        values, samples, n = _stacked(sc, runs)
        if not np.isfinite(values).all():  # e.g. a share of the reliability where none was given
            continue
        est = two_level_estimate(values, samples, ci=s.ci, seed=draw_seed(key or name, s))
        rows.append(row(name, sc.name, est.value, est.ci_low, est.ci_high, n, SEEDS_AND_VIDEOS))
    return rows


def pooled_paired_rows(name: str, runs: list[ModelScores], other: str, other_runs: list[ModelScores],
                       s: SuiteSettings, label: str, keys: tuple[str, str] | None = None) -> list[dict]:
    """`diff_vs_<label>_<metric>` of the seed means, for every paired Scorer, on the same video resamples, each
    model's seeds drawn by its own seed, draw_seed of its key (default: the names; either side may be a single
    run)."""
    key_a, key_b = keys or (name, other)
    rows = []
    for sc in (sc for sc in SCORERS if sc.paired):
        (va, sa, n), (vb, sb, _) = _stacked(sc, runs), _stacked(sc, other_runs)
        d = two_level_difference(va, sa, vb, sb, ci=s.ci, seed_a=draw_seed(key_a, s), seed_b=draw_seed(key_b, s))
        rows.append(row(name, f"diff_vs_{label}_{sc.name}", d.difference, d.ci_low, d.ci_high, n,
                        f"{SEEDS_AND_VIDEOS} (p={d.p_value:.3g})"))
    return rows


def _stacked(sc, runs: list[ModelScores]) -> tuple[np.ndarray, np.ndarray, int]:
    """(values (K,), video resamples (K, n_boot), n) of one Scorer over a model's seeds."""
    scored = [sc.over_videos(m) for m in runs]
    return (np.array([v for v, _, _ in scored], dtype=np.float64), np.stack([b for _, b, _ in scored]),
            scored[0][2])
