"""Ctrl-C: a real SIGINT to a real sweep's process group (what a terminal sends) stops it cleanly: exit 130,
the exact --resume command printed, no results.parquet or best.json, Tune's trials and Optuna's trials left
RUNNING (resumable, not FAIL); `--resume` then finishes the sweep with every trial run once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow.fs
import pytest

import search_spaces
import study.sweep as sweep
from sweep_helpers import optuna_states, resume_here, tune_states
from study.sweep.interrupt import Interrupts

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_ctrl_c_stops_the_sweep_resumably_and_resume_finishes_it(synthetic_dir, tmp_path, capsys):
    experiment = tmp_path / "runs" / "ctrlc"
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOCIAL_ALIGN_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "study.sweep", "--data", str(synthetic_dir), "--storage-path",
           str(tmp_path / "runs"), "--name", "ctrlc", "--num-samples", "3", "--set", "epochs=3",
           "--set", "steps_per_epoch=6", "--no-analysis", "--no-dashboard", "--replicates", "0"]
    log = tmp_path / "sweep.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 400
        while proc.poll() is None and time.monotonic() < deadline and "epoch 1:" not in log.read_text():
            time.sleep(0.5)
        assert proc.poll() is None, f"the sweep ended before Ctrl-C:\n{log.read_text()[-3000:]}"
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
        assert proc.wait(timeout=120) == 130, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert text.rstrip().endswith(f"python -m study.sweep --resume {experiment}")
    assert not (experiment / "results.parquet").exists() and not (experiment / "best.json").exists()
    assert "RUNNING" in tune_states(experiment) and "ERROR" not in tune_states(experiment)
    assert "FAIL" not in optuna_states(experiment) and "RUNNING" in optuna_states(experiment)

    assert resume_here(experiment, env["SOCIAL_ALIGN_CACHE"]) == 0
    frame = pd.read_parquet(experiment / "results.parquet")
    assert len(frame) == 3 and frame["trial_id"].is_unique and (frame["status"] == "TERMINATED").all()
    assert optuna_states(experiment) == ["COMPLETE"] * 3  # each trial told once, none FAIL
    assert "3 trials: 3 finished" in capsys.readouterr().out


def test_the_first_ctrl_c_asks_tune_to_stop_and_the_second_exits_at_once(monkeypatch):
    sent = []
    monkeypatch.setattr("study.sweep.interrupt.os.kill", lambda pid, sig: sent.append(sig))
    monkeypatch.setattr("study.sweep.interrupt.signal.getsignal", lambda sig: print)  # Tune's handler is in
    exits = []
    monkeypatch.setattr("study.sweep.interrupt.os._exit", exits.append)
    handler = Interrupts()
    with pytest.raises(KeyboardInterrupt):  # no Tune loop yet: an ordinary interrupt
        handler(signal.SIGINT, None)
    handler.tune_running = True
    handler(signal.SIGINT, None)
    assert handler.requested and sent == [signal.SIGUSR1] and exits == []
    handler(signal.SIGINT, None)
    assert exits == [130]


def test_a_trial_that_never_started_is_a_row_not_an_attribute_error(tmp_path):
    never = SimpleNamespace(metrics=None, metrics_dataframe=None, config=None, error=None,
                            path=str(tmp_path / "trial_abc12345"), filesystem=pyarrow.fs.LocalFileSystem(),
                            checkpoint=None, get_best_checkpoint=lambda metric, mode: None)
    frame = sweep.results_frame([never], search_spaces.get("smoke"))
    row = frame.iloc[0]
    assert row["trial_id"] == "abc12345" and row["status"] == "NOT_STARTED" and not row["stopped_early"]
