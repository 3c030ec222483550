"""A sweep killed with SIGKILL after its first finished trial resumes with `--resume DIR` to completion,
continuing the same Optuna study in its folder."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import ray

import study.sweep as sweep

REPO = Path(__file__).resolve().parents[1]


def trial_states(experiment: Path) -> dict[str, str]:
    """trial_id -> status from Tune's experiment state (rewritten whole by Tune as the sweep goes)."""
    states = {}
    for path in experiment.glob("experiment_state-*.json"):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        for state, _ in doc["trial_data"]:
            trial = json.loads(state)
            states[trial["trial_id"]] = trial["status"]
    return states


def session_pids(sid: int) -> list[int]:
    """Processes still in the session our sweep process led (Ray's processes included)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid="], capture_output=True, text=True).stdout
    return [int(pid) for pid, s in (line.split() for line in out.splitlines()) if int(s) == sid]


def kill_after_first_finished_trial(cmd: list[str], env: dict, experiment: Path, log: Path) -> set[str]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline and proc.poll() is None:
        done = {t for t, s in trial_states(experiment).items() if s == "TERMINATED"}
        if done:
            break
        time.sleep(0.5)
    assert proc.poll() is None, f"the sweep ended before it could be killed:\n{log.read_text()[-3000:]}"
    assert done, f"no trial finished in time:\n{log.read_text()[-3000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60  # Ray's processes share the driver's fate; give them time to go
    while session_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(1)
    left = session_pids(proc.pid)
    for pid in left:  # ours (started by this test): clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes outlived the killed sweep: {left}"
    return done


@pytest.mark.slow
def test_sweep_killed_after_its_first_finished_trial_resumes_to_completion(synthetic_dir, tmp_path, capsys):
    experiment = tmp_path / "runs" / "killed"
    env = {**os.environ, "SOCIAL_ALIGN_CACHE": str(tmp_path / "cache")}
    # Two workers per trial fill the 2-CPU local Ray: trials run one at a time, with DDP.
    cmd = [sys.executable, "-m", "study.sweep", "--data", str(synthetic_dir), "--storage-path",
           str(tmp_path / "runs"), "--name", "killed", "--num-samples", "2", "--workers-per-trial", "2",
           "--set", "epochs=2", "--set", "steps_per_epoch=2", "--no-analysis", "--no-dashboard",
           "--replicates", "0"]
    finished = kill_after_first_finished_trial(cmd, env, experiment, tmp_path / "sweep.log")
    before = {t: Path(next(experiment.glob(f"trial_{t}")), "result.json").read_text() for t in finished}
    storage = f"sqlite:///{experiment / 'optuna.db'}"
    started = optuna.load_study(study_name="killed", storage=storage).trials
    assert 1 <= len(started) <= 2  # the killed sweep had asked Optuna for its trials

    os.environ["SOCIAL_ALIGN_CACHE"] = env["SOCIAL_ALIGN_CACHE"]
    # The resume runs the preflight too: a training video gone since is one line, before Ray starts.
    video = synthetic_dir / "videos" / pd.read_csv(synthetic_dir / "train.csv")["video_name"].iloc[0]
    video.rename(video.with_suffix(".away"))
    try:
        with pytest.raises(SystemExit) as stop:
            sweep.main(["--resume", str(experiment), "--no-analysis", "--no-dashboard"])
        assert stop.value.code == 2 and not ray.is_initialized()
        assert f"error: {video}: video file not found" in capsys.readouterr().err
    finally:
        video.with_suffix(".away").rename(video)
    try:
        assert sweep.main(["--resume", str(experiment), "--no-analysis", "--no-dashboard"]) == 0
    finally:
        os.environ.pop("SOCIAL_ALIGN_CACHE")
        ray.shutdown()
    frame = pd.read_parquet(experiment / "results.parquet")
    # The searcher's state came back: it made up the missing trial only, not two new ones.
    assert len(frame) == 2 and frame["trial_id"].is_unique
    assert (frame["status"] == "TERMINATED").all()
    for trial_id in finished:  # finished trials were kept, not rerun
        assert Path(next(experiment.glob(f"trial_{trial_id}")), "result.json").read_text() == before[trial_id]
    assert json.loads((experiment / "best.json").read_text())["trial_id"] in set(frame["trial_id"])
    # The same Optuna study went on: one study in the file, its first trials kept, one COMPLETE trial per
    # Tune trial with Tune's value. A trial the killed sweep had asked for after Tune's last searcher
    # snapshot is asked again on resume; the stale one is marked FAIL, nothing is left RUNNING.
    assert optuna.get_all_study_names(storage) == ["killed"]
    study = optuna.load_study(study_name="killed", storage=storage)
    assert [t.datetime_start for t in study.trials[:len(started)]] == [t.datetime_start for t in started]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.value for t in done) == pytest.approx(sorted(frame["final_val_ooo_acc"]))
    rest = [t for t in study.trials if t.state != optuna.trial.TrialState.COMPLETE]
    assert len(rest) <= 1 and all(t.state == optuna.trial.TrialState.FAIL and "abandoned" in t.user_attrs
                                  for t in rest)
