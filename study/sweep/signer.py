"""Signing the experiment folder as Tune writes it (study.sweep.trust says why): after every step of Tune's
loop in which a file restore would unpickle changed, and once more when the block ends, whatever ended it.

The callback travels inside tuner.pkl, so it keeps no path: the folder being signed is set for the block by
`signing(folder)`, and a restored callback signs the folder the user resumed, wherever it now lives.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from ray.tune import Callback

from common.storage import local_path
from study.sweep.trust import fingerprint, sign_folder

_active: list[Path] = []  # the local experiment folder of the running sweep, if any


class StateSigner(Callback):
    """Re-signs the folder when Tune has rewritten its state since the last signing."""

    def __init__(self) -> None:
        self._last: tuple | None = None

    def on_step_end(self, iteration, trials, **info) -> None:
        if _active:
            # Tune has just written its state into its local staging folder and copies it in the background.
            staging = getattr(getattr(trials[0], "storage", None), "experiment_driver_staging_path", None) \
                if trials else None
            self.refresh(_active[-1], staging)

    def refresh(self, folder: Path, staging: str | None = None) -> None:
        now = (fingerprint(folder), fingerprint(Path(staging)) if staging and Path(staging).is_dir() else ())
        if now != self._last:
            try:
                sign_folder(folder, staging)
            except OSError:  # a full disk: Tune's loop goes on; the signing when the sweep stops says so
                return
            self._last = now

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self._last = None


@contextlib.contextmanager
def signing(experiment: str) -> Iterator[None]:
    """Sign a local experiment folder (or file://) while the block runs and when it ends; a bucket's folder
    is signed by no one (docs/sweep.md, "Resume and fault tolerance")."""
    folder = local_path(experiment)
    if folder is None:
        yield
        return
    _active.append(folder)
    try:
        yield
    except BaseException:
        _active.remove(folder)
        with contextlib.suppress(OSError):  # a full disk: the error on its way out says so
            if folder.is_dir():
                sign_folder(folder)
        raise
    _active.remove(folder)
    if folder.is_dir():
        sign_folder(folder)
