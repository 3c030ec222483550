"""Shared by the sweep tests: a command that must be refused in one `error:` line before Ray; the states Tune and
Optuna recorded for an experiment; a resume run in this process on the cache the stopped sweep used."""
from __future__ import annotations

import json
import os
from pathlib import Path

import optuna
import pytest
import ray

import study.sweep as sweep


def refused(capsys, argv: list[str]) -> str:
    """Run `python -m study.sweep ARGV` in-process; it must exit 2 with one `error:` line and no Ray started."""
    with pytest.raises(SystemExit) as stop:
        sweep.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert not ray.is_initialized()
    return err[0]


def tune_states(experiment: Path) -> list[str]:
    """Each trial's status in Tune's experiment state file."""
    (state,) = experiment.glob("experiment_state-*.json")
    return [json.loads(trial)["status"] for trial, _ in json.loads(state.read_text())["trial_data"]]


def optuna_states(experiment: Path) -> list[str]:
    """Each trial's state in the experiment's Optuna study."""
    study = optuna.load_study(study_name=experiment.name, storage=f"sqlite:///{experiment / 'optuna.db'}")
    return [t.state.name for t in study.trials]


def resume_here(experiment: Path, cache: str | Path, *extra: str) -> int:
    """`python -m study.sweep --resume EXPERIMENT --no-dashboard EXTRA` in this process, on `cache` (the stopped
    sweep's cache root); Ray is shut down after it."""
    os.environ["SOCIAL_ALIGN_CACHE"] = str(cache)
    try:
        return sweep.main(["--resume", str(experiment), "--no-dashboard", *extra])
    finally:
        os.environ.pop("SOCIAL_ALIGN_CACHE")
        ray.shutdown()
