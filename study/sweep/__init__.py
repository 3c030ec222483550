"""The sweep driver (`python -m study.sweep`): Ray Tune + Optuna + ASHA over the trainer, one Ray Train run per
trial. One module per job:

- settings: SweepSettings, the files a sweep writes, the config file and command-line values;
- overrides: the named space with the smoke sizes and the user's overrides laid over it, validated;
- tune: Tune's objects, the per-trial TorchTrainer and the Tuner (`run_sweep`, `resume_sweep`);
- resources: the per-trial ScalingConfig, starting Ray, the check that a trial fits;
- trial: the Ray Train worker function and the data it trains on (TrialData);
- results: results.parquet and best.json;
- command: the command line;
- train_v1: Ray Train V1, chosen before any module here imports Ray.
"""
from __future__ import annotations

from common.errors import ConfigError
from study.sweep.command import build_parser, main, quiet_warnings, settings_from_args
from study.sweep.overrides import (
    build_space, epoch_budget, known_keys, resolve_trial_config, space_backbone, validate_space, with_backbone_folder,
)
from study.sweep.resources import WORKER_ENV, check_resources, node_capacities, scaling_config, start_ray, this_machine
from study.sweep.results import best_trial, pareto_mask, results_frame, write_outputs
from study.sweep.settings import (
    BEST_FILE, METRICS, OBJECTIVES, RESULTS_FILE, SETTINGS_FILE, TRIAL_CONFIG_KEY, TRIAL_RECORD, SweepOutcome,
    SweepSettings, default_storage, load_config_file, parse_value,
)
from study.sweep.trial import TrialData, data_dir, package_versions, prepare_data, trial_worker
from study.sweep.tune import (
    build_trainer, load_settings, param_space, resume_sweep, run_config, run_sweep, trial_dirname, tune_config,
    tune_domain,
)

__all__ = [
    "BEST_FILE", "METRICS", "OBJECTIVES", "RESULTS_FILE", "SETTINGS_FILE", "TRIAL_CONFIG_KEY", "TRIAL_RECORD",
    "WORKER_ENV", "ConfigError", "SweepOutcome", "SweepSettings", "TrialData", "best_trial", "build_parser",
    "build_space", "build_trainer", "check_resources", "data_dir", "default_storage", "epoch_budget", "known_keys",
    "load_config_file", "load_settings", "main", "node_capacities", "package_versions", "param_space",
    "pareto_mask", "parse_value", "prepare_data", "quiet_warnings", "resolve_trial_config", "resume_sweep",
    "results_frame", "run_config", "run_sweep", "scaling_config", "settings_from_args", "space_backbone",
    "start_ray", "this_machine", "trial_dirname", "trial_worker", "tune_config", "tune_domain", "validate_space",
    "with_backbone_folder", "write_outputs",
]
