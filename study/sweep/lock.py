"""One writer per experiment folder: an exclusive `fcntl.flock` on EXPERIMENT/.sweep.lock, held by the sweep
(or --resume) that writes the folder until its process ends. The kernel drops the lock when the process
dies, however it dies, so a killed sweep never leaves a stale lock behind."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from common.errors import ConfigError

LOCK_FILE = ".sweep.lock"
# What a sweep stopped before Tune began leaves in its folder; such a folder can be run again under its name.
# (A full disk can stop it after the Optuna study was made, or once Tune has probed the folder with its marker,
# but before Tune wrote tuner.pkl: the same command then goes on with that study.)
_UNSTARTED = {LOCK_FILE, "sweep.json", "ray.log", ".sweep-signature", "optuna.db", ".validate_storage_marker"}


def unstarted(folder: Path) -> bool:
    """A folder a sweep made and locked but that Tune never wrote into (stopped during checks or data)."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    return any(e.name == LOCK_FILE for e in entries) and all(e.name in _UNSTARTED and e.is_file() for e in entries)


class ExperimentLock:
    """An open, exclusively locked lock file; `release()` (or the process ending) lets the next writer in."""

    def __init__(self, fd: int, path: Path):
        self.fd, self.path = fd, path

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1


def claim_experiment(folder: Path, *, create: bool) -> ExperimentLock:
    """Create `folder` (create=True: it must not exist; of two sweeps started together one wins, the other is
    refused; one left unstarted by a stopped sweep is taken over) or open an existing one, and lock it;
    ConfigError naming the folder when another process holds it."""
    if create:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()
        except FileExistsError:
            if unstarted(folder):
                return claim_experiment(folder, create=False)
            raise ConfigError(f"experiment folder {folder} already exists; use --resume {folder} or another "
                              "--name") from None
    path = folder / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise ConfigError(f"experiment folder {folder} is in use by another sweep (pid {holder}); wait for it "
                          "to finish, or stop it and then --resume") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return ExperimentLock(fd, path)
