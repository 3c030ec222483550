"""A finished sweep's results: one row per trial (results.parquet), the best trial (best.json), the Pareto
front of a multi-objective sweep."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.ranking import ranked
from common.storage import write_bytes
from data.clips import DECODE_KEYS
from search_spaces import SWEEP_ONLY_KEYS, SearchSpace
from study.sweep.overrides import epoch_budget, resolve_trial_config
from study.sweep.settings import BEST_FILE, METRICS, RESULTS_FILE, TRIAL_CONFIG_KEY, TRIAL_RECORD


def results_frame(grid, space: SearchSpace, objectives: tuple[str, ...] = (), replicates=None) -> pd.DataFrame:
    """Tune's ResultGrids -> one flat row per trial: stage, status, config, final and best metrics, epochs run, wall
    time, checkpoint; in the order Tune created them. `grid` is the search's; `replicates` the replication stage's
    (study.sweep.replicates), whose rows follow the search's in its plan's order (stage "replicate",
    `replicate_of` the search trial, `replicate_index` 0..K-1)."""
    frame = pd.DataFrame([_result_row(result, space) for result in grid])
    if objectives and len(frame):
        values = frame[[f"best_{m}" for m in objectives]].to_numpy(dtype=float)
        frame["pareto"] = pareto_mask(values)
    # Rows in the order Tune created the trials (the order they were suggested), not by their random ids: the
    # ranking breaks ties by table order, so a tie goes to the earlier suggestion in every run of the same seed.
    if replicates is None:
        return frame
    copies = pd.DataFrame([_result_row(result, space) for result in replicates])
    if objectives and len(copies):
        copies["pareto"] = False  # the front is the search's
    return pd.concat([frame, copies], ignore_index=True)


def trial_id_of(result) -> str:
    """A Tune result's trial id (from its last result, else its folder name)."""
    return (result.metrics or {}).get("trial_id") or Path(result.path).name.split("_")[-1]


def _result_row(result, space: SearchSpace) -> dict:
    metrics = result.metrics or {}
    history = result.metrics_dataframe if result.metrics_dataframe is not None else pd.DataFrame()
    if not len(history) and "epoch" in metrics:  # Tune can lose a failed trial's history, not its last result
        history = pd.DataFrame([metrics])
    config = (result.config or {}).get(TRIAL_CONFIG_KEY, {})  # None for a trial that never started
    epochs = int(history["epoch"].max()) if "epoch" in history and len(history) else 0
    max_epochs = epoch_budget(config)
    record = _read_record(result)
    replicate = "_replicate_of" in config  # study.sweep.replicates' trial: stopped by its epoch rule, not ASHA
    row = {"trial_id": trial_id_of(result), "stage": "replicate" if replicate else "search",
           "replicate_of": config.get("_replicate_of"), "replicate_index": config.get("_replicate_index", np.nan),
           "status": "ERROR" if result.error else "TERMINATED" if epochs else "NOT_STARTED",
           "stopped_early": bool(result.error is None and 0 < epochs < max_epochs and not replicate),
           "error": _one_line(result.error), "epochs_run": epochs,
           "time_total_s": float(metrics.get("time_total_s", np.nan)),
           **_span(history),
           # A replicate's checkpoint is its latest, the epoch rule's; a search trial's its best by the metric.
           "checkpoint_path": _latest_checkpoint(result) if replicate else _best_checkpoint(result, space),
           "trial_dir": result.path, "selection_metric": space.metric,
           "data_fingerprint": record.get("data_fingerprint"),
           "node_id": record.get("node_id"), "hostname": record.get("hostname"),
           "backbone_family": backbone_family(config.get("backbone"))}
    row |= {f"config/{k}": v for k, v in sorted(resolve_trial_config(config).items()) if k != "prepared_dir"}
    row |= {f"config/{k}": config[k] for k in SWEEP_ONLY_KEYS if k in config}
    row |= {f"config/{k}": config[k] for k in DECODE_KEYS if k in config}  # the space's: they made the prepared folder
    for name in METRICS:
        column = history[name] if name in history else pd.Series(dtype=float)
        row[f"final_{name}"] = float(column.iloc[-1]) if len(column) else np.nan
        row[f"best_{name}"] = float(column.max() if name != "train_loss" else column.min()) if len(column) \
            else np.nan
    return row


def several_families(frame: pd.DataFrame) -> bool:
    """Whether a sweep's trials span several backbone families (the `backbones` space): its analysis then scores
    the best trial of each family against that family's own base (`python -m analysis --per-family`)."""
    return "backbone_family" in frame.columns and frame["backbone_family"].dropna().nunique() > 1


def backbone_family(backbone: str | None) -> str | None:
    """The family (trainables/backbones/) a trial's backbone belongs to; None where it cannot be told (a hub id
    the analysis machine cannot reach, a folder that is gone)."""
    from trainables.backbones import family_of
    from trainables.config import ModelConfig

    try:
        return family_of(backbone or ModelConfig().backbone).name
    except ValueError:
        return None


def _span(history: pd.DataFrame) -> dict:
    """Wall-clock start and end (unix seconds) of the trial's latest run, from Tune's per-epoch timestamps."""
    if not len(history) or "timestamp" not in history:
        return {"started_at": np.nan, "ended_at": np.nan}
    first = history.iloc[0]
    return {"started_at": float(first["timestamp"] - first.get("time_this_iter_s", 0.0)),
            "ended_at": float(history["timestamp"].max())}


def _read_record(result) -> dict:
    """The trial's trial.json, from wherever Tune keeps the trial folder (local disk or bucket)."""
    try:
        with result.filesystem.open_input_stream(f"{result.path}/{TRIAL_RECORD}") as stream:
            return json.loads(stream.read())
    except (OSError, ValueError):
        return {}


def _best_checkpoint(result, space: SearchSpace) -> str | None:
    try:
        best = result.get_best_checkpoint(space.metric, space.mode)
    except (KeyError, ValueError, RuntimeError):
        best = None
    best = best or result.checkpoint
    return best.path if best is not None else None


def _latest_checkpoint(result) -> str | None:
    return result.checkpoint.path if result.checkpoint is not None else None


def _one_line(error) -> str | None:
    if error is None:
        return None
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """values: (n, m), all maximised, NaN = missing. True where no other row is >= everywhere and > somewhere."""
    filled = np.where(np.isnan(values), -np.inf, values)
    ge = (filled[None, :, :] >= filled[:, None, :]).all(axis=2)
    gt = (filled[None, :, :] > filled[:, None, :]).any(axis=2)
    dominated = (ge & gt).any(axis=1)
    return ~dominated & ~np.isnan(values).any(axis=1)


def best_trial(frame: pd.DataFrame, space: SearchSpace, objectives: tuple[str, ...]) -> dict:
    column = f"best_{space.metric}"
    # The analysis' one rule (analysis.ranking): search rows only, by this metric, ties to the earlier row.
    rows = ranked(frame) if len(frame) else frame
    if not len(rows):
        return {"metric": space.metric, "mode": space.mode, "trial_id": None}
    top = rows.iloc[0]
    best = {"trial_id": top["trial_id"], "metric": space.metric, "mode": space.mode, "value": float(top[column]),
            "checkpoint": top["checkpoint_path"], "trial_dir": top["trial_dir"],
            "config": {k[len("config/"):]: _plain(v) for k, v in top.items() if k.startswith("config/")}}
    if objectives:
        best["objectives"] = list(objectives)
        best["pareto_front"] = frame.loc[frame["pareto"], "trial_id"].tolist()
    return best


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def write_outputs(experiment_dir: str, frame: pd.DataFrame, best: dict) -> tuple[str, str]:
    """results.parquet (pyarrow) and best.json next to Tune's files, each written whole or not at all."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    results_path, best_path = f"{experiment_dir}/{RESULTS_FILE}", f"{experiment_dir}/{BEST_FILE}"
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    write_bytes(results_path, buffer.getvalue().to_pybytes())
    write_bytes(best_path, json.dumps(best, indent=2, sort_keys=True, default=str).encode())
    return results_path, best_path
