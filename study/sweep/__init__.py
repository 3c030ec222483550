"""The sweep driver (`python -m study.sweep`): Ray Tune + Optuna + ASHA over the trainer, one Ray Train run per
trial. One module per job:

- settings: SweepSettings, the files a sweep writes, the config file and command-line values;
- overrides: the named space with the smoke sizes and the user's overrides laid over it, validated;
- plan: every check before Ray is imported (space, experiment folder, Ray address, fit, data, backbone,
  storage; for --resume, a folder this user alone controls), then the folder created and locked;
- trust: which folders a --resume may run code from (owner, mode, this user's keyed hash of Tune's state);
- lock: the exclusive lock that makes one process the experiment folder's only writer;
- interrupt: Ctrl-C, SIGTERM and SIGHUP stop the sweep resumably, a second one exits at once;
- diskfull: a full disk stops the sweep resumably, in one line, every file it wrote whole (imports Ray);
- signer: the Tune callback that signs the experiment folder as Tune writes it (imports Ray);
- console: what the sweep prints, and where Ray's and the workers' output goes instead;
- tune: Tune's objects, the per-trial TorchTrainer and the Tuner (`run_sweep`, `resume_sweep`);
- resources: the per-trial ScalingConfig, starting Ray, the check that a trial fits;
- trial: the Ray Train worker function and the data it trains on (TrialData);
- replicates: the replication stage (the selected configuration of each variant on fresh seeds);
- results: results.parquet and best.json;
- command: the command line;
- train_v1: Ray Train V1, chosen before any module here imports Ray.

The package re-exports the names of the modules that import neither Ray nor torch, so `python -m study.sweep`
checks its arguments and files before either is loaded (a refusal returns in about a second). The Ray side is
imported from its own modules: `study.sweep.tune`, `study.sweep.resources`, `study.sweep.trial`,
`study.sweep.console`, `study.sweep.replicates`.
"""
from __future__ import annotations

import study.sweep.train_v1  # noqa: F401 - sets RAY_TRAIN_V2_ENABLED=0 (unless set) for whoever imports Ray later
from common.errors import ConfigError
from study.sweep.command import build_parser, main, quiet_warnings, settings_from_args
from study.sweep.interrupt import EXIT_INTERRUPTED, SweepInterrupted
from study.sweep.lock import LOCK_FILE, ExperimentLock, claim_experiment
from study.sweep.overrides import (
    build_space, epoch_budget, known_keys, resolve_trial_config, space_backbones, space_clips, validate_space,
    with_backbone_folder,
)
from study.sweep.plan import (
    SweepPlan, check_fit, check_ray_address, data_dir, load_settings, plan_resume, plan_sweep,
    this_machine, worker_bundle,
)
from study.sweep.trust import SIGNATURE_FILE, check_owned, check_signed, sign_folder
from study.sweep.results import backbone_family, best_trial, pareto_mask, results_frame, write_outputs
from study.sweep.settings import (
    BEST_FILE, METRICS, OBJECTIVES, RESULTS_FILE, SEED_MAX, SETTINGS_FILE, TRIAL_CONFIG_KEY, TRIAL_RECORD,
    SweepOutcome, SweepSettings, check_plain_name, default_storage, load_config_file, parse_value,
)

__all__ = [
    "BEST_FILE", "EXIT_INTERRUPTED", "LOCK_FILE", "METRICS", "OBJECTIVES", "RESULTS_FILE", "SEED_MAX",
    "SETTINGS_FILE", "SIGNATURE_FILE", "TRIAL_CONFIG_KEY", "TRIAL_RECORD", "ConfigError", "ExperimentLock", "SweepInterrupted",
    "SweepOutcome", "SweepPlan", "SweepSettings", "backbone_family", "best_trial", "build_parser", "build_space",
    "check_fit", "check_owned", "check_plain_name", "check_ray_address", "check_signed", "claim_experiment",
    "data_dir", "default_storage", "epoch_budget", "known_keys", "load_config_file", "load_settings", "main",
    "pareto_mask", "parse_value", "plan_resume", "plan_sweep", "quiet_warnings", "resolve_trial_config",
    "results_frame", "settings_from_args", "sign_folder", "space_backbones", "space_clips", "this_machine",
    "validate_space", "with_backbone_folder", "worker_bundle", "write_outputs",
]
