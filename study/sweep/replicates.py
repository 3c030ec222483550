"""The replication stage: after the search, the selected configuration of each variant (of each backbone family
where the backbone is searched) is trained again from scratch on K fresh seeds, as Tune trials on the same Ray.

- Selection: the analysis' own ranking (analysis.ranking: best value of the sweep's selection metric, ties to
  the earlier suggestion), the best finished trial of each group; replicates are never selected on.
- Seeds: K seeds drawn from `SeedSequence([sweep seed, REPLICATE_STREAM])`, none equal to a seed a search trial
  used; replicate k of every configuration gets seed k (paired across configurations, as the search's trials
  all share the sweep seed).
- Epoch rule, fixed before any replicate runs: a replicate is stopped right after the epoch at which its search
  trial reached its best validation value (the epoch the selected checkpoint is from), with the configuration's
  whole schedule otherwise unchanged (its `epochs` still sets the cosine and beta schedules), and its checkpoint
  is the one of that epoch; in a space that runs ASHA, the configuration's whole schedule instead: there the
  search trial's best epoch depends on whether ASHA cut it short, which with concurrent trials depends on which
  trial reached the rung first. Their own validation figures are recorded, never used to pick an epoch.
- Resumable: the plan is recorded in EXPERIMENT/replicates.json before the first replicate starts; the trials are
  a Tune experiment of their own in EXPERIMENT/replicates/, restored (finished trials kept, unfinished ones from
  their last checkpoint) by `--resume`. No searcher: the Optuna study never sees them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import study.sweep.train_v1  # noqa: F401 - first: ray.train reads RAY_TRAIN_V2_ENABLED when imported

from ray import tune
from ray.train import CheckpointConfig, FailureConfig, RunConfig, SyncConfig
from ray.tune.stopper import Stopper

from analysis.ranking import ranked
from common.storage import local_path, read_bytes, tune_filesystem, write_bytes
from search_spaces import SearchSpace
from study.sweep.console import TrialLines
from study.sweep.diskfull import DiskGuard, fit_guarded
from study.sweep.plan import SweepPlan
from study.sweep.signer import StateSigner, signing
from study.sweep.trust import check_owned, check_signed, sign_folder
from study.sweep.results import trial_id_of
from study.sweep.settings import TRIAL_CONFIG_KEY, SweepSettings

PLAN_FILE = "replicates.json"
STAGE_DIR = "replicates"  # the replicates' own Tune experiment, inside the sweep's folder
REPLICATE_STREAM = 0x5245504C  # "REPL": the seed stream of the replicates, apart from every search seed
# Keys of a replicate's trial config; resolve_trial_config drops "_" keys, so the trainer never sees them.
OF_KEY, INDEX_KEY, STOP_KEY = "_replicate_of", "_replicate_index", "_stop_epoch"
# The epoch rule, one of two by the space (fixed before any replicate runs; recorded in the plan).
BEST_EPOCH_RULE = "each stopped after the epoch of its search trial's best validation value (its checkpoint's epoch)"
WHOLE_SCHEDULE_RULE = ("each run for its configuration's whole schedule (ASHA cut search trials short, so a search "
                       "trial's best epoch depends on which trial reached a rung first)")


def epoch_rule(space: SearchSpace) -> str:
    """The replicates' epoch rule in this space."""
    return WHOLE_SCHEDULE_RULE if space.asha else BEST_EPOCH_RULE


def replicate_count(settings: SweepSettings, space: SearchSpace) -> int:
    """--replicates, else the space's own default."""
    return space.replicates if settings.replicates is None else settings.replicates


def group_column(space: SearchSpace) -> str:
    """What 'each variant' means: the backbone family where the backbone is searched, else the variant."""
    return "backbone_family" if "backbone" in space.params else "config/variant"


def ranked_search_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Finished search trials with a checkpoint, best first, by the one ranking rule the analysis uses too
    (analysis.ranking: the sweep's selection metric, ties to the earlier row: the earlier suggestion)."""
    rows = ranked(frame)
    return rows[rows["status"].eq("TERMINATED") & rows["checkpoint_path"].notna()]


def selected_trials(frame: pd.DataFrame, space: SearchSpace) -> pd.DataFrame:
    """The best finished search trial of each group (variant, or backbone family), best group first."""
    key = group_column(space)
    rows = ranked_search_trials(frame)
    return rows.drop_duplicates(key) if key in rows.columns else rows.head(1)


def replicate_seeds(sweep_seed: int, k: int, taken: set[int]) -> list[int]:
    """k distinct 32-bit seeds from the replicates' own stream, none in `taken` (the search's seeds)."""
    seeds: list[int] = []
    sequence = np.random.SeedSequence([sweep_seed, REPLICATE_STREAM])
    while len(seeds) < k:
        for value in sequence.generate_state(k + len(taken) + 8, dtype=np.uint32).tolist():
            if value not in taken and value not in seeds and len(seeds) < k:
                seeds.append(int(value))
        sequence = sequence.spawn(1)[0]  # only if collisions ate the draw
    return seeds


def make_plan(frame: pd.DataFrame, grid, space: SearchSpace, settings: SweepSettings, k: int) -> dict:
    """The replicates of a finished search: one entry per (selected trial, seed index), the search trial's own
    Tune config with a fresh seed and the epoch it is stopped after."""
    configs = {trial_id_of(result): (result.config or {}).get(TRIAL_CONFIG_KEY, {}) for result in grid}
    histories = {trial_id_of(result): result.metrics_dataframe for result in grid}
    taken = {int(s) for s in frame.get("config/seed", pd.Series(dtype=float)).dropna()} | {settings.seed}
    seeds = replicate_seeds(settings.seed, k, taken)
    trials = []
    for _, row in selected_trials(frame, space).iterrows():
        history = histories[row["trial_id"]]
        stop = None if space.asha else best_epoch(history, space)
        for index, seed in enumerate(seeds):
            config = {**_plain(configs[row["trial_id"]]), "seed": seed, OF_KEY: row["trial_id"], INDEX_KEY: index}
            if stop is not None:
                config[STOP_KEY] = stop
            trials.append({"replicate_of": row["trial_id"], "replicate_index": index, "seed": seed,
                           "stop_epoch": stop, "group": str(row.get(group_column(space))), "config": config})
    return {"replicates": k, "seeds": seeds, "epoch_rule": epoch_rule(space), "metric": space.metric, "trials": trials}


def best_epoch(history: pd.DataFrame | None, space: SearchSpace) -> int:
    """The first epoch at which the trial's history reached its best value of the space's metric."""
    values = history[space.metric].to_numpy(dtype=float)
    position = int(np.nanargmin(values) if space.mode == "min" else np.nanargmax(values))
    return int(history["epoch"].iloc[position])


def _plain(config: dict) -> dict:
    return {k: v.item() if hasattr(v, "item") else v for k, v in config.items()}


class EpochRule(Stopper):
    """Stop each replicate right after the epoch its plan entry names (its config's `_stop_epoch`)."""

    def __call__(self, trial_id: str, result: dict) -> bool:
        stop = (result.get("config") or {}).get(TRIAL_CONFIG_KEY, {}).get(STOP_KEY)
        return stop is not None and result.get("epoch", 0) >= stop

    def stop_all(self) -> bool:
        return False


def run_replicates(search: pd.DataFrame, grid, settings: SweepSettings, plan: SweepPlan, space: SearchSpace,
                   trainer, interrupts):
    """Run (or resume) the replication stage; its ResultGrid, or None when there is nothing to replicate."""
    recorded = read_bytes(f"{plan.experiment}/{PLAN_FILE}")
    stage = json.loads(recorded) if recorded is not None else None
    if stage is None:
        k = replicate_count(settings, space)
        if k == 0 or not len(search):
            return None
        stage = make_plan(search, grid, space, settings, k)
        if not stage["trials"]:
            return None
        write_bytes(f"{plan.experiment}/{PLAN_FILE}", json.dumps(stage, indent=1, sort_keys=True).encode())
    _announce(stage)
    folder = f"{plan.experiment}/{STAGE_DIR}"
    with signing(folder):  # its own Tune state, signed as the search's is (study.sweep.trust)
        if tune.Tuner.can_restore(folder):
            local = local_path(folder)
            if local is not None:  # restoring unpickles its tuner.pkl, as the search's --resume does
                check_owned(local)
                check_signed(local, "--resume")
            tuner = tune.Tuner.restore(folder, trainable=trainer, resume_unfinished=True,
                                       storage_filesystem=tune_filesystem(folder))
        else:
            tuner = tune.Tuner(trainer, param_space={TRIAL_CONFIG_KEY: tune.grid_search(
                                   [t["config"] for t in stage["trials"]])},
                               tune_config=tune.TuneConfig(num_samples=1, max_concurrent_trials=settings.max_concurrent,
                                                           trial_dirname_creator=_dirname),
                               run_config=_run_config(plan.experiment, settings))
        _sign_experiment(plan.experiment)  # replicates.json and replicates/tuner.pkl, before any trial runs
        return fit_guarded(tuner, interrupts, plan.experiment)


def _sign_experiment(experiment: str) -> None:
    local = local_path(experiment)
    if local is not None:
        sign_folder(local)


def _announce(stage: dict) -> None:
    configs = sorted({t["replicate_of"] for t in stage["trials"]})
    print(f"[sweep] replicates: {len(configs)} selected configuration(s) ({', '.join(configs)}) x "
          f"{stage['replicates']} fresh seed(s) {stage['seeds']}, {stage['epoch_rule']}", flush=True)


def _dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


def _run_config(experiment: str, settings: SweepSettings) -> RunConfig:
    return RunConfig(
        name=STAGE_DIR, storage_path=experiment, storage_filesystem=tune_filesystem(experiment),
        verbose=2 if settings.verbose else 0, stop=EpochRule(),
        # TrialLines(0): no ASHA here, every replicate that ends is "finished"
        callbacks=[TrialLines(0), StateSigner(), DiskGuard()],
        failure_config=FailureConfig(max_failures=settings.max_failures),
        checkpoint_config=CheckpointConfig(num_to_keep=1),  # the latest: the rule's epoch once the trial ends
        sync_config=SyncConfig(sync_artifacts=True))
