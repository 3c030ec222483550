"""The sweep itself: Tune's objects (search domains, Optuna or a grid, ASHA, run settings), the per-trial
TorchTrainer around the worker function, and the Tuner that runs them (`run_sweep`, `resume_sweep`).

Ray path, chosen on purpose (README "Why Ray Train V1", docs/sweep.md): Ray Train V1 (`RAY_TRAIN_V2_ENABLED=0`,
set where the process starts: `python -m study.sweep`, the tests' conftest) with `Tuner(TorchTrainer(...))`,
ray pinned at 2.60. V1 keeps `Result.checkpoint`, the trial's history and `training_iteration` across
`Tuner.restore`; the V2 pattern (a Train run inside a Tune function trial) loses them there, and frees its
placement groups only through the State API that the dashboard serves.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
from pathlib import Path
from typing import Callable

import ray
from ray import tune
from ray.train import CheckpointConfig, FailureConfig, RunConfig, SyncConfig
from ray.train.torch import TorchTrainer
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from search_spaces import Choice, Float, Int, SearchSpace
from common.errors import ConfigError
from study.optuna_study import close_abandoned_trials, optuna_plots, study_storage
from study.preflight import preflight
from study.pretrain import BACKBONE_NAME
from study.sweep.overrides import build_space, clip_shape, epoch_budget, space_backbones, with_backbone_folder
from study.sweep.resources import check_resources, node_capacities, scaling_config, start_ray, this_machine
from study.sweep.results import best_trial, read_file, results_frame, write_file, write_outputs
from study.sweep.settings import SETTINGS_FILE, TRIAL_CONFIG_KEY, SweepOutcome, SweepSettings
from study.sweep.trial import data_dir, package_versions, prepare_data, trial_worker


def tune_domain(param):
    """A declared parameter as Tune's search domain."""
    if isinstance(param, Float):
        return tune.loguniform(param.low, param.high) if param.log else tune.uniform(param.low, param.high)
    if isinstance(param, Int):  # Tune's randint excludes the upper end; ours includes it
        return tune.lograndint(param.low, param.high + 1) if param.log else tune.randint(param.low, param.high + 1)
    if isinstance(param, Choice):
        return tune.choice(list(param.values))
    return tune.grid_search(list(param.values))


def tune_config(space: SearchSpace, settings: SweepSettings, experiment: str | None = None) -> tune.TuneConfig:
    """Optuna (seeded TPE, optionally multi-objective; its study stored in the experiment folder) or a grid,
    and ASHA on the per-epoch metric."""
    search_alg = None
    multi = bool(settings.objectives)
    if not space.is_grid:
        points = [{f"{TRIAL_CONFIG_KEY}/{k}": v for k, v in p.items()} for p in space.points_to_evaluate]
        metric = list(settings.objectives) if multi else None
        mode = ["max"] * len(settings.objectives) if multi else None
        directions = ["maximize" if m == "max" else "minimize" for m in (mode or [space.mode])]
        storage, study_name = study_storage(experiment, directions, points) if experiment else (None, None)
        search_alg = OptunaSearch(metric=metric, mode=mode, seed=settings.seed, storage=storage,
                                  study_name=study_name, points_to_evaluate=None if storage else points or None)
    scheduler = None
    if space.asha:
        # ASHA takes the Tuner's metric, or (multi-objective: the Tuner has none) the space's own.
        own = {"metric": space.metric, "mode": space.mode} if multi else {}
        scheduler = ASHAScheduler(**own, time_attr="training_iteration",
                                  max_t=epoch_budget(space.fixed),
                                  grace_period=space.asha_grace_period,
                                  reduction_factor=space.asha_reduction_factor)
    return tune.TuneConfig(metric=None if multi else space.metric, mode=None if multi else space.mode,
                           search_alg=search_alg, scheduler=scheduler, num_samples=space.num_samples,
                           max_concurrent_trials=settings.max_concurrent, trial_dirname_creator=trial_dirname)


def trial_dirname(trial) -> str:
    """Short trial folder names: Tune's default packs every constant of the config into the name."""
    return f"trial_{trial.trial_id}"


def param_space(space: SearchSpace, constants: dict) -> dict:
    loop_config = {**space.fixed, **constants, **{k: tune_domain(p) for k, p in space.params.items()}}
    return {TRIAL_CONFIG_KEY: loop_config}


class _EpochLines(tune.Callback):
    """One line per trial epoch, for a person following the run (Tune's tables come every few seconds)."""

    def on_trial_result(self, iteration, trials, trial, result, **info):
        parts = [f"{k} {result[k]:.4f}" for k in ("train_loss", "val_ooo_acc", "val_rsa") if k in result]
        print(f"[sweep] trial {trial.trial_id} epoch {result.get('epoch', '?')}: " + ", ".join(parts)
              + f" ({result.get('time_epoch_s', float('nan')):.1f} s)", flush=True)


def _experiment_dir(settings: SweepSettings) -> tuple[str, str]:
    """(storage, name); a local folder must not exist yet (its writability is the preflight's check)."""
    name = settings.name or f"{settings.space}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    storage = settings.storage_path
    if "://" in storage:
        return storage, name
    storage = str(Path(storage).expanduser().resolve())
    target = Path(storage) / name
    if target.exists():
        raise ConfigError(f"experiment folder {target} already exists; use --resume {target} or another --name")
    return storage, name


def _preflight(settings: SweepSettings, space: SearchSpace, storage: str, setting: str) -> None:
    """study.preflight on the folder the trials and the analysis will read; one line on success."""
    report = preflight(data_dir(settings.data), split=settings.split, seed=settings.seed,
                       analysis=settings.analysis, backbone=space_backbones(space), storage=storage,
                       storage_setting=setting, buildable=(BACKBONE_NAME,), clip_shape=clip_shape(space))
    print(report.line(), flush=True)


def build_trainer(settings: SweepSettings, worker: Callable[[dict], None] = trial_worker) -> TorchTrainer:
    """The per-trial driver: one Ray Train run of `worker` on the trial's workers (tests pass their own)."""
    if os.environ.get("RAY_TRAIN_V2_ENABLED") != "0":
        raise RuntimeError("Tuner(TorchTrainer) needs Ray Train V1: set RAY_TRAIN_V2_ENABLED=0 before ray.train "
                           "is imported (python -m study.sweep does)")
    return TorchTrainer(worker, scaling_config=scaling_config(settings))


def run_config(storage: str, name: str, space: SearchSpace, settings: SweepSettings) -> RunConfig:
    return RunConfig(
        name=name, storage_path=storage, verbose=1, callbacks=[_EpochLines()],
        failure_config=FailureConfig(max_failures=settings.max_failures),
        # The best checkpoint is evaluated later; the latest is always kept for crash recovery.
        checkpoint_config=CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=space.metric,
                                           checkpoint_score_order=space.mode),
        sync_config=SyncConfig(sync_artifacts=True))


def run_sweep(settings: SweepSettings, *, worker: Callable[[dict], None] = trial_worker) -> SweepOutcome:
    """Validate everything, prepare the data, run the Tuner, write results.parquet and best.json."""
    space = build_space(settings)
    if settings.data and not Path(settings.data).is_dir():
        raise ConfigError(f"--data {settings.data}: no such folder")
    storage, name = _experiment_dir(settings)
    if not (settings.ray_address or os.environ.get("RAY_ADDRESS") or ray.is_initialized()):
        check_resources(scaling_config(settings), [this_machine()])  # before Ray starts: bad input stays one line
    _preflight(settings, space, storage, "--storage-path")
    space = with_backbone_folder(space)  # the synthetic pretrained backbone is built (once) only past the preflight
    prepared, fingerprint = prepare_data(settings, space)
    started = start_ray(settings.ray_address, settings.dashboard)
    try:
        fit = check_resources(scaling_config(settings), node_capacities())
        if settings.max_concurrent is None and not Path("~/ray_bootstrap_config.yaml").expanduser().is_file():
            settings = dataclasses.replace(settings, max_concurrent=fit)
        constants = {"prepared_dir": prepared, "seed": space.fixed.get("seed", settings.seed),
                     "select_metric": space.metric,  # the trial's best epoch, plateau and early stop use it too
                     "_prepare": {"data_dir": settings.data, "split": settings.split, "seed": settings.seed}}
        experiment = f"{storage}/{name}"
        _save_settings(experiment, settings, space, fingerprint)
        tuner = tune.Tuner(build_trainer(settings, worker), param_space=param_space(space, constants),
                           tune_config=tune_config(space, settings, experiment),
                           run_config=run_config(storage, name, space, settings))
        return _finish(tuner.fit(), experiment, space, settings)
    finally:
        if started:
            ray.shutdown()


def _save_settings(experiment: str, settings: SweepSettings, space: SearchSpace, fingerprint: str) -> None:
    if "://" not in experiment:
        Path(experiment).mkdir(parents=True, exist_ok=True)
    record = {"settings": dataclasses.asdict(settings), "data_fingerprint": fingerprint,
              "versions": package_versions(), "space": space.name}
    write_file(f"{experiment}/{SETTINGS_FILE}", json.dumps(record, indent=2, sort_keys=True, default=str).encode())


def resume_sweep(experiment_dir: str, ray_address: str | None = None, *, analysis: bool | None = None,
                 dashboard: bool | None = None, worker: Callable[[dict], None] = trial_worker) -> SweepOutcome:
    """Continue an interrupted sweep: finished trials kept, unfinished ones from their last checkpoint,
    the searcher's state (and its Optuna study, in the folder's optuna.db) restored by Tune."""
    path = experiment_dir if "://" in experiment_dir else str(Path(experiment_dir).expanduser().resolve())
    saved = read_file(f"{path}/{SETTINGS_FILE}")
    if saved is None or not tune.Tuner.can_restore(path):
        raise ConfigError(f"--resume {experiment_dir}: not a sweep experiment folder (no {SETTINGS_FILE} and "
                          "Tune experiment state there)")
    settings = load_settings(path, ray_address=ray_address, analysis=analysis, dashboard=dashboard)
    space = build_space(settings)
    _preflight(settings, space, path, "--resume")
    space = with_backbone_folder(space)
    started = start_ray(settings.ray_address, settings.dashboard)
    try:
        check_resources(scaling_config(settings), node_capacities())
        tuner = tune.Tuner.restore(path, trainable=build_trainer(settings, worker), resume_unfinished=True)
        return _finish(tuner.fit(), path, space, settings)
    finally:
        if started:
            ray.shutdown()


def load_settings(experiment: str, **changes) -> SweepSettings:
    """The settings a sweep saved in its sweep.json; keyword arguments that are not None replace them."""
    saved = json.loads(read_file(f"{experiment}/{SETTINGS_FILE}"))["settings"]
    known = {f.name for f in dataclasses.fields(SweepSettings)}
    return SweepSettings(**{k: v for k, v in saved.items() if k in known}
                         | {k: v for k, v in changes.items() if v is not None or k == "ray_address"})


def _finish(grid: tune.ResultGrid, experiment: str, space: SearchSpace, settings: SweepSettings) -> SweepOutcome:
    frame = results_frame(grid, space, settings.objectives)
    best = best_trial(frame, space, settings.objectives) | {"experiment_dir": experiment}
    results_path, best_path = write_outputs(experiment, frame, best)
    if not space.is_grid:
        abandoned = close_abandoned_trials(experiment)
        if abandoned:
            print(f"Optuna study: {abandoned} trial(s) left running by the interrupted sweep marked FAIL "
                  "(their Tune trials were asked for again)")
        optuna_plots(experiment, settings.objectives or (space.metric,))
    return SweepOutcome(experiment, results_path, best_path, frame, best)

