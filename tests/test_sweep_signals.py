"""SIGTERM (a scheduler, `kill PID`, a spot reclaim) and SIGHUP (the terminal or ssh session closed) stop a sweep
like the first Ctrl-C: real signals to a real sweep process. The trials keep their last checkpoint, Tune's and
Optuna's running trials stay RUNNING (resumable), the --resume command is printed and written into the folder,
Ray is shut down with nothing left running, and the exit status is 128 + the signal. A stop before any trial
ran (data preparation) is acted on at once, leaves no traceback, and the same command runs again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sweep_helpers import optuna_states, resume_here, tune_states
from study.sweep.interrupt import RESUME_FILE

REPO = Path(__file__).resolve().parents[1]


def _session_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid="], capture_output=True, text=True).stdout
    return [int(pid) for pid, s in (line.split() for line in out.splitlines()) if int(s) == sid]


def _start(tmp_path: Path, data: Path, name: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOCIAL_ALIGN_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "study.sweep", "--data", str(data), "--storage-path", str(tmp_path / "runs"),
           "--name", name, "--no-analysis", "--no-dashboard", "--replicates", "0", *extra]  # the search's stops
    log = tmp_path / f"{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, log


def _wait_for(proc: subprocess.Popen, log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline and text not in log.read_text():
        time.sleep(0.2)
    assert proc.poll() is None and text in log.read_text(), f"no {text!r} in time:\n{log.read_text()[-3000:]}"


def _stop(proc: subprocess.Popen, log: Path, send, expected: int) -> None:
    """Send the signal, expect the exit status, then nothing of the sweep (its Ray) left in its session."""
    try:
        send()
        assert proc.wait(timeout=120) == expected, log.read_text()[-3000:]
        deadline = time.monotonic() + 30
        while _session_pids(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _session_pids(proc.pid), "processes outlived the stopped sweep"
    finally:
        if proc.poll() is None or _session_pids(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)  # ours: started by this test
            proc.wait()


def _stopped_resumably(experiment: Path, log: Path, name: str) -> None:
    command = f"python -m study.sweep --resume {experiment}"
    assert log.read_text().rstrip().endswith(command) and f"sweep stopped by {name}" in log.read_text()
    assert (experiment / RESUME_FILE).read_text().strip() == command
    assert "Traceback" not in log.read_text()
    assert not (experiment / "results.parquet").exists()
    assert "RUNNING" in tune_states(experiment) and "ERROR" not in tune_states(experiment)
    assert "FAIL" not in optuna_states(experiment) and "RUNNING" in optuna_states(experiment)


@pytest.mark.slow
def test_sigterm_stops_the_sweep_resumably_and_resume_runs_each_trial_once(synthetic_dir, tmp_path, capsys):
    proc, log = _start(tmp_path, synthetic_dir, "term", "--num-samples", "2", "--set", "epochs=2",
                       "--set", "steps_per_epoch=6")
    _wait_for(proc, log, "epoch 1:", 400)
    _stop(proc, log, lambda: proc.send_signal(signal.SIGTERM), 143)
    experiment = tmp_path / "runs" / "term"
    _stopped_resumably(experiment, log, "SIGTERM")

    assert resume_here(experiment, tmp_path / "cache", "--no-analysis") == 0
    frame = pd.read_parquet(experiment / "results.parquet")
    assert len(frame) == 2 and frame["trial_id"].is_unique and (frame["status"] == "TERMINATED").all()
    assert optuna_states(experiment) == ["COMPLETE"] * 2  # each trial told once
    for trial in experiment.glob("trial_*"):  # no epoch reported twice: resumed from the checkpoint, not rerun
        epochs = [json.loads(line)["training_iteration"] for line in (trial / "result.json").read_text().splitlines()]
        assert epochs == sorted(set(epochs)), (trial.name, epochs)
    assert not (experiment / RESUME_FILE).exists()
    assert "2 trials: 2 finished" in capsys.readouterr().out


@pytest.mark.slow
def test_sighup_to_the_terminal_s_process_group_stops_the_sweep_resumably(synthetic_dir, tmp_path):
    proc, log = _start(tmp_path, synthetic_dir, "hup", "--num-samples", "1", "--set", "epochs=2",
                       "--set", "steps_per_epoch=6")
    _wait_for(proc, log, "epoch 1:", 400)
    _stop(proc, log, lambda: os.killpg(proc.pid, signal.SIGHUP), 129)  # what a closing terminal sends
    _stopped_resumably(tmp_path / "runs" / "hup", log, "SIGHUP")


@pytest.mark.slow
def test_a_stop_during_data_preparation_is_acted_on_at_once_and_the_name_runs_again(synthetic_dir, tmp_path):
    for signum in (signal.SIGTERM, signal.SIGINT):  # the second run reuses the name the first one left
        proc, log = _start(tmp_path, synthetic_dir, "early")
        _wait_for(proc, log, "preflight:", 120)  # past the checks: the backbone and the data are being prepared
        sent = time.monotonic()
        _stop(proc, log, lambda: os.killpg(proc.pid, signum), 128 + signum)
        took = time.monotonic() - sent
        assert took < 2.0, f"took {took:.1f} s"
        text = log.read_text()
        assert "Traceback" not in text and "stopped (no trial was running: nothing to resume)" in text
        assert "already exists" not in text
