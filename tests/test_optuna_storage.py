"""The default sweep's Optuna study lives in its experiment folder (optuna.db): `optuna.load_study` finds
every trial with the values Tune recorded, Optuna's own plots are drawn from it, and a sweep whose final
analysis fails keeps its results, exits 1 and prints the command that reruns the analysis."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import optuna
import pandas as pd
import pytest
import ray

from study.optuna_study import STUDY_FILE, storage_url
import study.sweep as sweep
from study.sweep.resources import start_ray


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIAL_ALIGN_CACHE", str(tmp_path / "cache"))  # Ray's workers inherit it


@pytest.fixture(autouse=True)
def no_ray_left():
    yield
    ray.shutdown()


@pytest.mark.slow
def test_the_study_is_stored_with_every_trial_and_a_failed_analysis_exits_1_with_its_rerun_command(
        synthetic_dir, cache, tmp_path, capsys, monkeypatch):
    import analysis

    def broken_analysis(experiment_dir, top_k):
        raise FileNotFoundError(f"{experiment_dir}: injected analysis failure")

    monkeypatch.setattr(analysis, "run_analysis", broken_analysis)
    code = sweep.main(["--data", str(synthetic_dir), "--storage-path", str(tmp_path), "--name", "default",
                       "--num-samples", "3", "--set", "epochs=1", "--set", "steps_per_epoch=2", "--no-dashboard",
                       "--replicates", "0"])
    experiment = tmp_path / "default"
    captured = capsys.readouterr()
    assert code == 1
    everything = captured.out + captured.err  # the workers' lines reach the driver's stderr through Ray
    assert "is_gradient_checkpointing" not in everything and "Passing a Trainer" not in everything
    assert "get_trial_dir" not in everything and "preflight: " in captured.out
    assert f"rerun the analysis: python -m analysis {experiment} --top-k 1" in captured.err
    frame = pd.read_parquet(experiment / "results.parquet")  # the sweep's results were kept
    assert len(frame) == 3 and (experiment / "best.json").is_file()

    url = storage_url(str(experiment))
    assert url == f"sqlite:///{experiment / STUDY_FILE}" and url in captured.out
    study = optuna.load_study(study_name=None, storage=url)  # the one study there, found without its name
    assert study.study_name == "default"
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == len(study.trials) == 3
    # Optuna holds what Tune saw: each trial's last val_ooo_acc (one epoch: its final value).
    assert sorted(t.value for t in trials) == pytest.approx(sorted(frame["final_val_ooo_acc"]))
    assert {f"train_loop_config/{k}" for k in ("lr", "lora_r", "alpha")} <= set(trials[0].params)
    # the importance plot only where the objective varies (on the tiny benchmark the trials may all tie)
    varies = len({t.value for t in trials}) > 1
    assert sorted(p.name for p in (experiment / "optuna").iterdir()) == (
        ["optimization_history.png", "param_importances.png"] if varies else ["optimization_history.png"])
    lrs = sorted(t.params["train_loop_config/lr"] for t in trials)
    assert np.allclose(lrs, sorted(frame["config/lr"]))
    assert json.loads((experiment / "sweep.json").read_text())["settings"]["dashboard"] is False


@pytest.mark.slow
def test_a_local_ray_starts_its_dashboard_on_127_0_0_1_by_default(capsys):
    assert sweep.SweepSettings().dashboard is True
    assert start_ray(None) is True
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("Ray dashboard: "))
    url = line.split(": ", 1)[1]
    assert url.startswith("http://127.0.0.1:")
    # The State API is served by the dashboard: it answers only because the dashboard is up.
    from ray.util.state import list_nodes

    assert len(list_nodes(address=url)) == 1
    try:  # and it listens on 127.0.0.1 (Ray 2.60 turns token authentication on: 401 without the token)
        urllib.request.urlopen(f"{url}/api/version", timeout=30).close()
    except urllib.error.HTTPError as reply:
        assert reply.code == 401


@pytest.mark.parametrize("values, expected", [((0.4, 0.4, 0.4), {"optimization_history.png"}),
                                              ((0.3, 0.4, 0.5), {"optimization_history.png",
                                                                 "param_importances.png"})])
def test_optuna_plots_draw_importances_only_where_the_objective_varies(tmp_path, values, expected):
    from study.optuna_study import load_sweep_study, optuna_plots, study_storage

    experiment = str(tmp_path / "sweep")
    study_storage(experiment, ["maximize"])
    study = load_sweep_study(experiment)
    for lr, value in zip((1e-4, 3e-4, 1e-3), values):  # fANOVA raises on an objective that never varies
        trial = study.ask({"lr": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)})
        assert trial.params["lr"] > 0
        study.tell(trial, value)
    written = optuna_plots(experiment, ["val_ooo_acc"])
    assert {p.name for p in written} == expected and all(p.is_file() for p in written)
