"""A full disk stops the sweep resumably, in one line, and loses nothing.

Every write of a running sweep that can find the disk full, and what happens then:

- Tune's own files in the experiment folder (its experiment and searcher state, tuner.pkl, each trial's
  params, results, error files and checkpoints) go through common.whole_files: each appears only whole, so
  the folder keeps the last whole copy of every file, and the write is recorded in this process;
- a trial worker's write (its checkpoint, its trial.json) is reported to the sweep's `DiskGuard` by
  `wait_for_stop`, and the worker waits instead of failing: the trial is not counted as failed and its
  Optuna trial stays open;
- Tune's local staging copy, the Optuna study (SQLite's "database or disk is full") and the sweep's own files
  raise; `fit_guarded` and `full_disk_stops` turn that into a `DiskFull`.

`DiskGuard`, a Tune callback, asks Tune to stop the way a stop signal does (study.sweep.interrupt: one last
snapshot, the running trials kept RUNNING with their last checkpoint) at the first full write; the command
prints one line naming the file and the `--resume` command, and exits 1.
"""
from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from typing import Iterator

import study.sweep.train_v1  # noqa: F401 - first: ray.train reads RAY_TRAIN_V2_ENABLED when imported

import ray
from ray.tune import Callback

from common.whole_files import FULL_WRITES
from study.optuna_study import STUDY_FILE
from study.sweep.interrupt import fit_or_stop

GUARD = "social-align-disk-full"  # the driver's named actor; each driver (Ray job) has a namespace of its own
WAIT_S = 600  # how long a worker that found the disk full waits for Tune to stop it before failing after all
POLL_S = 1.0  # how often the guard asks the workers' reports
_reports: list = []  # the guard actor's handle while a fit runs (a named actor lives while a handle does)


class DiskFull(OSError):
    """The disk filled while the sweep wrote `filename`; the sweep stopped and `experiment` can be resumed (or,
    when Tune had not begun, the command run again)."""

    def __init__(self, filename: str | None, experiment: str):
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        self.experiment = experiment


@ray.remote(num_cpus=0)
class _Reports:
    """Where trial workers report the first write that found the disk full."""

    def __init__(self) -> None:
        self.path: str | None = None

    def report(self, path: str) -> None:
        self.path = self.path or path

    def first(self) -> str | None:
        return self.path

    def clear(self) -> None:
        self.path = None


class DiskGuard(Callback):
    """Asks Tune to stop, resumably, at the first write that found the disk full (see the module)."""

    def __init__(self) -> None:
        self._polled, self._asked = 0.0, False

    def on_step_begin(self, iteration, trials, **info) -> None:
        if self._asked or not (FULL_WRITES or self._reported()):
            return
        self._asked = True
        if callable(signal.getsignal(signal.SIGUSR1)):  # Tune's graceful stop, as study.sweep.interrupt asks it
            os.kill(os.getpid(), signal.SIGUSR1)

    def _reported(self) -> str | None:
        if time.monotonic() - self._polled < POLL_S:
            return None
        self._polled = time.monotonic()
        return _first_report(_reports[-1] if _reports else None)

    def __getstate__(self) -> dict:
        return {}  # travels inside tuner.pkl

    def __setstate__(self, state: dict) -> None:
        self._polled, self._asked = 0.0, False


def fit_guarded(tuner, interrupts, experiment: str):
    """`fit_or_stop`, raising DiskFull when a write found the disk full while Tune ran (its experiment folder
    then holds the last whole state: `--resume` continues from it)."""
    FULL_WRITES.clear()
    _reports.append(guard_actor())
    try:
        grid = fit_or_stop(tuner, interrupts, experiment)
        full = FULL_WRITES[0] if FULL_WRITES else _first_report(_reports[-1])
    except Exception as err:  # noqa: BLE001 - Tune's loop, the searcher or the staging copy on a full disk
        full = full_write_in(err, experiment)
        if full is None:
            raise
        raise DiskFull(full, experiment) from None
    finally:
        _reports.pop()
    if full is not None:
        raise DiskFull(full, experiment)
    return grid


def guard_actor():
    """The actor trial workers report a full disk to, emptied (one Ray may run several sweeps in turn)."""
    reports = _Reports.options(name=GUARD, get_if_exists=True).remote()
    ray.get(reports.clear.remote())
    return reports


def _first_report(reports) -> str | None:
    """The first full write a trial worker reported to the guard actor, if any."""
    if reports is None:
        return None
    try:
        return ray.get(reports.first.remote(), timeout=10)
    except Exception:  # noqa: BLE001 - the actor did not answer: no report read this time
        return None


@contextlib.contextmanager
def full_disk_stops(experiment: str) -> Iterator[None]:
    """Around a sweep: a full disk anywhere in it (the sweep's own files too) is a DiskFull naming the file."""
    try:
        yield
    except DiskFull:
        raise
    except Exception as err:  # noqa: BLE001 - re-raised unless a full disk caused it
        full = full_write_in(err, experiment)
        if full is None:
            raise
        raise DiskFull(full, experiment) from None


def full_write_in(err: BaseException, experiment: str) -> str | None:
    """The file a full disk refused, when `err` or an error it came from is one: an OSError ENOSPC (its file,
    or the experiment folder when it names none), or SQLite's "database or disk is full" (the Optuna study)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return err.filename or experiment
        if "database or disk is full" in str(err):
            return f"{experiment}/{STUDY_FILE}"
        err = err.__cause__ or err.__context__
    return None


def wait_for_stop(err: OSError) -> None:
    """In a trial worker whose write found the disk full: report it to the sweep's guard and wait for Tune to
    stop the trial, which keeps its last checkpoint (`--resume` continues it from there) and is not counted as
    failed. Raises `err` when no guard listens (the trainer outside a sweep) or no stop comes in WAIT_S."""
    try:
        ray.get(ray.get_actor(GUARD).report.remote(err.filename or "?"), timeout=30)
    except Exception:  # noqa: BLE001 - no guard to tell: the trial fails as it would have
        raise err from None
    time.sleep(WAIT_S)
    raise err
