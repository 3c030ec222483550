"""Inside a trial: the Ray Train worker function (record the trial, then run the trainer's loop), the
prepared data it trains on, and the trial record (trial.json)."""
from __future__ import annotations

import errno
import json
import platform
from dataclasses import dataclass
from pathlib import Path

import study.sweep.train_v1  # noqa: F401 - first: ray.train reads RAY_TRAIN_V2_ENABLED when imported

import ray
from ray import train

from search_spaces import SearchSpace
from study.sweep.overrides import resolve_trial_config, space_clips
from common.storage import write_bytes
from data.clips import DecodeSettings
from data.prepared import is_prepared, prepare_dataset, read_meta
from study.language_targets import ensure_language_targets, needs_language
from study.sweep.console import redirect_worker_output
from study.sweep.diskfull import wait_for_stop
from study.sweep.plan import data_dir
from study.sweep.settings import TRIAL_RECORD, SweepSettings


@dataclass(frozen=True)
class TrialData:
    """What every trial of a sweep trains on: the data folder (None: the synthetic benchmark, built where it is
    needed), the split, the clip settings and whether a variant needs the caption-language similarity of the
    training videos (study.language_targets). The driver prepares it once; a worker on a node without the
    prepared folder (a multi-node cluster: it is on the head's disk) rebuilds the same folder from it."""

    data: str | None
    split: str
    seed: int
    decode: DecodeSettings
    language: bool = False

    @classmethod
    def for_sweep(cls, settings: SweepSettings, space: SearchSpace) -> "TrialData":
        axis = space.params.get("variant")
        variants = axis.values if axis is not None else (space.fixed.get("variant", "hybrid"),)
        return cls(settings.data, settings.split, settings.seed, space_clips(space), needs_language(variants))

    def prepare(self) -> Path:
        """Prepare (or reuse) the folder; the same settings give the same folder on every node."""
        folder = prepare_dataset(data_dir(self.data), split=self.split, seed=self.seed, decode=self.decode)
        if self.language:
            ensure_language_targets(folder, data_dir(self.data))
        return folder


def trial_worker(config: dict, data: TrialData | None = None) -> None:
    """Ray Train worker: record the trial, then run the trainer's loop (`data` rebuilds a missing folder)."""
    from trainables.loop import train_loop_per_worker

    context = train.get_context()
    settings = resolve_trial_config(config)
    if data is not None and not is_prepared(settings["prepared_dir"]):
        settings["prepared_dir"] = str(data.prepare())
    redirect_worker_output(context.get_trial_dir(), context.get_world_rank())
    try:
        if context.get_world_rank() == 0:
            _write_trial_record(context.get_trial_dir(), config, settings)
        train_loop_per_worker(settings)
    except OSError as err:  # a checkpoint (or this record) on a full disk: the sweep stops, the trial resumes
        if err.errno != errno.ENOSPC:
            raise
        wait_for_stop(err)


def _write_trial_record(trial_dir: str, config: dict, settings: dict) -> None:
    from trainables.config import TrainConfig

    record = {"config": TrainConfig.from_dict(settings).to_dict(), "sampled": config,
              "seed": settings.get("seed"), "data_fingerprint": read_meta(settings["prepared_dir"]).data_fingerprint,
              "node_id": ray.get_runtime_context().get_node_id(), "hostname": platform.node(),
              "versions": package_versions()}
    text = json.dumps(record, indent=2, sort_keys=True, default=str)
    write_bytes(str(Path(trial_dir) / TRIAL_RECORD), text.encode())


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
def prepare_data(settings: SweepSettings, space: SearchSpace) -> tuple[TrialData, str, str]:
    """Prepare (or reuse) the folder trials train on; returns (what it was made from, the folder, the data
    fingerprint)."""
    data = TrialData.for_sweep(settings, space)
    prepared = data.prepare()
    return data, str(prepared), read_meta(prepared).data_fingerprint
