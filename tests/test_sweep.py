"""The sweep end to end on a local Ray: paper grid, Optuna + ASHA, worker crash and retry, bad input.

Each sweep trains the tiny random backbone for 1-2 short epochs on a small synthetic benchmark.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
import ray
from ray import train

import search_spaces
from common.errors import ConfigError
from common.storage import read_bytes
import study.sweep as sweep
from study.sweep.resources import check_resources, scaling_config
from study.sweep.trial import trial_worker
from study.sweep.tune import run_sweep, tune_config

SHORT = ["--set", "steps_per_epoch=2", "--no-analysis", "--no-dashboard", "--replicates", "0"]


@pytest.fixture(scope="module")
def asha_data(tmp_path_factory):
    """More videos and judgments than the shared tiny benchmark, and an evaluation collection within the validation
    videos, so validation accuracy separates trials (with the tiny benchmark's few validation triads every trial
    of the smoke space scored the same 0.6, and ASHA, rightly, stopped none)."""
    from study.synthetic import SyntheticConfig, generate_benchmark

    return generate_benchmark(tmp_path_factory.mktemp("asha-data"),
                              SyntheticConfig.tiny(n_sets=30, n_videos=80, n_eval_participants=4))


@pytest.fixture(autouse=True)
def no_ray_left():
    yield
    ray.shutdown()


def run(argv: list[str]) -> int:
    return sweep.main(argv)


@pytest.mark.slow
def test_paper_grid_runs_all_four_variants_two_at_a_time(synthetic_dir, cache, tmp_path, capsys):
    # 1 worker x 1 CPU: two trials fill the 2-CPU local Ray, so the last two start only once the first
    # two have released their placement groups.
    assert run(["--space", "paper", "--smoke", "--data", str(synthetic_dir), "--storage-path", str(tmp_path),
                "--name", "paper", "--set", "epochs=1", *SHORT]) == 0
    frame = pd.read_parquet(tmp_path / "paper" / "results.parquet")
    assert sorted(frame["config/variant"]) == sorted(["hybrid", "triplet-only", "rsa-only", "budget-matched"])
    assert (frame["status"] == "TERMINATED").all() and (frame["epochs_run"] == 1).all()
    assert frame["final_val_ooo_acc"].between(0, 1).all() and frame["checkpoint_path"].notna().all()
    spans = frame.sort_values("started_at")[["started_at", "ended_at"]].to_numpy()
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]  # the first two overlap
    assert spans[2:, 0].min() >= spans[:2, 1].min() - 1  # later ones wait for a slot (stamps are whole seconds)
    out = capsys.readouterr().out
    assert "best trial:" in out and "pd.read_parquet(" in out and str(tmp_path / "paper") in out
    # The console carries the sweep's own lines; Ray's and Tune's go to ray.log, each worker's to its trial folder.
    assert out.count("finished after 1 epoch(s)") == 4 and "4 trials: 4 finished (0 stopped early" in out
    assert "Trial status" not in out and "Configuration for experiment" not in out and "Fatal Python" not in out
    assert f"Ray and Tune log: {tmp_path / 'paper' / 'ray.log'}" in out and (tmp_path / "paper" / "ray.log").is_file()
    assert len(list((tmp_path / "paper").glob("trial_*/worker-rank0.log"))) == 4


@pytest.mark.slow
def test_optuna_asha_sweep_stops_some_trials_early_runs_two_at_once_and_records_each_trial(asha_data, cache,
                                                                                           tmp_path):
    assert run(["--data", str(asha_data), "--storage-path", str(tmp_path), "--name", "asha", "--num-samples",
                "6", "--set", "epochs=2", *SHORT]) == 0
    experiment = tmp_path / "asha"
    frame = pd.read_parquet(experiment / "results.parquet")
    assert len(frame) == 6 and frame["trial_id"].is_unique and (frame["status"] == "TERMINATED").all()
    assert frame["stopped_early"].any() and not frame["stopped_early"].all()
    assert (frame.loc[frame["stopped_early"], "epochs_run"] < 2).all()
    assert (frame.loc[~frame["stopped_early"], "epochs_run"] == 2).all()
    spans = frame[["started_at", "ended_at"]].to_numpy()
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1:])
    # The smoke space's first point to evaluate ran (a sampled lr would never be exactly 1e-3).
    point = frame[(frame["config/lr"] == 1e-3) & (frame["config/lora_r"] == 4) & (frame["config/alpha"] == 0.7)
                  & (frame["config/variant"] == "hybrid")]
    assert len(point) == 1 and point.iloc[0]["config/augment"] == "all"
    first = point.iloc[0]
    best = json.loads((experiment / "best.json").read_text())
    assert best["value"] == frame["best_val_ooo_acc"].max()
    assert Path(best["checkpoint"], "adapter").is_dir()
    record = json.loads(Path(first["trial_dir"], "trial.json").read_text())
    assert record["config"]["lr"] == 1e-3 and record["data_fingerprint"] == first["data_fingerprint"]
    assert record["versions"]["ray"] == ray.__version__ and record["seed"] == 0
    assert ray.tune.ExperimentAnalysis(str(experiment)).trials  # Tune's own folder stays readable


def crashing_worker(crash_at_epoch: int, times_by_seed: dict[int, int]):
    """The sweep's trial worker, with rank 0's process dying at the end of the epoch after `crash_at_epoch`,
    before reporting it, on the first `times_by_seed[seed]` runs of the trial: FailureConfig must then restore
    the trial from that epoch's checkpoint (above --max-failures the trial fails for good)."""

    def worker(config: dict, data=None) -> None:
        context = train.get_context()
        if context.get_world_rank() == 0:
            _arm_crash(crash_at_epoch, times_by_seed[int(config["seed"])],
                       Path(context.get_trial_dir()) / "crash-injected")
        trial_worker(config, data)

    return worker


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


@pytest.mark.slow
def test_a_sweep_on_a_uri_storage_path_ends_with_the_analysis_table(synthetic_dir, cache, tmp_path, capsys):
    """Tune and the final analysis both go through pyarrow's filesystem: file:// here, s3:// on a cluster."""
    storage = f"file://{tmp_path}/runs"
    assert run(["--data", str(synthetic_dir), "--storage-path", storage, "--name", "uri", "--num-samples", "1",
                "--set", "epochs=1", "--set", "steps_per_epoch=2", "--no-dashboard", "--replicates", "0"]) == 0
    out = capsys.readouterr().out
    assert "| metric |" in out and "| ooo_acc_three_way |" in out and f"{storage}/uri/analysis/report.md" in out
    analysed = pd.read_parquet(tmp_path / "runs" / "uri" / "analysis" / "metrics.parquet")
    assert {"base", "language"} < set(analysed["model"]) and analysed["value"].notna().any()


@pytest.mark.slow
def test_worker_crash_is_retried_from_the_checkpoint_and_a_trial_that_keeps_failing_is_marked_failed(
        synthetic_dir, cache, tmp_path):
    # One trial dies once (restored from epoch 1's checkpoint), the other dies on every run (failed for good).
    # Ray's workers cannot import this test module: its functions travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    args = sweep.build_parser().parse_args([
        "--space", "paper", "--smoke", "--data", str(synthetic_dir), "--storage-path", str(tmp_path),
        "--name", "crash", "--max-failures", "1", "--set", "epochs=2", "--set", "variant=hybrid",
        "--set", "seed=[1, 9]", *SHORT])
    run_sweep(sweep.settings_from_args(args), worker=crashing_worker(1, {1: 1, 9: 9}))
    frame = pd.read_parquet(tmp_path / "crash" / "results.parquet").set_index("config/seed")
    recovered, failed = frame.loc[1], frame.loc[9]
    assert recovered["status"] == "TERMINATED" and recovered["epochs_run"] == 2 and pd.isna(recovered["error"])
    reported = Path(recovered["trial_dir"], "reported-epochs").read_text().split()
    assert reported == ["1", "2"]  # from scratch it would read 1, 1, 2
    assert Path(recovered["trial_dir"], "crash-injected").read_text().count("\n") == 1
    assert failed["status"] == "ERROR" and "Error" in failed["error"] and failed["epochs_run"] == 1


def test_check_resources_refuses_a_trial_no_node_can_hold_and_counts_concurrent_trials():
    nodes = [{"CPU": 2.0}, {"CPU": 8.0, "GPU": 1.0}]
    fits = check_resources(scaling_config(sweep.SweepSettings(cpus_per_worker=2)), nodes)
    assert fits == 5  # 1 + 4 workers of 2 CPUs
    with pytest.raises(ConfigError, match=r"needs 1 worker\(s\) x \{'CPU': 1.0, 'GPU': 2.0\}"):
        check_resources(scaling_config(sweep.SweepSettings(gpus_per_worker=2)), nodes)
    with pytest.raises(ConfigError, match="can never place"):
        check_resources(scaling_config(sweep.SweepSettings(workers_per_trial=3, cpus_per_worker=4)), nodes)
    autoscaling = nodes + [{"CPU": 8.0, "GPU": 1.0, "_max_workers": 4}]
    assert check_resources(scaling_config(sweep.SweepSettings(workers_per_trial=4, gpus_per_worker=1)),
                                 autoscaling) == 1


def test_outputs_are_written_whole_to_local_paths_and_uris(tmp_path):
    frame = pd.DataFrame({"trial_id": ["a", "b"], "best_val_ooo_acc": [0.5, 0.75]})
    for experiment in (str(tmp_path), f"file://{tmp_path}"):
        results, best = sweep.write_outputs(experiment, frame, {"trial_id": "b"})
        assert pd.read_parquet(tmp_path / "results.parquet").equals(frame)
        assert json.loads(read_bytes(best)) == {"trial_id": "b"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "results.parquet"]  # no temporaries left
    assert read_bytes(str(tmp_path / "missing.json")) is None


def test_multi_objective_sweeps_give_optuna_both_metrics_and_asha_one():
    settings = sweep.SweepSettings(objectives=("val_ooo_acc", "val_rsa"))
    config = tune_config(sweep.build_space(settings), settings)
    assert config.metric is None and config.search_alg.metric == ["val_ooo_acc", "val_rsa"]
    assert config.scheduler.metric == "val_ooo_acc"
    frame = pd.DataFrame({"trial_id": ["a", "b", "c"], "best_val_ooo_acc": [0.9, 0.5, 0.4],
                          "best_val_rsa": [0.1, 0.6, 0.3], "checkpoint_path": ["x", "y", "z"], "trial_dir": "d"})
    frame["pareto"] = sweep.pareto_mask(frame[["best_val_ooo_acc", "best_val_rsa"]].to_numpy())
    best = sweep.best_trial(frame, search_spaces.get("smoke"), settings.objectives)
    assert best["trial_id"] == "a" and best["pareto_front"] == ["a", "b"]
    with pytest.raises(ConfigError, match="objectives must be two or more"):
        sweep.SweepSettings(objectives=("val_ooo_acc", "train_loss"))


def test_pareto_mask_matches_a_naive_loop():
    values = pd.DataFrame({"a": [0.5, 0.6, 0.4, 0.6, float("nan")], "b": [0.5, 0.1, 0.7, 0.1, 0.9]}).to_numpy()
    naive = [not any((values[j] >= values[i]).all() and (values[j] > values[i]).any() for j in range(len(values)))
             and not pd.isna(values[i]).any() for i in range(len(values))]
    assert list(sweep.pareto_mask(values)) == naive == [True, True, True, True, False]


def _exit_line(capsys, argv) -> str:
    with pytest.raises(SystemExit) as stop:
        run(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


def test_bad_input_exits_2_with_one_line_and_writes_nothing(synthetic_dir, cache, tmp_path, capsys):
    store = str(tmp_path / "store")
    base = ["--data", str(synthetic_dir), "--storage-path", store, *SHORT]
    assert "unknown search space 'fancy'" in _exit_line(capsys, [*base, "--space", "fancy"])
    assert "unknown parameter 'lora_rank'" in _exit_line(capsys, [*base, "--set", "lora_rank=4"])
    assert "backbone 'facebook/none'" in _exit_line(capsys, [*base, "--set", "backbone=facebook/none"])
    assert "--set 'lr'" in _exit_line(capsys, [*base, "--set", "lr"])
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    if os.geteuid() != 0:  # root writes anywhere; a file in the way is unwritable for everyone
        assert "not writable" in _exit_line(capsys, [*base, "--storage-path", str(readonly / "runs")])
    (tmp_path / "file").write_text("")
    assert "not writable" in _exit_line(capsys, [*base, "--storage-path", str(tmp_path / "file" / "runs")])
    assert "not a sweep experiment folder" in _exit_line(capsys, ["--resume", str(tmp_path)])
    wrong = tmp_path / "wrong-layout"
    wrong.mkdir()
    (wrong / "notes.txt").write_text("no judgments here\n")
    assert "wrong-layout" in _exit_line(capsys, [*base, "--data", str(wrong)])
    assert "no such folder" in _exit_line(capsys, [*base, "--data", str(tmp_path / "missing")])
    line = _exit_line(capsys, [*base, "--cpus-per-worker", "64"])
    assert "can never place" in line and "CPU" in line
    assert not ray.is_initialized()
    assert not Path(store).exists() or not any(Path(store).iterdir())


def test_list_spaces_prints_every_space(capsys):
    assert run(["--list-spaces"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("smoke", "paper", "default")) and "hybrid" in out
