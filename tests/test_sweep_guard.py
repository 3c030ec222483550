"""One writer per experiment folder, and resuming only folders this user alone controls: two sweeps started
together on one name, a --resume of a folder whose sweep still runs, a folder someone else could have
written (resuming unpickles its tuner.pkl), a missing or corrupt optuna.db. Each refusal is one `error:`
line, exit 2, before Ray starts."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import study.sweep as sweep
from sweep_helpers import refused
from study.sweep.lock import LOCK_FILE

REPO = Path(__file__).resolve().parents[1]


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGKILL the sweep we started and everything in its session (its Ray included)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_two_sweeps_started_together_on_one_name_leave_one_writer(synthetic_dir, tmp_path, capsys):
    store = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOCIAL_ALIGN_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "study.sweep", "--data", str(synthetic_dir), "--storage-path", str(store),
           "--name", "same", "--set", "steps_per_epoch=2", "--no-analysis", "--no-dashboard", "--replicates", "0"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 240
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.2)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        err = loser.stderr.read().strip().splitlines()
        assert loser.returncode == 2 and len(err) == 1, err
        assert err[0].startswith(f"error: experiment folder {store / 'same'} ") and \
            ("already exists" in err[0] or "in use by another sweep" in err[0])
        assert winner.poll() is None, "the winner should still be running"
        assert (store / "same" / LOCK_FILE).read_text().strip() == str(winner.pid)
        # Resuming the folder the winner is writing is refused too, naming the writer.
        line = refused(capsys, ["--resume", str(store / "same"), "--no-analysis", "--no-dashboard"])
        assert line == (f"error: experiment folder {store / 'same'} is in use by another sweep (pid {winner.pid}); "
                        "wait for it to finish, or stop it and then --resume")
    finally:
        for proc in procs:
            _stop_group(proc)


def test_the_lock_is_held_while_its_process_lives_and_dropped_when_it_dies(tmp_path):
    folder = tmp_path / "exp"
    code = ("import sys, time\nfrom pathlib import Path\nfrom study.sweep.lock import claim_experiment\n"
            f"claim_experiment(Path({str(folder)!r}), create=True)\nprint('locked', flush=True)\ntime.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(sweep.ConfigError, match=f"in use by another sweep \\(pid {holder.pid}\\)"):
            sweep.claim_experiment(folder, create=False)
        with pytest.raises(sweep.ConfigError, match="in use by another sweep"):  # unstarted, but held
            sweep.claim_experiment(folder, create=True)
    finally:
        holder.kill()
        holder.wait()
    lock = sweep.claim_experiment(folder, create=False)  # the kernel dropped the dead holder's lock
    assert (folder / LOCK_FILE).read_text().strip() == str(os.getpid())
    lock.release()


def _experiment(tmp_path: Path, data: Path) -> Path:
    """A folder shaped like a sweep's: sweep.json (an Optuna space), a tuner.pkl, an optuna.db with its study."""
    import optuna

    folder = tmp_path / "runs" / "exp"
    folder.mkdir(parents=True)
    settings = {"space": "smoke", "data": str(data), "storage_path": str(folder.parent), "name": "exp"}
    (folder / "sweep.json").write_text(json.dumps({"settings": settings}))
    (folder / "tuner.pkl").write_bytes(b"not unpickled by any test")
    optuna.create_study(study_name="exp", storage=f"sqlite:///{folder / 'optuna.db'}")
    folder.chmod(0o700)
    sweep.sign_folder(folder)  # as this user's sweep would have
    return folder


def test_resume_refuses_a_folder_someone_else_could_have_written(synthetic_dir, tmp_path, capsys, monkeypatch):
    folder = _experiment(tmp_path, synthetic_dir)
    capsys.readouterr()  # Optuna's line about the study it created
    (folder / "tuner.pkl").chmod(0o664)
    line = refused(capsys, ["--resume", str(folder)])
    assert f"{folder / 'tuner.pkl'} is not trusted" in line and "-rw-rw-r--" in line
    (folder / "tuner.pkl").chmod(0o600)
    folder.chmod(0o777)
    assert f"{folder} is not trusted" in refused(capsys, ["--resume", str(folder)])
    folder.chmod(0o700)
    monkeypatch.setattr("study.sweep.plan.os.getuid", lambda: os.stat(folder).st_uid + 1)
    assert f"(owner uid {os.stat(folder).st_uid}," in refused(capsys, ["--resume", str(folder)])
    assert "Resuming runs code stored in DIR" in " ".join(sweep.build_parser().format_help().split())


def test_resume_refuses_a_missing_or_corrupt_optuna_db_before_ray(synthetic_dir, tmp_path, capsys):
    folder = _experiment(tmp_path, synthetic_dir)
    capsys.readouterr()  # Optuna's line about the study it created
    study = folder / "optuna.db"
    study.write_bytes(b"garbage, not SQLite" * 100)
    line = refused(capsys, ["--resume", str(folder), "--no-dashboard"])
    assert f"--resume {folder}: {study} is not a readable Optuna study" in line
    with sqlite3.connect(study.with_suffix(".other")) as db:
        db.execute("CREATE TABLE studies (study_name TEXT)")
    study.unlink()
    study.with_suffix(".other").rename(study)
    assert f"{study} holds no study named 'exp'" in refused(capsys, ["--resume", str(folder), "--no-dashboard"])
    study.unlink()
    assert f"--resume {folder}: {study} is missing" in refused(capsys, ["--resume", str(folder), "--no-dashboard"])
    assert not study.exists()  # not recreated empty


def test_a_refused_resume_frees_the_folder_for_the_next_try_in_the_same_process(synthetic_dir, tmp_path, capsys):
    folder = _experiment(tmp_path, synthetic_dir)
    capsys.readouterr()  # Optuna's line about the study it created
    (folder / LOCK_FILE).write_text("")  # made by a sweep that has since died
    (folder / "optuna.db").unlink()
    refused(capsys, ["--resume", str(folder), "--no-dashboard"])
    sweep.claim_experiment(folder, create=False).release()  # not still held by the refused resume
