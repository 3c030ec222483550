"""Inside a trial: the Ray Train worker function (record the trial, then run the trainer's loop), the
prepared data it trains on, and the trial record (trial.json)."""
from __future__ import annotations

import dataclasses
import json
import platform
from pathlib import Path

import ray
from ray import train

from search_spaces import SearchSpace
from study.sweep.overrides import resolve_trial_config
from study.sweep.console import redirect_worker_output
from study.sweep.plan import data_dir
from study.sweep.settings import DECODE_KEYS, TRIAL_RECORD, SweepSettings, write_file


def trial_worker(config: dict) -> None:
    """Ray Train worker: record the trial, then run the trainer's loop."""
    from trainables.loop import train_loop_per_worker

    context = train.get_context()
    settings = resolve_trial_config(config)
    settings["prepared_dir"] = _ensure_prepared(config)
    redirect_worker_output(context.get_trial_dir(), context.get_world_rank())
    if context.get_world_rank() == 0:
        _write_trial_record(context.get_trial_dir(), config, settings)
    train_loop_per_worker(settings)


def _ensure_prepared(config: dict) -> str:
    # On a multi-node cluster the driver's prepared folder is on the head's disk; rebuild the same folder here.
    prepared = config["prepared_dir"]
    if Path(prepared, "meta.json").is_file():
        return prepared
    from trainables.clips import DecodeSettings
    from study.prepare import prepare_dataset

    spec = config["_prepare"]
    decode = DecodeSettings(**{k: config[k] for k in DECODE_KEYS if k in config})
    return str(prepare_dataset(data_dir(spec["data_dir"]), split=spec["split"], seed=spec["seed"],
                               decode=decode))


def _write_trial_record(trial_dir: str, config: dict, settings: dict) -> None:
    from trainables.config import TrainConfig

    meta = json.loads(Path(settings["prepared_dir"], "meta.json").read_text())
    record = {"config": TrainConfig.from_dict(settings).to_dict(), "sampled": config,
              "seed": settings.get("seed"), "data_fingerprint": meta.get("data_fingerprint"),
              "node_id": ray.get_runtime_context().get_node_id(), "hostname": platform.node(),
              "versions": package_versions()}
    text = json.dumps(record, indent=2, sort_keys=True, default=str)
    write_file(str(Path(trial_dir) / TRIAL_RECORD), text.encode())


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
def prepare_data(settings: SweepSettings, space: SearchSpace) -> tuple[str, str]:
    """Prepare (or reuse) the folder trials train on; returns (prepared_dir, data fingerprint)."""
    from trainables.clips import DecodeSettings
    from study.prepare import prepare_dataset
    from trainables.config import ModelConfig

    fixed = {**dataclasses.asdict(ModelConfig()), **space.fixed}  # what the trials will check the clips against
    decode = DecodeSettings(**{k: fixed[k] for k in DECODE_KEYS})
    prepared = prepare_dataset(data_dir(settings.data), split=settings.split, seed=settings.seed, decode=decode)
    meta = json.loads((Path(prepared) / "meta.json").read_text())
    return str(prepared), meta.get("data_fingerprint", "")

