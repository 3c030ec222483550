"""The sweep's settings: SweepSettings (saved as sweep.json for --resume), each checked as it is made; the
file names a sweep writes and the whole-or-nothing writes of them to a local folder or a bucket; the config
file (`--config`, YAML or TOML) and command-line values that fill them. Light on purpose: no Ray, no torch."""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.errors import ConfigError

SETTINGS_FILE = "sweep.json"
RESULTS_FILE = "results.parquet"
BEST_FILE = "best.json"
TRIAL_RECORD = "trial.json"
METRICS = ("val_ooo_acc", "val_rsa", "train_loss")
OBJECTIVES = ("val_ooo_acc", "val_rsa")  # maximised together by --objectives
TRIAL_CONFIG_KEY = "train_loop_config"  # where Tuner(TorchTrainer) puts the trial's settings in its config


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
    replicates: int | None = field(default=None, metadata={
        "help": "Fresh seeds each selected configuration is trained again on after the search (0: none; default: "
                "the space's, 3 for every shipped space)."})
    max_failures: int = field(default=2, metadata={"help": "Restarts of a failing trial from its checkpoint."})
    max_concurrent: int | None = field(default=None, metadata={"help": "Cap on concurrent trials."})
    ray_address: str | None = field(default=None, metadata={"help": "Existing Ray cluster (else RAY_ADDRESS, "
                                                                      "else a local Ray started here)."})
    analysis: bool = field(default=True, metadata={"help": "Evaluate the best trials when the sweep ends."})
    dashboard: bool = field(default=True, metadata={
        "help": "Start Ray's dashboard on 127.0.0.1 with a local Ray (its address is printed)."})
    top_k: int = field(default=1, metadata={"help": "How many best trials the analysis evaluates."})
    verbose: bool = field(default=False, metadata={
        "help": "Ray's and Tune's full output on the console (default: the sweep's own lines; Ray's log in "
                "EXPERIMENT/ray.log, each worker's in its trial folder)."})

    def __post_init__(self):
        for name, low in (("workers_per_trial", 1), ("top_k", 1), ("max_failures", 0)):
            _integer(name, getattr(self, name), low)
        if self.replicates is not None:
            _integer("replicates", self.replicates, 0)
        for name in ("num_samples", "max_concurrent"):
            if getattr(self, name) is not None:
                _integer(name, getattr(self, name), 1)
        _integer("seed", self.seed, 0, SEED_MAX)  # numpy's and Optuna's seeds are unsigned 32-bit
        self.cpus_per_worker = _number("cpus_per_worker", self.cpus_per_worker, low=0.0, open_low=True)
        self.gpus_per_worker = _number("gpus_per_worker", self.gpus_per_worker, low=0.0)
        self.objectives = tuple(self.objectives)
        if set(self.objectives) - set(OBJECTIVES) or len(set(self.objectives)) == 1:
            raise ConfigError(f"objectives must be two or more of {OBJECTIVES}, got {list(self.objectives)!r}")
        if self.name is not None:
            check_plain_name(self.name)
        if self.data:  # Ray workers run elsewhere (another cwd, another node): they need an absolute path
            self.data = str(Path(self.data).expanduser().resolve())
        if self.split not in ("paper", "random"):
            raise ConfigError(f"split must be 'paper' or 'random', got {self.split!r}")


SEED_MAX = 2**32 - 1
NAME_MAX = 255


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _integer(name: str, value: Any, low: int, high: int | None = None) -> None:
    """A whole number in [low, high]; a bool, a float or a string is refused, naming the flag."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{_flag(name)} {value!r}: must be a whole number {bound}")


def _number(name: str, value: Any, *, low: float, open_low: bool = False) -> float:
    """A finite number above `low` (or at it, unless open_low); NaN and inf refused, naming the flag."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < low or (open_low and value == low):
        raise ConfigError(f"{_flag(name)} {value!r}: must be a finite number {'>' if open_low else '>='} {low:g}")
    return float(value)


def check_plain_name(name: str) -> None:
    """An experiment name is one folder name: no separator, no `..`, not absolute, not hidden or empty."""
    if not isinstance(name, str) or not name.strip() or name in (".", "..") or name.startswith(".") \
            or "/" in name or "\\" in name or "\0" in name:
        raise ConfigError(f"--name {name!r}: must be a plain folder name (no '/', no '..', not absolute, "
                          "not starting with '.')")
    if len(name.encode()) > NAME_MAX:  # a file system's limit on one folder name
        raise ConfigError(f"--name {name[:40]!r}... ({len(name.encode())} bytes): must be at most {NAME_MAX} bytes")


@dataclass(frozen=True)
class SweepOutcome:
    """Where a finished sweep put its results, and the results themselves."""
    experiment_dir: str
    results_path: str
    best_path: str
    results: Any  # pandas.DataFrame (pandas is imported only once the sweep runs)
    best: dict


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
