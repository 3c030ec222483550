"""The sweep driver (`python -m study.sweep`): Ray Tune + Optuna + ASHA over the trainer, one Ray Train run per
trial. One module per job:

- settings: SweepSettings, the files a sweep writes, the config file and command-line values;
- overrides: the named space with the smoke sizes and the user's overrides laid over it, validated;
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
                             "TRIAL_RECORD", "DECODE_KEYS", "METRICS", "OBJECTIVES", "TRIAL_CONFIG_KEY",
                             "default_storage", "parse_value", "load_config_file"),
    "study.sweep.overrides": ("known_keys", "build_space", "validate_space", "space_backbones", "clip_shape",
                              "resolve_trial_config", "epoch_budget", "with_backbone_folder"),
    "study.sweep.tune": ("tune_domain", "tune_config", "trial_dirname", "param_space", "build_trainer",
                         "run_config", "run_sweep", "resume_sweep", "load_settings"),
    "study.sweep.resources": ("WORKER_ENV", "scaling_config", "start_ray", "this_machine", "node_capacities",
                              "check_resources"),
    "study.sweep.trial": ("trial_worker", "package_versions", "data_dir", "prepare_data"),
    "study.sweep.results": ("results_frame", "backbone_family", "pareto_mask", "best_trial", "write_outputs",
                            "write_file",
                            "read_file"),
    "study.sweep.command": ("build_parser", "settings_from_args", "quiet_warnings", "main"),
    "common.errors": ("ConfigError",),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'study.sweep' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
