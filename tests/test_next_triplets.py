"""`python -m study.next_triplets`: the next triplets for a lab, from a finished run and its data folder; bad input
refused in one line, exit 2, nothing written, in under a second, before torch is imported."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.clips import DecodeSettings
from data.judgments import load_judgments
from data.prepared import prepare_dataset
from study.budget.candidates import triad_keys
from study.budget.next_triplets import COLUMNS, summary_path
from study.next_triplets import main

REPO = Path(__file__).resolve().parents[1]
RUN = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 4, "rsa_subset": 4}


@pytest.fixture(scope="module")
def runs(synthetic_dir, tmp_path_factory) -> dict:
    """Two one-epoch training runs (seeds 0 and 1) on the small synthetic benchmark."""
    import torch

    from trainables.loop import train

    root = tmp_path_factory.mktemp("next")
    prepared = prepare_dataset(synthetic_dir, decode=DecodeSettings(num_frames=4, image_size=32),
                               out_root=root / "prepared")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for seed in (0, 1):
            train({**RUN, "prepared_dir": str(prepared), "seed": seed}, checkpoint_dir=root / f"run{seed}")
    finally:
        torch.set_num_threads(threads)
    return {"root": root, "runs": [str(root / "run0"), str(root / "run1")]}


def _check_written(out: Path, data_dir: Path, n: int) -> pd.DataFrame:
    frame = pd.read_csv(out)
    assert tuple(frame.columns) == COLUMNS and len(frame) == n
    j = load_judgments(data_dir, min_catch_accuracy=0.0)
    stims = frame[["stim1_name", "stim2_name", "stim3_name"]].to_numpy()
    assert (stims >= 0).all() and (stims < j.n_videos).all()
    assert not np.isin(stims, j.test_videos).any()
    assert (np.sort(stims, axis=1)[:, 1:] != np.sort(stims, axis=1)[:, :-1]).all()  # three distinct videos
    keys = triad_keys(stims, j.n_videos)
    assert len(np.unique(keys)) == n and not np.isin(keys, triad_keys(j.triplets, j.n_videos)).any()
    assert frame["choice"].isna().all() and frame["participation"].isna().all()
    return frame


@pytest.mark.parametrize("strategy, how_many", [("uniform", 1), ("coverage", 1), ("uncertainty", 1),
                                                ("disagreement", 2)])
def test_writes_new_triads_of_training_videos_and_says_why(strategy, how_many, runs, synthetic_dir, tmp_path,
                                                            capsys):
    out = tmp_path / "next.csv"
    assert main([*runs["runs"][:how_many], "--n", "25", "--strategy", strategy, "--out", str(out)]) == 0
    _check_written(out, synthetic_dir, 25)
    summary = json.loads(summary_path(out).read_text())
    assert summary["strategy"] == strategy and summary["n"] == 25
    assert summary["score_of_picked"]["median"] >= summary["score_of_candidates"]["median"]
    assert "25 triplets by " + strategy in capsys.readouterr().out


def test_uncertainty_picks_triads_the_model_is_less_sure_of_than_uniform_does(runs, tmp_path):
    for strategy in ("uniform", "uncertainty"):
        main([runs["runs"][0], "--n", "40", "--strategy", strategy, "--out", str(tmp_path / f"{strategy}.csv")])
    picked = {s: json.loads(summary_path(tmp_path / f"{s}.csv").read_text()) for s in ("uniform", "uncertainty")}
    # Uncertainty's picks are the top of its own score; the candidates' median is far below them.
    assert picked["uncertainty"]["score_of_picked"]["min"] > picked["uncertainty"]["score_of_candidates"]["median"]


_REFUSALS = """
import json, sys, time
from study.next_triplets import main
cases = json.loads(sys.argv[1])
for argv in cases:
    began = time.perf_counter()
    try:
        main(argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    print(json.dumps([code, time.perf_counter() - began, 'torch' in sys.modules]))
"""


def test_bad_input_is_one_line_exit_2_nothing_written_in_under_a_second_without_torch(runs, synthetic_dir,
                                                                                      tmp_path):
    other = Path(shutil.copytree(synthetic_dir, tmp_path / "other"))
    rows = pd.read_csv(other / "all_triplets.csv")
    rows.iloc[:-5].to_csv(other / "all_triplets.csv", index=False)  # other judgments: another fingerprint
    (tmp_path / "empty").mkdir()
    out = str(tmp_path / "out" / "next.csv")
    (tmp_path / "out").mkdir()
    run = runs["runs"][0]
    cases = {
        "no checkpoint here": [str(tmp_path / "empty"), "--n", "5", "--strategy", "uniform", "--out", out],
        "--n '0': must be a positive whole number": [run, "--n", "0", "--strategy", "uniform", "--out", out],
        "--n '2.5': must be a positive whole number": [run, "--n", "2.5", "--strategy", "uniform", "--out", out],
        "--n 'many': must be a positive whole number": [run, "--n", "many", "--strategy", "uniform", "--out", out],
        "--strategy 'greedy': unknown": [run, "--n", "5", "--strategy", "greedy", "--out", out],
        "are not the ones the run trained on": [run, "--n", "5", "--strategy", "uniform", "--out", out,
                                                "--data", str(other)],
        "needs 2 models": [run, "--n", "5", "--strategy", "disagreement", "--out", out],
    }
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _REFUSALS, json.dumps(list(cases.values()))], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(cases), done.stderr
    for (says, _), line, result in zip(cases.items(), lines, done.stdout.strip().splitlines()):
        code, seconds, torch_loaded = json.loads(result)
        assert line.startswith("error: ") and says in line, (says, line)
        assert code == 2 and seconds < 1.0 and not torch_loaded, (says, seconds)
    assert list((tmp_path / "out").iterdir()) == []
