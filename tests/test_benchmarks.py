"""The benchmark scripts at tiny sizes: they run and write well-formed results (never timing assertions)."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

import search_spaces
from benchmarks.__main__ import main
from benchmarks.memory import sample_tree
from benchmarks.search_efficiency import summary, best_so_far, plot_curves


def _spread_ok(s: dict, low: float = 0.0, high: float = np.inf) -> bool:
    return s["n"] >= 1 and low <= s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"] <= high


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, real_data_dir):
    out = tmp_path_factory.mktemp("bench-quick")
    code = main(["--quick", "--out", str(out), "--only", "data_path,step_efficiency,analysis,gpu,attention"])
    return code, out


@pytest.mark.slow  # quick_run runs the benchmark suite (about a minute on 2 cores)
def test_quick_suite_exits_0_and_writes_every_file(quick_run):
    code, out = quick_run
    assert code == 0
    names = {p.stem for p in (out / "results").glob("*.json")}
    assert names == {"all", "data_path", "step_efficiency", "analysis", "gpu", "attention"}
    doc = json.loads((out / "results" / "all.json").read_text())
    assert doc["machine_before"]["cores"] >= 1 and "error" not in json.dumps(doc["results"])


@pytest.mark.slow  # quick_run runs the benchmark suite (about a minute on 2 cores)
def test_data_path_results_are_well_formed(quick_run):
    r = json.loads((quick_run[1] / "results" / "data_path.json").read_text())
    assert r["clips_per_batch"] == 3 * r["batch_triplets"]
    for key in ("speedup", "cache_clips_per_s", "reference_clips_per_s"):
        assert _spread_ok(r[key], low=1e-9)
    (wait,) = r["step_wait"].values()
    assert _spread_ok(wait["wait_fraction"], 0.0, 1.0) and _spread_ok(wait["step_s"], low=1e-9)
    assert set(r["targets"]) >= {"speedup_met", "wait_fraction_met"}


@pytest.mark.slow  # quick_run runs the benchmark suite (about a minute on 2 cores)
def test_step_efficiency_losses_agree_and_naive_embeds_more(quick_run):
    r = json.loads((quick_run[1] / "results" / "step_efficiency.json").read_text())
    (shape,) = r["shapes"].values()
    assert shape["max_loss_difference"] <= r["loss_tolerance"]
    assert all(np.isfinite(v) for v in shape["example_losses"].values())
    assert shape["example_losses"]["triplet"] > 0  # a random model violates the margin somewhere
    # three passes embed 3 x batch clips plus the RSA clips: strictly more than the unique rows
    assert shape["clips_embedded_naive"]["min"] > shape["clips_embedded_unique"]["max"]
    assert _spread_ok(shape["time_ratio_naive_over_unique"], low=1e-9)


@pytest.mark.slow  # quick_run runs the benchmark suite (about a minute on 2 cores)
def test_analysis_timing_covers_every_valid_real_triplet(quick_run):
    r = json.loads((quick_run[1] / "results" / "analysis.json").read_text())
    assert r["odd_one_out"]["n_triplets"] == 47_126
    for rule, chance in (("three_way", 1 / 3), ("paper", 1 / 2)):
        assert abs(r["odd_one_out"][rule]["accuracy_random_model"] - chance) < 0.05
    assert _spread_ok(r["full_analysis"]["wall_s"], low=1e-9)


@pytest.mark.slow  # quick_run runs the benchmark suite (about a minute on 2 cores)
def test_attention_sides_agree_and_both_are_timed_and_measured(quick_run):
    r = json.loads((quick_run[1] / "results" / "attention.json").read_text())
    assert r["max_embedding_difference"] < 1e-4 and r["shape"]["backbone"] == "tiny"
    assert _spread_ok(r["eager_step_s"], low=1e-9) and _spread_ok(r["sdpa_step_s"], low=1e-9)
    assert set(r["step_peak_memory_mib"]) == {"eager", "sdpa"}
    assert all(v >= 0 for v in r["step_peak_memory_mib"].values())


@pytest.mark.slow  # quick_run runs the benchmark suite (about a minute on 2 cores)
def test_gpu_row_and_results_md(quick_run):
    gpu = json.loads((quick_run[1] / "results" / "gpu.json").read_text())
    assert gpu["measured"] == torch.cuda.is_available()
    text = (quick_run[1] / "RESULTS.md").read_text()
    for title in ("1. Data path", "2. Step efficiency", "5. Analysis", "7. GPU", "8. Fused attention"):
        assert f"## {title}" in text
    assert "Load average" in text and "--quick" in text
    if not torch.cuda.is_available():
        assert "not measured: no GPU lent in this session" in text


@pytest.mark.parametrize("argv", [["--only", "nope", "--out", "x"], ["--quick"], ["--quick", "--out", "x",
                                                                                      "--repeats", "0"],
                                  ["--quick", "--out", "x", "--size", "tpu"]])
def test_bad_setting_exits_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_sample_tree_sums_a_child_process():
    # The parent starts a child that holds ~150 MiB for a moment; the sampler must see both.
    child = "import time; b = bytearray(150 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(2)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    peaks = sample_tree([sys.executable, "-c", parent])
    assert peaks["processes_seen"] >= 2
    assert peaks["peak_tree_rss_mib"] >= 150 and peaks["peak_tree_pss_mib"] >= 140
    assert peaks["largest_processes"][0]["peak_rss_mib"] >= 150


def test_sample_tree_reports_a_failing_command():
    with pytest.raises(RuntimeError, match="exited 3"):
        sample_tree([sys.executable, "-c", "raise SystemExit(3)"])


def test_search_summary_by_hand_and_plot(tmp_path):
    asha = [("a", 1, 0.3), ("b", 1, 0.5), ("a", 2, 0.4)]
    rand = [("c", 1, 0.2), ("d", 1, 0.3), ("c", 2, 0.6), ("d", 2, 0.4), ("c", 3, 0.5)]
    x, y = best_so_far(rand)
    assert x.tolist() == [1, 2, 3, 4, 5] and y.tolist() == [0.2, 0.3, 0.6, 0.6, 0.6]
    runs = {"optuna_asha": [{"seed": 0, "reports": asha}], "random_full": [{"seed": 0, "reports": rand}]}
    s = summary(runs)
    assert s["per_seed"][0]["random_best_at_asha_budget"] == 0.6
    assert s["epoch_ratio_asha_over_random"]["median"] == pytest.approx(3 / 5)
    assert s["best_difference_asha_minus_random"]["median"] == pytest.approx(-0.1)
    png = plot_curves(runs, tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_ray_benchmarks_quick(tmp_path):
    """One tiny Ray Tune trial vs the direct call, and a two-trial search per method (Ray started and shut down)."""
    code = main(["--quick", "--out", str(tmp_path), "--only", "ray_overhead,search_efficiency"])
    assert code == 0
    ray_side = json.loads((tmp_path / "results" / "ray_overhead.json").read_text())
    (one,) = ray_side["rounds"]
    assert one["ray_threads"] == one["direct_threads"]
    assert one["ray_fit_s"] > one["ray_worker_fn_s"] > 0 and one["ray_before_worker_s"] > 0
    assert np.isfinite(one["ray_final_train_loss"]) and np.isfinite(one["direct_final_train_loss"])
    search = json.loads((tmp_path / "results" / "search_efficiency.json").read_text())
    for method in ("optuna_asha", "random_full"):
        (run,) = search["runs"][method]
        assert run["trials"] == 2 and all(0 <= r[2] <= 1 for r in run["reports"])
    # without early stopping every trial runs every epoch
    assert len(search["runs"]["random_full"][0]["reports"]) == 2 * search["size"]["epochs"]
    assert (tmp_path / "search_efficiency.png").read_bytes()[:4] == b"\x89PNG"
    # each search's pick and the paper's point, trained again and scored on the test videos, paired
    (held,) = search["held_out"]
    assert set(held["configs"]) == {"paper point", "optuna_asha", "random_full"}
    assert held["configs"]["paper point"] == dict(search_spaces.get("smoke").points_to_evaluate[0])
    diffs = [r for r in held["rows"] if r["metric"] == "diff_vs_paper point_ooo_acc_three_way"]
    assert {r["model"] for r in diffs} == {"optuna_asha", "random_full"}
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in held["rows"])
    report = (tmp_path / "RESULTS.md").read_text()
    assert "## 3. Ray overhead" in report and "minus paper point: accuracy" in report
