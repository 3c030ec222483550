"""The sweep itself: Tune's objects (search domains, Optuna or a grid, ASHA, run settings), the per-trial
TorchTrainer around the worker function, and the Tuner that runs them (`run_sweep`, `resume_sweep`).

Ray path, chosen on purpose (README "Why Ray Train V1", docs/sweep.md): Ray Train V1 (`RAY_TRAIN_V2_ENABLED=0`,
set by study.sweep.train_v1 before this module imports Ray) with `Tuner(TorchTrainer(...))`,
ray pinned at 2.60. V1 keeps `Result.checkpoint`, the trial's history and `training_iteration` across
`Tuner.restore`; the V2 pattern (a Train run inside a Tune function trial) loses them there, and frees its
placement groups only through the State API that the dashboard serves.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Callable

import study.sweep.train_v1  # noqa: F401 - first: ray.train reads RAY_TRAIN_V2_ENABLED when imported

import ray
from ray import tune
from ray.train import CheckpointConfig, FailureConfig, RunConfig, SyncConfig
from ray.train.torch import TorchTrainer
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from search_spaces import Choice, Float, Int, SearchSpace
from common.errors import ConfigError
from common.storage import tune_filesystem, write_bytes
from study.optuna_study import close_abandoned_trials, optuna_plots, study_storage
from study.sweep.console import TrialLines, quiet_console
from study.sweep.diskfull import DiskGuard, fit_guarded, full_disk_stops
from study.sweep.interrupt import SweepInterrupted, hangup_deferred, interruptible, ray_start_stopped
from study.sweep.overrides import epoch_budget, with_backbone_folder
from study.sweep.plan import SweepPlan, plan_resume, plan_sweep
from study.sweep.replicates import run_replicates
from study.sweep.resources import check_resources, node_capacities, scaling_config, start_ray
from study.sweep.results import best_trial, results_frame, write_outputs
from study.sweep.signer import StateSigner, signing
from study.sweep.settings import SETTINGS_FILE, TRIAL_CONFIG_KEY, SweepOutcome, SweepSettings
from study.sweep.trial import TrialData, package_versions, prepare_data, trial_worker


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


_EpochLines = TrialLines  # the name tuner.pkl files written before study.sweep.console still unpickle


def build_trainer(settings: SweepSettings, worker: Callable[..., None] = trial_worker,
                  data: TrialData | None = None) -> TorchTrainer:
    """The per-trial driver: one Ray Train run of `worker(config, data)` on the trial's workers (tests pass
    their own worker)."""
    if os.environ.get("RAY_TRAIN_V2_ENABLED") != "0":
        raise RuntimeError("Tuner(TorchTrainer) needs Ray Train V1: set RAY_TRAIN_V2_ENABLED=0 or leave it unset "
                           f"(it is {os.environ.get('RAY_TRAIN_V2_ENABLED')!r}; study.sweep chooses V1 when unset)")
    return TorchTrainer(functools.partial(worker, data=data), scaling_config=scaling_config(settings))


def run_config(storage: str, name: str, space: SearchSpace, settings: SweepSettings) -> RunConfig:
    return RunConfig(
        name=name, storage_path=storage, storage_filesystem=tune_filesystem(storage),
        verbose=2 if settings.verbose else 0,
        callbacks=[TrialLines(epoch_budget(space.fixed)), StateSigner(), DiskGuard()],
        failure_config=FailureConfig(max_failures=settings.max_failures),
        # The best checkpoint is evaluated later; the latest is always kept for crash recovery.
        checkpoint_config=CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=space.metric,
                                           checkpoint_score_order=space.mode),
        sync_config=SyncConfig(sync_artifacts=True))


def run_sweep(settings: SweepSettings, *, worker: Callable[..., None] = trial_worker,
              plan: SweepPlan | None = None) -> SweepOutcome:
    """Validate everything (unless the command did: `plan`), prepare the data, run the Tuner, write
    results.parquet and best.json."""
    plan = plan or plan_sweep(settings)
    try:
        space = with_backbone_folder(plan.space)  # the synthetic pretrained backbone is built once, past the checks
        prepared = prepare_data(settings, space)
        with interruptible() as interrupts, full_disk_stops(plan.experiment):
            return _run_tuner(settings, plan, space, prepared, worker, interrupts)
    finally:
        if plan.lock is not None:
            plan.lock.release()


def _run_tuner(settings: SweepSettings, plan: SweepPlan, space: SearchSpace, prepared: tuple[TrialData, str, str],
               worker: Callable[..., None], interrupts) -> SweepOutcome:
    """prepared: prepare_data's (what the folder was made from, the folder, the data fingerprint)."""
    data, folder, fingerprint = prepared
    quiet_console(plan.experiment, settings.verbose)
    started = not ray.is_initialized()  # until start_ray answers: a stop during it shuts down what it began
    try:
        with hangup_deferred(), ray_start_stopped():
            started = start_ray(settings.ray_address, settings.dashboard, verbose=settings.verbose)
        interrupts.raise_pending()
        fit = check_resources(scaling_config(settings), node_capacities())
        if settings.max_concurrent is None and not Path("~/ray_bootstrap_config.yaml").expanduser().is_file():
            settings = dataclasses.replace(settings, max_concurrent=fit)
        constants = {"prepared_dir": folder, "seed": space.fixed.get("seed", settings.seed),
                     "select_metric": space.metric}  # the trial's best epoch, plateau and early stop use it too
        _save_settings(plan.experiment, settings, space, fingerprint)
        with signing(plan.experiment):  # tuner.pkl and Tune's state: signed as this user's (study.sweep.trust)
            tuner = tune.Tuner(build_trainer(settings, worker, data), param_space=param_space(space, constants),
                               tune_config=tune_config(space, settings, plan.experiment),
                               run_config=run_config(plan.storage, plan.name, space, settings))
            grid = fit_guarded(tuner, interrupts, plan.experiment)
            replicates = _replicate(grid, settings, plan, space, build_trainer(settings, worker, data), interrupts)
        return _finish(grid, replicates, plan.experiment, space, settings)
    finally:
        if started:
            ray.shutdown()


def _save_settings(experiment: str, settings: SweepSettings, space: SearchSpace, fingerprint: str) -> None:
    if "://" not in experiment:
        Path(experiment).mkdir(parents=True, exist_ok=True)
    record = {"settings": dataclasses.asdict(settings), "data_fingerprint": fingerprint,
              "versions": package_versions(), "space": space.name}
    write_bytes(f"{experiment}/{SETTINGS_FILE}", json.dumps(record, indent=2, sort_keys=True, default=str).encode())


def resume_sweep(experiment_dir: str, ray_address: str | None = None, *, analysis: bool | None = None,
                 dashboard: bool | None = None, worker: Callable[..., None] = trial_worker,
                 checked: tuple[SweepSettings, SweepPlan] | None = None) -> SweepOutcome:
    """Continue an interrupted sweep: finished trials kept, unfinished ones from their last checkpoint,
    the searcher's state (and its Optuna study, in the folder's optuna.db) restored by Tune. Tune's restore
    unpickles the folder's tuner.pkl: plan_resume refuses a folder this user does not alone control."""
    settings, plan = checked or plan_resume(experiment_dir, ray_address=ray_address, analysis=analysis,
                                            dashboard=dashboard)
    try:
        if not tune.Tuner.can_restore(plan.experiment):
            raise ConfigError(f"--resume {experiment_dir}: not a sweep experiment folder (no {SETTINGS_FILE} and "
                              "Tune experiment state there)")
        with full_disk_stops(plan.experiment):
            return _resume_tuner(settings, plan, worker)
    finally:
        if plan.lock is not None:
            plan.lock.release()


def _resume_tuner(settings: SweepSettings, plan: SweepPlan, worker: Callable[..., None]) -> SweepOutcome:
    space = with_backbone_folder(plan.space)
    quiet_console(plan.experiment, settings.verbose)
    with interruptible() as interrupts:
        started = not ray.is_initialized()  # as in _run_tuner
        try:
            with hangup_deferred(), ray_start_stopped():
                started = start_ray(settings.ray_address, settings.dashboard, verbose=settings.verbose)
            interrupts.raise_pending()
            check_resources(scaling_config(settings), node_capacities())
            data = TrialData.for_sweep(settings, space)
            with signing(plan.experiment):
                tuner = tune.Tuner.restore(plan.experiment, trainable=build_trainer(settings, worker, data),
                                           resume_unfinished=True, storage_filesystem=tune_filesystem(plan.experiment))
                grid = fit_guarded(tuner, interrupts, plan.experiment)
                replicates = _replicate(grid, settings, plan, space, build_trainer(settings, worker, data),
                                        interrupts)
            return _finish(grid, replicates, plan.experiment, space, settings)
        finally:
            if started:
                ray.shutdown()


def _replicate(grid: tune.ResultGrid, settings: SweepSettings, plan: SweepPlan, space: SearchSpace,
               trainer: TorchTrainer, interrupts) -> tune.ResultGrid | None:
    """The replication stage (study.sweep.replicates) on the finished search; None when it is off. A Ctrl-C
    between the two stages (no Tune loop running) leaves a finished search: resumable like one inside a stage."""
    try:
        return run_replicates(results_frame(grid, space), grid, settings, plan, space, trainer, interrupts)
    except KeyboardInterrupt:
        raise SweepInterrupted(plan.experiment) from None


def _finish(grid: tune.ResultGrid, replicates: tune.ResultGrid | None, experiment: str, space: SearchSpace,
            settings: SweepSettings) -> SweepOutcome:
    frame = results_frame(grid, space, settings.objectives, replicates)
    best = best_trial(frame, space, settings.objectives) | {"experiment_dir": experiment}
    results_path, best_path = write_outputs(experiment, frame, best)
    if not space.is_grid:
        abandoned = close_abandoned_trials(experiment)
        if abandoned:
            print(f"Optuna study: {abandoned} trial(s) asked for but never told a result by Tune (a sweep killed "
                  "after its last snapshot, or a restored worker) marked FAIL")
        optuna_plots(experiment, settings.objectives or (space.metric,))
    return SweepOutcome(experiment, results_path, best_path, frame, best)

