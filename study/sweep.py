"""`python -m study.sweep`: Ray Tune + Optuna + ASHA over the trainer, one Ray Train run per trial.

Ray path, chosen on purpose (README "Why Ray Train V1", docs/sweep.md): Ray Train V1 (`RAY_TRAIN_V2_ENABLED=0`)
with `Tuner(TorchTrainer(...))`, ray pinned at 2.60. V1 keeps `Result.checkpoint`, the trial's history and
`training_iteration` across `Tuner.restore`; the V2 pattern (a Train run inside a Tune function trial) loses
them there, and frees its placement groups only through the State API that the dashboard serves.
"""
from __future__ import annotations

import os
import sys

if "ray.train" in sys.modules and os.environ.get("RAY_TRAIN_V2_ENABLED") != "0":
    raise ImportError("study.sweep must be imported before ray.train (or run with RAY_TRAIN_V2_ENABLED=0): "
                      "ray.train picks its Train version at import and Tuner(TorchTrainer) needs V1")
# Read by ray.train at import, in this process and (inherited through ray.init) in every Ray worker.
os.environ["RAY_TRAIN_V2_ENABLED"] = "0"

import argparse  # noqa: E402
import warnings  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import tomllib  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import ray  # noqa: E402
import yaml  # noqa: E402
from ray import train, tune  # noqa: E402
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig, SyncConfig  # noqa: E402
from ray.train.torch import TorchTrainer  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402
from ray.tune.search.optuna import OptunaSearch  # noqa: E402

import search_spaces  # noqa: E402
from search_spaces import SWEEP_ONLY_KEYS, Choice, Float, Grid, Int, SearchSpace  # noqa: E402
from study.atomic import atomic_path  # noqa: E402
from study.errors import ConfigError, cli_entry  # noqa: E402
from study.optuna_study import (  # noqa: E402
    STUDY_FILE, close_abandoned_trials, optuna_plots, storage_url, study_storage,
)
from study.preflight import check_backbone, preflight  # noqa: E402
from study.pretrain import BACKBONE_NAME  # noqa: E402

SETTINGS_FILE = "sweep.json"
RESULTS_FILE = "results.parquet"
DECODE_KEYS = ("num_frames", "image_size", "frame_sampling", "resize")  # trial keys that shape the prepared clips
BEST_FILE = "best.json"
TRIAL_RECORD = "trial.json"
METRICS = ("val_ooo_acc", "val_rsa", "train_loss")
OBJECTIVES = ("val_ooo_acc", "val_rsa")  # maximised together by --objectives
_PREFIX = "train_loop_config"  # where Tuner(TorchTrainer) puts the trial's settings in its config
_TEST_ONLY_KEYS = {
    "_crash_at_epoch": "Testing: rank 0's process dies at the end of the epoch after this one, before reporting "
                       "it (0 = never), so FailureConfig must restore the trial from this epoch's checkpoint.",
    "_crash_times": "Testing: how many runs of a trial die that way (default 1; above --max-failures the trial "
                    "fails for good).",
}


def default_storage() -> str:
    return str(Path("runs").resolve())


@dataclass
class SweepSettings:
    """Everything one sweep needs besides the space's own declarations; saved as sweep.json for --resume."""
    space: str = field(default="smoke", metadata={"help": "Search space name (see --list-spaces)."})
    overrides: dict = field(default_factory=dict, metadata={
        "help": "Setting -> value, range {low, high, log}, {choice: [...]} or {grid: [...]}; wins over the space."})
    smoke: bool = field(default=False, metadata={"help": "Lay the smoke space's tiny sizes over the space."})
    num_samples: int | None = field(default=None, metadata={"help": "Trials (Optuna) or grid repeats."})
    workers_per_trial: int = field(default=1, metadata={"help": "Ray Train workers (DDP ranks) per trial."})
    cpus_per_worker: float = field(default=1.0, metadata={"help": "CPUs reserved per worker."})
    gpus_per_worker: float = field(default=0.0, metadata={"help": "GPUs per worker (0 = CPU training)."})
    storage_path: str = field(default_factory=default_storage, metadata={
        "help": "Local folder or s3://, gs:// URI for Tune's experiment folder (shared storage on a cluster)."})
    name: str | None = field(default=None, metadata={"help": "Experiment folder name (default space-time)."})
    data: str | None = field(default=None, metadata={"help": "Data folder (default: the synthetic benchmark)."})
    split: str = field(default="paper", metadata={"help": "Video split: 'paper' or 'random'."})
    seed: int = field(default=0, metadata={"help": "Seed of the searcher, the split and every trial."})
    objectives: tuple[str, ...] = field(default=(), metadata={
        "help": "Two or more metrics for multi-objective Optuna (all maximised); empty = the space's metric."})
    max_failures: int = field(default=2, metadata={"help": "Restarts of a failing trial from its checkpoint."})
    max_concurrent: int | None = field(default=None, metadata={"help": "Cap on concurrent trials."})
    ray_address: str | None = field(default=None, metadata={"help": "Existing Ray cluster (else RAY_ADDRESS, "
                                                                      "else a local Ray started here)."})
    analysis: bool = field(default=True, metadata={"help": "Evaluate the best trials when the sweep ends."})
    dashboard: bool = field(default=True, metadata={
        "help": "Start Ray's dashboard on 127.0.0.1 with a local Ray (its address is printed)."})
    top_k: int = field(default=1, metadata={"help": "How many best trials the analysis evaluates."})

    def __post_init__(self):
        for name in ("workers_per_trial", "top_k"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("num_samples", "max_concurrent"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0 or self.max_failures < 0:
            raise ConfigError(f"cpus_per_worker must be > 0, gpus_per_worker and max_failures >= 0; got "
                              f"{self.cpus_per_worker!r}, {self.gpus_per_worker!r}, {self.max_failures!r}")
        self.objectives = tuple(self.objectives)
        self.cpus_per_worker, self.gpus_per_worker = float(self.cpus_per_worker), float(self.gpus_per_worker)
        if set(self.objectives) - set(OBJECTIVES) or len(set(self.objectives)) == 1:
            raise ConfigError(f"objectives must be two or more of {OBJECTIVES}, got {list(self.objectives)!r}")
        if self.data:  # Ray workers run elsewhere (another cwd, another node): they need an absolute path
            self.data = str(Path(self.data).expanduser().resolve())
        if self.split not in ("paper", "random"):
            raise ConfigError(f"split must be 'paper' or 'random', got {self.split!r}")


@dataclass(frozen=True)
class SweepOutcome:
    """Where a finished sweep put its results, and the results themselves."""
    experiment_dir: str
    results_path: str
    best_path: str
    results: pd.DataFrame
    best: dict


# ----------------------------------------------------------------------------------------------- spaces
def known_keys() -> dict[str, str]:
    """Every setting a space, --set or a config file may name, with its help text."""
    from trainables.config import config_help

    return {**config_help(), **SWEEP_ONLY_KEYS, **_TEST_ONLY_KEYS}


def parse_value(text: str) -> Any:
    """Command-line value: JSON first (so 1e-4 is a float), then YAML (so {low: 1, high: 8} works)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return _numbers(yaml.safe_load(text))
    except yaml.YAMLError:
        return text


def _numbers(value: Any) -> Any:
    # YAML 1.1 reads 1e-4 as a string; a setting's number must not depend on how it was spelled.
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
            return parsed if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) else value
        except ValueError:
            return value
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return value


def load_config_file(path: str) -> tuple[dict, dict]:
    """A YAML or TOML file with optional tables `params` (setting -> value) and `sweep` (SweepSettings fields)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--config {path}: no such file")
    try:
        raw = tomllib.loads(file.read_text()) if file.suffix == ".toml" else yaml.safe_load(file.read_text())
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"--config {path}: cannot parse ({str(err).splitlines()[0]})") from None
    raw = _numbers(raw or {})
    if not isinstance(raw, dict) or set(raw) - {"params", "sweep"}:
        raise ConfigError(f"--config {path}: top level must hold only 'params' and 'sweep' tables, got "
                          f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
    sweep = raw.get("sweep", {})
    unknown = set(sweep) - {f.name for f in dataclasses.fields(SweepSettings)} | ({"overrides"} & set(sweep))
    if unknown:
        raise ConfigError(f"--config {path}: unknown sweep setting(s) {sorted(unknown)}")
    return raw.get("params", {}), sweep


def build_space(settings: SweepSettings) -> SearchSpace:
    """The named space, smoke sizes laid over it if asked, then the user's overrides; validated."""
    try:
        space = search_spaces.get(settings.space)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if settings.smoke:
        space = _override(space, search_spaces.SMOKE_SIZES)
    space = _override(space, settings.overrides)
    if settings.num_samples is not None:
        space = dataclasses.replace(space, num_samples=settings.num_samples)
    _validate_space(space)
    return space


def _override(space: SearchSpace, values: dict) -> SearchSpace:
    known = known_keys()
    fixed, params = dict(space.fixed), dict(space.params)
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown parameter {key!r} (value {value!r}); known: {', '.join(sorted(known))}")
        fixed.pop(key, None)
        params.pop(key, None)
        param = _as_param(key, value, grid=space.is_grid)
        (params if param is not None else fixed)[key] = param if param is not None else value
    # A point to evaluate keeps only the keys still searched: an override fixes the others.
    points = tuple({k: v for k, v in p.items() if k in params} for p in space.points_to_evaluate)
    try:
        return dataclasses.replace(space, fixed=fixed, params=params, points_to_evaluate=tuple(p for p in points if p))
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _as_param(key: str, value: Any, *, grid: bool):
    """A range, choice or grid from its written form; None for a fixed value."""
    try:
        if isinstance(value, list):
            return Grid(tuple(value)) if grid else Choice(tuple(value))
        if not isinstance(value, dict):
            return None
        if set(value) == {"choice"}:
            return Choice(tuple(value["choice"]))
        if set(value) == {"grid"}:
            return Grid(tuple(value["grid"]))
        if {"low", "high"} <= set(value) <= {"low", "high", "log"}:
            kind = Int if all(isinstance(value[k], int) for k in ("low", "high")) else Float
            return kind(value["low"], value["high"], bool(value.get("log", False)))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"parameter {key!r}: {err}") from None
    raise ConfigError(f"parameter {key!r}: cannot read {value!r}; write a value, a list, {{low, high, log}}, "
                      "{choice: [...]} or {grid: [...]}")


def _validate_space(space: SearchSpace) -> None:
    """Every corner the sweep can reach must make a valid TrainConfig; checked before any trial starts."""
    from trainables.config import TrainConfig

    for key in (*DECODE_KEYS, "backbone"):
        if key in space.params:
            raise ConfigError(f"parameter {key!r} must be fixed: the data are prepared once per sweep")
    if space.asha and "epochs" in space.params:
        raise ConfigError("parameter 'epochs' must be fixed when ASHA is on (it is ASHA's budget)")
    if space.fixed.get("select_metric", space.metric) != space.metric:  # one metric selects, prunes and ranks
        raise ConfigError(f"space {space.name!r}: select_metric {space.fixed['select_metric']!r} differs from the "
                          f"space's metric {space.metric!r}")
    for point in _corners(space):
        try:
            TrainConfig.from_dict(resolve_trial_config({**space.fixed, **point}))
        except ValueError as err:
            raise ConfigError(f"space {space.name!r}: {err}") from None
    check_backbone(_backbone(space), buildable=(BACKBONE_NAME,))


def _backbone(space: SearchSpace) -> str:
    from trainables.config import ModelConfig

    return str(space.fixed.get("backbone", ModelConfig().backbone))


def with_backbone_folder(space: SearchSpace) -> SearchSpace:
    """The space with the synthetic pretrained backbone's name replaced by its save_pretrained folder (built
    once, then cached: study.pretrain); any other backbone unchanged."""
    from study.pretrain import resolve_backbone

    backbone = space.fixed.get("backbone")
    folder = resolve_backbone(backbone, space.fixed.get("num_frames"), space.fixed.get("image_size")) \
        if backbone else backbone
    return space if folder == backbone else dataclasses.replace(space, fixed={**space.fixed, "backbone": folder})


def _corners(space: SearchSpace) -> list[dict]:
    """Each point to evaluate, then the low and high end (or every value) of each parameter in turn."""
    corners = [dict(p) for p in space.points_to_evaluate]
    for key, param in space.params.items():
        ends = (param.low, param.high) if isinstance(param, (Float, Int)) else param.values
        corners += [{key: value} for value in ends]
    return corners or [{}]


def resolve_trial_config(flat: dict) -> dict:
    """The trial's sampled settings -> the flat dict trainables reads (sweep-only keys resolved, dropped)."""
    resolved = {k: v for k, v in flat.items() if k not in SWEEP_ONLY_KEYS and k not in _TEST_ONLY_KEYS
                and not k.startswith("_")}
    if "lora_alpha_ratio" in flat:
        resolved["lora_alpha"] = float(flat["lora_alpha_ratio"]) * float(flat.get("lora_r", 8))
    return resolved


# ------------------------------------------------------------------------------------------ Tune objects
def _tune_domain(param):
    if isinstance(param, Float):
        return tune.loguniform(param.low, param.high) if param.log else tune.uniform(param.low, param.high)
    if isinstance(param, Int):  # Tune's randint excludes the upper end; ours includes it
        return tune.lograndint(param.low, param.high + 1) if param.log else tune.randint(param.low, param.high + 1)
    if isinstance(param, Choice):
        return tune.choice(list(param.values))
    return tune.grid_search(list(param.values))


def _tune_config(space: SearchSpace, settings: SweepSettings, experiment: str | None = None) -> tune.TuneConfig:
    """Optuna (seeded TPE, optionally multi-objective; its study stored in the experiment folder) or a grid,
    and ASHA on the per-epoch metric."""
    search_alg = None
    multi = bool(settings.objectives)
    if not space.is_grid:
        points = [{f"{_PREFIX}/{k}": v for k, v in p.items()} for p in space.points_to_evaluate]
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
                                  max_t=_epochs(space.fixed),
                                  grace_period=space.asha_grace_period,
                                  reduction_factor=space.asha_reduction_factor)
    return tune.TuneConfig(metric=None if multi else space.metric, mode=None if multi else space.mode,
                           search_alg=search_alg, scheduler=scheduler, num_samples=space.num_samples,
                           max_concurrent_trials=settings.max_concurrent, trial_dirname_creator=trial_dirname)


def _epochs(config: dict) -> int:
    """A trial's epoch budget: its setting, else the trainer's default."""
    from trainables.config import OptimConfig

    return int(config.get("epochs", OptimConfig().epochs))


def trial_dirname(trial) -> str:
    """Short trial folder names: Tune's default packs every constant of the config into the name."""
    return f"trial_{trial.trial_id}"


def _param_space(space: SearchSpace, constants: dict) -> dict:
    loop_config = {**space.fixed, **constants, **{k: _tune_domain(p) for k, p in space.params.items()}}
    return {_PREFIX: loop_config}


def _scaling(settings: SweepSettings) -> ScalingConfig:
    resources = {"CPU": settings.cpus_per_worker} | ({"GPU": settings.gpus_per_worker}
                                                     if settings.gpus_per_worker else {})
    # The trainer actor only coordinates; reserving a CPU for it would halve concurrency on a laptop.
    return ScalingConfig(num_workers=settings.workers_per_trial, use_gpu=settings.gpus_per_worker > 0,
                         resources_per_worker=resources, trainer_resources={"CPU": 0})


# ----------------------------------------------------------------------------------------------- Ray
WORKER_ENV = ("RAY_TRAIN_V2_ENABLED", "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "PYTHONWARNINGS")


def _start_ray(address: str | None, dashboard: bool = True) -> bool:
    """Connect to a given or RAY_ADDRESS cluster, else start a local Ray sized to this machine, its dashboard
    on 127.0.0.1 only. Prints the dashboard's address. True if started here."""
    if ray.is_initialized():
        return False
    # What the command entry set for this process reaches every worker, on this node or another.
    env_vars = {k: os.environ[k] for k in WORKER_ENV if k in os.environ} | {"RAY_TRAIN_V2_ENABLED": "0"}
    runtime_env = {"env_vars": env_vars}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        context = ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        context = ray.init(address="local", num_cpus=_local_cpus(), include_dashboard=dashboard,
                           dashboard_host="127.0.0.1", runtime_env=runtime_env)
    if context.dashboard_url:
        print(f"Ray dashboard: http://{context.dashboard_url}", flush=True)
    return not address


def _local_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _this_machine() -> dict:
    """What a local Ray started here will offer (Ray detects the same CPUs and CUDA GPUs)."""
    import torch

    return {"CPU": float(_local_cpus()), "GPU": float(torch.cuda.device_count())}


def node_capacities() -> list[dict]:
    """CPU/GPU of each alive node, plus each autoscaling node type declared in the launcher's bootstrap config."""
    nodes = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]
    bootstrap = Path("~/ray_bootstrap_config.yaml").expanduser()  # written by `ray up` on the head node
    if bootstrap.is_file():
        types = (yaml.safe_load(bootstrap.read_text()) or {}).get("available_node_types", {})
        nodes += [dict(t.get("resources", {}), _max_workers=t.get("max_workers", 0)) for t in types.values()]
    return nodes


def check_resources(scaling: ScalingConfig, nodes: list[dict]) -> int:
    """Fail now, with the numbers, if a trial can never be placed; return how many trials fit at once."""
    bundle = scaling.resources_per_worker or {"CPU": 1}
    fits = [min(math.floor(n.get(k, 0) / v + 1e-9) for k, v in bundle.items() if v > 0) for n in nodes]
    capacity = sum(f * max(1, n.get("_max_workers", 1)) for f, n in zip(fits, nodes))
    if max(fits, default=0) < 1 or capacity < scaling.num_workers:
        have = [{k: n.get(k, 0) for k in ("CPU", "GPU")} for n in nodes]
        raise ConfigError(f"a trial needs {scaling.num_workers} worker(s) x {bundle}, which this Ray cluster "
                          f"can never place (nodes: {have}); lower --workers-per-trial, --cpus-per-worker or "
                          "--gpus-per-worker")
    return capacity // scaling.num_workers


# --------------------------------------------------------------------------------------- inside a trial
def _trial_worker(config: dict) -> None:
    """Ray Train worker: record the trial, optionally inject a crash, then run the trainer's loop."""
    from trainables.loop import train_loop_per_worker

    context = train.get_context()
    settings = resolve_trial_config(config)
    settings["prepared_dir"] = _ensure_prepared(config)
    if context.get_world_rank() == 0:
        _write_trial_record(context.get_trial_dir(), config, settings)
    if config.get("_crash_at_epoch") and context.get_world_rank() == 0:
        _arm_crash(int(config["_crash_at_epoch"]), int(config.get("_crash_times", 1)),
                   Path(context.get_trial_dir()) / "crash-injected")
    train_loop_per_worker(settings)


def _ensure_prepared(config: dict) -> str:
    # On a multi-node cluster the driver's prepared folder is on the head's disk; rebuild the same folder here.
    prepared = config["prepared_dir"]
    if Path(prepared, "meta.json").is_file():
        return prepared
    from study.clips import DecodeSettings
    from study.prepare import prepare_dataset

    spec = config["_prepare"]
    decode = DecodeSettings(**{k: config[k] for k in DECODE_KEYS if k in config})
    return str(prepare_dataset(_data_dir(spec["data_dir"]), split=spec["split"], seed=spec["seed"],
                               decode=decode))


def _write_trial_record(trial_dir: str, config: dict, settings: dict) -> None:
    from trainables.config import TrainConfig

    meta = json.loads(Path(settings["prepared_dir"], "meta.json").read_text())
    record = {"config": TrainConfig.from_dict(settings).to_dict(), "sampled": config,
              "seed": settings.get("seed"), "data_fingerprint": meta.get("data_fingerprint"),
              "node_id": ray.get_runtime_context().get_node_id(), "hostname": platform.node(),
              "versions": package_versions()}
    _atomic_write(Path(trial_dir) / TRIAL_RECORD, json.dumps(record, indent=2, sort_keys=True, default=str))


def _arm_crash(epoch: int, times: int, marker: Path) -> None:
    """Kill this worker process when it is about to report epoch `epoch + 1`, on the first `times` runs of the
    trial (the marker file counts them). Dying a whole epoch after epoch `epoch`'s report means Tune surely
    holds that checkpoint, so a correct restart resumes from it rather than from scratch."""
    real_report = train.report

    def report(metrics, *args, **kwargs):
        crashes = len(marker.read_text().splitlines()) if marker.exists() else 0
        if metrics.get("epoch") == epoch + 1 and crashes < times:
            with marker.open("a") as out:
                out.write(f"crashed on purpose after epoch {epoch}\n")
            os._exit(1)
        real_report(metrics, *args, **kwargs)
        # Our own record of what each run reported: Tune's result.json is re-synced from storage when a trial
        # restarts, so on a local disk it can lose lines that a correct restore did report.
        with marker.with_name("reported-epochs").open("a") as out:
            out.write(f"{metrics.get('epoch')}\n")

    train.report = report


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("torch", "ray", "transformers", "peft", "optuna", "numpy", "social-align-study"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


# ---------------------------------------------------------------------------------------------- data
def _data_dir(data: str | None) -> Path:
    if data:
        return Path(data)
    from study.synthetic import ensure_benchmark

    return Path(ensure_benchmark())


def prepare_data(settings: SweepSettings, space: SearchSpace) -> tuple[str, str]:
    """Prepare (or reuse) the folder trials train on; returns (prepared_dir, data fingerprint)."""
    from study.clips import DecodeSettings
    from study.prepare import prepare_dataset
    from trainables.config import ModelConfig

    fixed = {**dataclasses.asdict(ModelConfig()), **space.fixed}  # what the trials will check the clips against
    decode = DecodeSettings(**{k: fixed[k] for k in DECODE_KEYS})
    prepared = prepare_dataset(_data_dir(settings.data), split=settings.split, seed=settings.seed, decode=decode)
    meta = json.loads((Path(prepared) / "meta.json").read_text())
    return str(prepared), meta.get("data_fingerprint", "")


# ------------------------------------------------------------------------------------------- results
def results_frame(grid: tune.ResultGrid, space: SearchSpace, objectives: tuple[str, ...] = ()) -> pd.DataFrame:
    """One flat row per trial: status, config, final and best metrics, epochs run, wall time, checkpoint."""
    rows = [_result_row(result, space) for result in grid]
    frame = pd.DataFrame(rows)
    if objectives and len(frame):
        values = frame[[f"best_{m}" for m in objectives]].to_numpy(dtype=float)
        frame["pareto"] = pareto_mask(values)
    return frame.sort_values("trial_id", ignore_index=True) if len(frame) else frame


def _result_row(result, space: SearchSpace) -> dict:
    metrics = result.metrics or {}
    history = result.metrics_dataframe if result.metrics_dataframe is not None else pd.DataFrame()
    if not len(history) and "epoch" in metrics:  # Tune can lose a failed trial's history, not its last result
        history = pd.DataFrame([metrics])
    config = result.config.get(_PREFIX, {})
    epochs = int(history["epoch"].max()) if "epoch" in history and len(history) else 0
    max_epochs = _epochs(config)
    record = _read_record(result)
    row = {"trial_id": metrics.get("trial_id") or Path(result.path).name.split("_")[-1],
           "status": "ERROR" if result.error else "TERMINATED",
           "stopped_early": bool(result.error is None and epochs < max_epochs),
           "error": _one_line(result.error), "epochs_run": epochs,
           "time_total_s": float(metrics.get("time_total_s", np.nan)),
           **_span(history),
           "checkpoint_path": _best_checkpoint(result, space),
           "trial_dir": result.path, "selection_metric": space.metric,
           "data_fingerprint": record.get("data_fingerprint"),
           "node_id": record.get("node_id"), "hostname": record.get("hostname")}
    row |= {f"config/{k}": v for k, v in sorted(resolve_trial_config(config).items()) if k != "prepared_dir"}
    row |= {f"config/{k}": config[k] for k in {**SWEEP_ONLY_KEYS, **_TEST_ONLY_KEYS} if k in config}
    for name in METRICS:
        column = history[name] if name in history else pd.Series(dtype=float)
        row[f"final_{name}"] = float(column.iloc[-1]) if len(column) else np.nan
        row[f"best_{name}"] = float(column.max() if name != "train_loss" else column.min()) if len(column) \
            else np.nan
    return row


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
    # Stable: ties go to the lower trial_id, the order analysis.run_analysis ranks by too.
    ranked = frame.dropna(subset=[column]).sort_values(column, ascending=space.mode == "min", kind="stable")
    if not len(ranked):
        return {"metric": space.metric, "mode": space.mode, "trial_id": None}
    top = ranked.iloc[0]
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
    write_file(results_path, buffer.getvalue().to_pybytes())
    write_file(best_path, json.dumps(best, indent=2, sort_keys=True, default=str).encode())
    return results_path, best_path


def write_file(target: str, data: bytes) -> None:
    """A local file via a temporary name and a rename; a URI (s3://, gs://) as one object put, atomic itself."""
    if "://" in target:
        import pyarrow.fs

        filesystem, path = pyarrow.fs.FileSystem.from_uri(target)
        with filesystem.open_output_stream(path) as out:
            out.write(data)
        return
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def read_file(source: str) -> bytes | None:
    """A local file's or a URI's bytes; None when it is not there."""
    try:
        if "://" in source:
            import pyarrow.fs

            filesystem, path = pyarrow.fs.FileSystem.from_uri(source)
            with filesystem.open_input_stream(path) as stream:
                return stream.read()
        return Path(source).read_bytes()
    except (OSError, FileNotFoundError):
        return None


def _atomic_write(path: Path, text: str) -> None:
    write_file(str(path), text.encode())


# ------------------------------------------------------------------------------------------ the sweep
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
    report = preflight(_data_dir(settings.data), split=settings.split, seed=settings.seed,
                       analysis=settings.analysis, backbone=_backbone(space), storage=storage,
                       storage_setting=setting, buildable=(BACKBONE_NAME,))
    print(report.line(), flush=True)


def _trainer(settings: SweepSettings, worker: Callable = _trial_worker) -> TorchTrainer:
    return TorchTrainer(worker, scaling_config=_scaling(settings))


def _run_config(storage: str, name: str, space: SearchSpace, settings: SweepSettings) -> RunConfig:
    return RunConfig(
        name=name, storage_path=storage, verbose=1, callbacks=[_EpochLines()],
        failure_config=FailureConfig(max_failures=settings.max_failures),
        # The best checkpoint is evaluated later; the latest is always kept for crash recovery.
        checkpoint_config=CheckpointConfig(num_to_keep=2, checkpoint_score_attribute=space.metric,
                                           checkpoint_score_order=space.mode),
        sync_config=SyncConfig(sync_artifacts=True))


def run_sweep(settings: SweepSettings) -> SweepOutcome:
    """Validate everything, prepare the data, run the Tuner, write results.parquet and best.json."""
    space = build_space(settings)
    if settings.data and not Path(settings.data).is_dir():
        raise ConfigError(f"--data {settings.data}: no such folder")
    storage, name = _experiment_dir(settings)
    if not (settings.ray_address or os.environ.get("RAY_ADDRESS") or ray.is_initialized()):
        check_resources(_scaling(settings), [_this_machine()])  # before Ray starts: bad input stays one line
    _preflight(settings, space, storage, "--storage-path")
    space = with_backbone_folder(space)  # the synthetic pretrained backbone is built (once) only past the preflight
    prepared, fingerprint = prepare_data(settings, space)
    started = _start_ray(settings.ray_address, settings.dashboard)
    try:
        fit = check_resources(_scaling(settings), node_capacities())
        if settings.max_concurrent is None and not Path("~/ray_bootstrap_config.yaml").expanduser().is_file():
            settings = dataclasses.replace(settings, max_concurrent=fit)
        constants = {"prepared_dir": prepared, "seed": space.fixed.get("seed", settings.seed),
                     "select_metric": space.metric,  # the trial's best epoch, plateau and early stop use it too
                     "_prepare": {"data_dir": settings.data, "split": settings.split, "seed": settings.seed}}
        experiment = f"{storage}/{name}"
        _save_settings(experiment, settings, space, fingerprint)
        tuner = tune.Tuner(_trainer(settings), param_space=_param_space(space, constants),
                           tune_config=_tune_config(space, settings, experiment),
                           run_config=_run_config(storage, name, space, settings))
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
                 dashboard: bool | None = None) -> SweepOutcome:
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
    started = _start_ray(settings.ray_address, settings.dashboard)
    try:
        check_resources(_scaling(settings), node_capacities())
        tuner = tune.Tuner.restore(path, trainable=_trainer(settings), resume_unfinished=True)
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


# ------------------------------------------------------------------------------------------ command
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m study.sweep", description=__doc__.splitlines()[0])
    p.add_argument("--list-spaces", action="store_true", help="List the named search spaces and exit.")
    p.add_argument("--space", help="Search space name (default smoke).")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="Override a setting: a value, a list, {low: .., high: .., log: ..}, {choice: [..]}, "
                        "{grid: [..]}. Repeatable; wins over --config.")
    p.add_argument("--config", help="YAML or TOML file with `params` and/or `sweep` tables.")
    p.add_argument("--smoke", action="store_true", default=None, help="Tiny sizes over the chosen space.")
    for flag, kind in (("--num-samples", int), ("--workers-per-trial", int), ("--cpus-per-worker", float),
                       ("--gpus-per-worker", float), ("--storage-path", str), ("--name", str), ("--data", str),
                       ("--split", str), ("--seed", int), ("--max-failures", int), ("--max-concurrent", int),
                       ("--ray-address", str), ("--top-k", int)):
        help_text = _field_help(flag[2:].replace("-", "_"))
        p.add_argument(flag, type=kind, help=help_text)
    p.add_argument("--objectives", help="Comma-separated metrics for multi-objective Optuna, e.g. "
                                        "val_ooo_acc,val_rsa.")
    p.add_argument("--no-analysis", dest="analysis", action="store_false", default=None,
                   help="Skip evaluating the best trial at the end (the test videos, captions and annotations "
                        "are then not checked either).")
    p.add_argument("--no-dashboard", dest="dashboard", action="store_false", default=None,
                   help="Start the local Ray without its dashboard (faster start; tests use it).")
    p.add_argument("--resume", metavar="DIR", help="Continue the interrupted sweep in DIR.")
    return p


def _field_help(name: str) -> str:
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(SweepSettings)}.get(name, "")


def settings_from_args(args: argparse.Namespace) -> SweepSettings:
    """Space < config file < --set for parameters; config file < flags for sweep settings."""
    params, sweep = load_config_file(args.config) if args.config else ({}, {})
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: write KEY=VALUE")
        params[key.strip()] = parse_value(text)
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(SweepSettings)
             if getattr(args, f.name, None) is not None and f.name != "objectives"}
    if args.objectives:
        flags["objectives"] = tuple(m.strip() for m in args.objectives.split(",") if m.strip())
    if "objectives" in sweep:
        sweep["objectives"] = tuple(sweep["objectives"])
    try:
        return SweepSettings(**{**sweep, **flags, "overrides": params})
    except TypeError as err:
        raise ConfigError(str(err)) from None


def _print_spaces() -> None:
    for name in search_spaces.names():
        space = search_spaces.get(name)
        searched = ", ".join(space.params) or "-"
        print(f"{name:8s} {space.description}\n{'':8s} searched: {searched}; {space.num_samples} "
              f"{'grid repeat(s)' if space.is_grid else 'trials'}")


def _report(outcome: SweepOutcome) -> None:
    best, frame = outcome.best, outcome.results
    failed = int((frame["status"] == "ERROR").sum()) if len(frame) else 0
    early = int(frame["stopped_early"].sum()) if len(frame) else 0
    print(f"\n{len(frame)} trials: {len(frame) - failed} finished ({early} stopped early by ASHA), {failed} failed")
    print(f"best trial: {best.get('trial_id')} {best['metric']}={best.get('value', float('nan')):.4f}")
    print(f"best config: {json.dumps(best.get('config', {}), sort_keys=True, default=str)}")
    print(f"best checkpoint: {best.get('checkpoint')}")
    if "pareto_front" in best:
        print(f"Pareto front ({', '.join(best['objectives'])}): {best['pareto_front']}")
    print(f"results: {outcome.results_path}\nbest:    {outcome.best_path}\nTune experiment: "
          f"{outcome.experiment_dir}")
    print(f'load them: python -c "import pandas as pd; print(pd.read_parquet(\'{outcome.results_path}\'))"')
    url = storage_url(outcome.experiment_dir)
    if url and Path(outcome.experiment_dir, STUDY_FILE).is_file():  # Optuna spaces only, local storage only
        print(f"Optuna study: {url} (optuna-dashboard {url}; plots in {outcome.experiment_dir}/optuna)")
    print(f"TensorBoard: tensorboard --logdir {outcome.experiment_dir}")


def _analyse(outcome: SweepOutcome, top_k: int) -> bool:
    """Evaluate the best trial(s). On failure the sweep's results stay as they are, the command that reruns
    the analysis is printed, and False is returned (the command then exits 1)."""
    try:
        import analysis

        table = analysis.run_analysis(outcome.experiment_dir, top_k)
        print(analysis.main_table(table))
        print(f"analysis report: {outcome.experiment_dir}/analysis/report.md (metrics.parquet and plots beside it)")
        return True
    except Exception as err:  # noqa: BLE001 - the sweep's results must survive an analysis bug
        message = str(err).strip().splitlines()
        print(f"error: analysis of the best trial failed ({type(err).__name__}: {message[-1] if message else ''}); "
              f"sweep results kept in {outcome.experiment_dir}\nrerun the analysis: python -m analysis "
              f"{outcome.experiment_dir} --top-k {top_k}", file=sys.stderr)
        return False


def _quiet_warnings() -> None:
    """Silence notices a user of this command cannot act on, here and (through the environment, which
    _start_ray passes on) in every Ray worker. Each is named exactly; every other warning still shows."""
    # Ray Train V1 is our deliberate choice (README "Why Ray Train V1"): Ray's "Passing a Trainer to the
    # Tuner is deprecated" and the train context's get_trial_dir deprecation are migration notices for it.
    os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")
    # PEFT reads transformers' deprecated `is_gradient_checkpointing` property when it wraps the backbone;
    # the FutureWarning is about PEFT's code, not ours, and came once from every worker of every trial.
    ignore = "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    # Optuna marks its matplotlib plots experimental; the sweep's two plots are written with them on purpose.
    from optuna.exceptions import ExperimentalWarning

    warnings.filterwarnings("ignore", category=ExperimentalWarning, message=r"optuna\.visualization\.matplotlib")
    current = os.environ.get("PYTHONWARNINGS", "")
    if ignore not in current:
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [current, ignore]))


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list_spaces:
        _print_spaces()
        return 0
    _quiet_warnings()
    if args.resume:
        outcome = resume_sweep(args.resume, args.ray_address, analysis=args.analysis, dashboard=args.dashboard)
        settings = load_settings(outcome.experiment_dir, analysis=args.analysis)
    else:
        settings = settings_from_args(args)
        outcome = run_sweep(settings)
    _report(outcome)
    if settings.analysis and outcome.best.get("checkpoint") and not _analyse(outcome, settings.top_k):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
