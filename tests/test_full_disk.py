"""A full disk is survivable and loses nothing (docs/sweep.md, "Resume and fault tolerance"): a full cache root
is one line and leaves no temporary file; a sweep whose disk fills stops resumably in one line, keeps every
file whole, and `--resume` finishes it once there is space again. The disk is filled by an injected ENOSPC at
each write (tests/test_prepare.py fills a real tmpfs where the machine lets a test mount one)."""
from __future__ import annotations

import errno
import json
import pickle
import signal
import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pyarrow.fs
import pytest

import study.sweep as sweep
from sweep_helpers import optuna_states, tune_states


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# ------------------------------------------------------------------------------------------- the cache root
def test_a_full_cache_root_while_the_sweep_decodes_clips_is_one_line_exit_2_and_no_temporary_file(
        synthetic_dir, tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SOCIAL_ALIGN_CACHE", str(cache))
    monkeypatch.setattr("study.sweep.tune.with_backbone_folder", lambda space: space)  # no backbone to build
    monkeypatch.setattr("data.clips.os.posix_fallocate", _full)  # the disk cannot hold the decoded clips
    argv = ["--data", str(synthetic_dir), "--storage-path", str(tmp_path / "runs"), "--name", "x",
            "--no-dashboard"]
    with pytest.raises(SystemExit) as stop:
        sweep.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1, err
    assert err[0].startswith(f"error: {cache}/") and "disk full writing the cache (this write needs about" in err[0]
    assert "$SOCIAL_ALIGN_CACHE" in err[0]
    assert not [p for p in cache.rglob("*") if ".tmp" in p.name or p.name.startswith(".prepared-")]


# ------------------------------------------------------------------------ Tune's writes: whole or not at all
def _copy_state(source: Path, experiment: Path) -> None:
    """What Tune's sync does: make the folder, copy the staged files into it through the storage filesystem."""
    from common.storage import tune_filesystem

    experiment.mkdir(exist_ok=True)
    pyarrow.fs.copy_files(str(source), str(experiment), destination_filesystem=tune_filesystem(str(experiment)))


def test_tunes_copy_of_its_state_onto_a_full_disk_keeps_the_last_whole_file_and_says_which(tmp_path, monkeypatch):
    from common.whole_files import FULL_WRITES

    staging, experiment = tmp_path / "staging", tmp_path / "experiment"
    (staging / "trial_a").mkdir(parents=True)
    (staging / "experiment_state-x.json").write_text(json.dumps({"epoch": 1}))
    (staging / "trial_a" / "result.json").write_text('{"epoch": 1}\n')
    _copy_state(staging, experiment)
    (staging / "experiment_state-x.json").write_text(json.dumps({"epoch": 2}) + " " * 100_000)
    (staging / "trial_a" / "result.json").write_text('{"epoch": 1}\n{"epoch": 2}\n')
    FULL_WRITES.clear()
    monkeypatch.setattr("common.whole_files.open", full_disk_open(""), raising=False)
    with pytest.raises(OSError) as err:
        _copy_state(staging, experiment)
    assert err.value.errno == errno.ENOSPC and err.value.filename in FULL_WRITES
    assert err.value.filename.startswith(str(experiment))  # the file it was writing, not a temporary name
    assert json.loads((experiment / "experiment_state-x.json").read_text()) == {"epoch": 1}
    assert (experiment / "trial_a" / "result.json").read_text() == '{"epoch": 1}\n'
    assert sorted(p.name for p in experiment.rglob("*")) == ["experiment_state-x.json", "result.json", "trial_a"]
    monkeypatch.undo()
    _copy_state(staging, experiment)  # space again: the next copy lands whole
    assert (experiment / "trial_a" / "result.json").read_text().count("epoch") == 2
    FULL_WRITES.clear()


def test_on_a_real_full_disk_tunes_state_file_stays_whole(tmp_path, small_disk):
    from common.whole_files import FULL_WRITES

    staging, experiment = tmp_path / "staging", small_disk / "experiment"
    staging.mkdir()
    (staging / "experiment_state-x.json").write_text(json.dumps({"epoch": 1, "pad": "x" * 30_000}))
    _copy_state(staging, experiment)
    (staging / "experiment_state-x.json").write_text(json.dumps({"epoch": 2, "pad": "x" * 50_000}))
    FULL_WRITES.clear()
    with pytest.raises(OSError) as err:  # the old file and its successor do not both fit in 64 KiB
        _copy_state(staging, experiment)
    assert err.value.errno == errno.ENOSPC and FULL_WRITES == [str(experiment / "experiment_state-x.json")]
    assert json.loads((experiment / "experiment_state-x.json").read_text())["epoch"] == 1
    assert [p.name for p in experiment.iterdir()] == ["experiment_state-x.json"]
    FULL_WRITES.clear()


def test_tunes_filesystem_travels_to_workers_and_into_tuner_pkl(tmp_path):
    from common.storage import tune_filesystem

    filesystem = tune_filesystem(str(tmp_path))
    assert pickle.loads(pickle.dumps(filesystem)).equals(filesystem)
    assert tune_filesystem("s3://bucket/runs") is None  # a bucket's puts are whole already


@pytest.mark.parametrize("name", ["sweep.json", "results.parquet", "best.json", "replicates.json"])
def test_the_sweeps_own_files_on_a_full_disk_stay_whole_and_the_stop_names_them(name, tmp_path, monkeypatch):
    from common.storage import write_bytes
    from study.sweep.diskfull import DiskFull, full_disk_stops

    experiment = tmp_path / "x"
    experiment.mkdir()
    (experiment / name).write_bytes(b"the last whole copy")
    real = Path.write_bytes

    def half_then_full(self, data):  # the disk fills half way through the file
        real(self, data[: len(data) // 2])
        _full()

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(DiskFull) as stop, full_disk_stops(str(experiment)):
        write_bytes(f"{experiment}/{name}", b"a newer copy, cut short by the disk")
    assert stop.value.filename == f"{experiment}/{name}" and stop.value.experiment == str(experiment)
    assert [p.name for p in experiment.iterdir()] == [name]
    assert (experiment / name).read_bytes() == b"the last whole copy"


# ------------------------------------------------------------------------------- the sweep stops in one line
def test_the_first_full_write_asks_tune_for_its_resumable_stop_once(monkeypatch):
    import study.sweep.diskfull as diskfull
    from common.whole_files import FULL_WRITES

    sent = []
    monkeypatch.setattr("study.sweep.diskfull.os.kill", lambda pid, sig: sent.append(sig))
    monkeypatch.setattr("study.sweep.diskfull.signal.getsignal", lambda sig: print)  # Tune's handler is in
    FULL_WRITES.clear()
    guard = diskfull.DiskGuard()
    guard.on_step_begin(0, [])
    assert sent == []
    FULL_WRITES[:] = ["/runs/x/experiment_state-1.json"]
    guard.on_step_begin(1, [])
    guard.on_step_begin(2, [])
    assert sent == [signal.SIGUSR1]
    FULL_WRITES.clear()


class _FullStream:
    def write(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        pass


def test_log_lines_on_a_full_disk_are_dropped_not_reported_once_per_line(tmp_path, capsys, monkeypatch):
    """What the old sweep printed 2,122 times ("--- Logging error ---" and a traceback) before its one line."""
    import logging

    from study.sweep.console import QUIET_ENV, QUIET_LIBRARIES, quiet_console

    for name in (*QUIET_LIBRARIES, QUIET_ENV, "RAY_AIR_NEW_OUTPUT"):
        monkeypatch.delenv(name, raising=False)  # restored after the test, as quiet_console sets them
    monkeypatch.setattr(logging, "raiseExceptions", logging.raiseExceptions)
    for name in ("ray", "optuna"):
        monkeypatch.setattr(logging.getLogger(name), "handlers", list(logging.getLogger(name).handlers))
        monkeypatch.setattr(logging.getLogger(name), "propagate", logging.getLogger(name).propagate)
    quiet_console(str(tmp_path), verbose=False)
    (ray_log,) = logging.getLogger("ray").handlers
    ray_log.stream = _FullStream()  # EXPERIMENT/ray.log on a full disk
    elsewhere = logging.getLogger("full-disk-test")
    monkeypatch.setattr(elsewhere, "handlers", [logging.StreamHandler(_FullStream())])  # a log under /tmp/ray
    for k in range(200):
        logging.getLogger("ray.tune").warning("line %d", k)
        elsewhere.warning("line %d", k)
    captured = capsys.readouterr()
    assert "Logging error" not in captured.err and "Traceback" not in captured.err


def _sqlite_full(tmp_path) -> Exception:
    """SQLite's own "database or disk is full", as Optuna raises it (an error chained from sqlite3's)."""
    db = sqlite3.connect(tmp_path / "optuna.db")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 3")
    try:
        db.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    except sqlite3.OperationalError as full:
        try:
            raise RuntimeError("An exception is raised during the commit.") from full
        except RuntimeError as wrapped:
            return wrapped
    finally:
        db.close()
    raise AssertionError("SQLite took a row larger than its pages")


@pytest.mark.parametrize("where", ["tune-state", "optuna", "staging", "other"])
def test_a_full_disk_inside_tunes_loop_is_a_resumable_stop_naming_the_file(where, tmp_path, monkeypatch):
    import study.sweep.diskfull as diskfull
    from common.whole_files import FULL_WRITES

    experiment = str(tmp_path / "x")
    errors = {"optuna": _sqlite_full(tmp_path), "staging": OSError(errno.ENOSPC, "No space", "/tmp/ray/state.json"),
              "other": RuntimeError("a bug")}

    class Tuner:
        def fit(self):
            if where == "tune-state":  # the write is Tune's own (whole_files): Tune goes on, the guard stops it
                FULL_WRITES.append(f"{experiment}/experiment_state-1.json")
                return "grid"
            raise errors[where]

    monkeypatch.setattr(diskfull, "guard_actor", lambda: None)  # no Ray here
    if where == "other":
        with pytest.raises(RuntimeError, match="a bug"):
            diskfull.fit_guarded(Tuner(), sweep.interrupt.Interrupts(), experiment)
        return
    with pytest.raises(diskfull.DiskFull) as stop:
        diskfull.fit_guarded(Tuner(), sweep.interrupt.Interrupts(), experiment)
    assert stop.value.errno == errno.ENOSPC and stop.value.experiment == experiment
    assert stop.value.filename == {"tune-state": f"{experiment}/experiment_state-1.json",
                                   "optuna": f"{experiment}/optuna.db", "staging": "/tmp/ray/state.json"}[where]
    FULL_WRITES.clear()


@pytest.mark.parametrize("started", [True, False])
def test_the_command_says_how_to_go_on_in_one_line(started, tmp_path, capsys, monkeypatch):
    from study.sweep.diskfull import DiskFull

    experiment = tmp_path / "x"
    experiment.mkdir()
    (experiment / sweep.LOCK_FILE).write_text("1\n")
    (experiment / "sweep.json").write_text("{}")
    if started:
        (experiment / "tuner.pkl").write_bytes(b"state")

    def full(*args, **kwargs):
        raise DiskFull(f"{experiment}/trial_a/checkpoint_000001/head.safetensors", str(experiment))

    monkeypatch.setattr("study.sweep.command._run", full)
    assert sweep.main([]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: disk full writing {experiment}/trial_a/checkpoint_000001/")
    if started:
        assert f"python -m study.sweep --resume {experiment} " in err[0]
    else:
        assert err[0].endswith("run the same command again (no trial had started)")


# --------------------------------------------------------------------- a real sweep, stopped and resumed
class _FullFile:
    """A file opened for writing on a disk with no room left: the first write fails."""

    def __init__(self, path):
        self._file = open(path, "wb")

    closed = property(lambda self: self._file.closed)

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self):
        self._file.flush()

    def tell(self):
        return self._file.tell()

    def close(self):
        self._file.close()


def full_disk_open(part: str, flag: Path | None = None):
    """`open` for common.whole_files: a file whose path contains `part` finds the disk full (while `flag`
    exists, when one is given)."""

    def whole_files_open(path, mode="r", *args, **kwargs):
        if part in str(path) and "w" in mode and (flag is None or flag.exists()):
            return _FullFile(path)
        return open(path, mode, *args, **kwargs)

    return whole_files_open


def disk_that_fills(flag: Path, part: str):
    """The sweep's trial worker, in whose process every file written through common.whole_files whose path
    contains `part` finds the disk full while `flag` exists (removing the flag frees the space)."""
    from study.sweep.trial import trial_worker

    def worker(config: dict, data=None) -> None:
        import common.whole_files

        common.whole_files.open = full_disk_open(part, flag)
        trial_worker(config, data)

    return worker


@pytest.fixture(scope="module")
def shared_ray():
    """One local Ray for the stops and resumes below (the sweep leaves a Ray it did not start running)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"RAY_TRAIN_V2_ENABLED": "0"}})
    yield
    ray.shutdown()


def _epochs(experiment: Path) -> dict[str, list[int]]:
    """Each trial's epochs in its result.json in the experiment folder (what a resume continues from)."""
    out = {}
    for path in experiment.glob("trial_*/result.json"):
        out[path.parent.name] = [json.loads(line)["epoch"] for line in path.read_text().splitlines() if line]
    return out


@pytest.mark.slow
def test_a_sweep_whose_disk_fills_stops_in_one_line_and_resume_finishes_it_losing_no_epoch(
        synthetic_dir, cache, shared_ray, tmp_path, capsys, monkeypatch):
    """The disk fills at a trial's second checkpoint (a worker's write), the sweep stops; the resume finds it
    full again at Tune's own experiment state (the driver's write) and stops again; the next one finishes."""
    import study.sweep.tune as tune_module

    ray_pickle = __import__("ray").cloudpickle
    ray_pickle.register_pickle_by_value(sys.modules[__name__])  # Ray's workers cannot import this module
    flag = tmp_path / "disk-full"
    flag.touch()
    worker = disk_that_fills(flag, "checkpoint_000001")
    monkeypatch.setitem(tune_module.run_sweep.__kwdefaults__, "worker", worker)
    monkeypatch.setitem(tune_module.resume_sweep.__kwdefaults__, "worker", worker)
    experiment = tmp_path / "runs" / "full"
    argv = ["--data", str(synthetic_dir), "--storage-path", str(tmp_path / "runs"), "--name", "full",
            "--num-samples", "1", "--set", "epochs=2", "--set", "steps_per_epoch=2", "--no-analysis",
            "--no-dashboard", "--replicates", "0"]

    def stopped(run, writing: str) -> dict[str, list[int]]:
        capsys.readouterr()
        assert run() == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: disk full writing {experiment}/"), err
        assert writing in err[0].split(";")[0]
        assert err[0].endswith(f"python -m study.sweep --resume {experiment} (every file it wrote is whole; its "
                               "trials go on from their last checkpoint)")
        assert not (experiment / "results.parquet").exists() and "ERROR" not in tune_states(experiment)
        assert "FAIL" not in optuna_states(experiment)  # the trial stopped, it did not fail
        assert not [p for p in experiment.rglob("*") if ".tmp" in p.name]
        return _epochs(experiment)

    before = stopped(lambda: sweep.main(argv), "/checkpoint_000001/")
    flag.unlink()  # space for the trials; now Tune's own experiment state (written by this process) finds none
    with monkeypatch.context() as driver:
        driver.setattr("common.whole_files.open", full_disk_open("experiment_state-"), raising=False)
        again = stopped(lambda: sweep.main(["--resume", str(experiment), "--no-analysis", "--no-dashboard"]),
                        "/experiment_state-")
    assert sweep.main(["--resume", str(experiment), "--no-analysis", "--no-dashboard"]) == 0
    frame = pd.read_parquet(experiment / "results.parquet")
    assert len(frame) == 1 and (frame["status"] == "TERMINATED").all() and (frame["epochs_run"] == 2).all()
    states = optuna_states(experiment)  # (the space's second point to evaluate waits: one trial was asked for)
    assert states.count("COMPLETE") == 1 and not {"RUNNING", "FAIL"} & set(states)
    assert before and all(before.values())  # the stopped sweep had kept epoch 1 of its trial
    for trial, epochs in _epochs(experiment).items():  # every epoch reported before a stop is still there
        assert sorted(set(epochs)) == [1, 2], epochs
        assert set(before.get(trial, [])) <= set(epochs) and set(again.get(trial, [])) <= set(epochs)
