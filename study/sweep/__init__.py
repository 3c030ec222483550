"""The sweep driver (`python -m study.sweep`): Ray Tune + Optuna + ASHA over the trainer, one Ray Train run per
trial. One module per job:

- settings: SweepSettings, the files a sweep writes, the config file and command-line values;
- overrides: the named space with the smoke sizes and the user's overrides laid over it, validated;
- plan: every check before Ray is imported (space, experiment folder, Ray address, fit, data, backbone,
  storage; for --resume, a folder this user alone controls), then the folder created and locked;
- lock: the exclusive lock that makes one process the experiment folder's only writer;
- tune: Tune's objects, the per-trial TorchTrainer and the Tuner (`run_sweep`, `resume_sweep`);
- resources: the per-trial ScalingConfig, starting Ray, the check that a trial fits;
- trial: the Ray Train worker function and the data it trains on;
- results: results.parquet and best.json;
- command: the command line (`__main__` chooses Ray Train V1, then runs it).

Names are re-exported lazily: the process that starts the sweep sets RAY_TRAIN_V2_ENABLED=0 before anything
imports ray.train.
"""
from __future__ import annotations

import importlib

_MODULES = {
    "study.sweep.settings": ("SweepSettings", "SweepOutcome", "SETTINGS_FILE", "RESULTS_FILE", "BEST_FILE",
                             "TRIAL_RECORD", "DECODE_KEYS", "METRICS", "OBJECTIVES", "TRIAL_CONFIG_KEY", "SEED_MAX",
                             "default_storage", "parse_value", "load_config_file", "check_plain_name",
                             "write_file", "read_file"),
    "study.sweep.plan": ("SweepPlan", "plan_sweep", "plan_resume", "check_trusted", "check_ray_address",
                         "check_fit", "worker_bundle", "this_machine", "load_settings", "data_dir"),
    "study.sweep.lock": ("LOCK_FILE", "ExperimentLock", "claim_experiment"),
    "study.sweep.overrides": ("known_keys", "build_space", "validate_space", "space_backbone",
                              "resolve_trial_config", "epoch_budget", "with_backbone_folder"),
    "study.sweep.tune": ("tune_domain", "tune_config", "trial_dirname", "param_space", "build_trainer",
                         "run_config", "run_sweep", "resume_sweep"),
    "study.sweep.resources": ("WORKER_ENV", "scaling_config", "start_ray", "node_capacities", "check_resources"),
    "study.sweep.trial": ("trial_worker", "package_versions", "prepare_data"),
    "study.sweep.results": ("results_frame", "pareto_mask", "best_trial", "write_outputs"),
    "study.sweep.command": ("build_parser", "settings_from_args", "quiet_warnings", "main"),
    "common.errors": ("ConfigError",),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'study.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
