"""Write whole or not at all: every result and cache goes to a temporary name beside its target, then is
renamed onto it, so an interrupted run never leaves a half-written file that a later run trusts.

`atomic_path` does it for one file, `atomic_folder` for a folder; each is the one way the project does it.
"""
from __future__ import annotations

import errno
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

EXISTING = ("replace", "keep")  # what atomic_folder does with a folder already at the target


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in target's folder (same suffix, so writers that read it still work); when the
    block ends normally it replaces `target`, and on any error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    except OSError as err:
        if err.errno == errno.ENOSPC and err.filename in (None, str(tmp)):  # a write names no file: say which
            raise OSError(errno.ENOSPC, err.strerror, str(target)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(target: str | Path, *, existing: str,
                  complete: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside `target`; when the block ends normally it is renamed onto
    `target`, and on any error it is removed. The rule for a folder already at `target`:

    - existing="replace": the old folder is moved aside, the new one renamed in, the old one deleted
      (a checkpoint rewritten, a benchmark regenerated);
    - existing="keep": a cache entry. An incomplete folder there (`complete(target)` False) is deleted and
      rebuilt; if another process renamed a complete one in first, theirs is kept and ours dropped.
    """
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {EXISTING}, got {existing!r}")
    if existing == "keep" and complete is None:
        raise ValueError("existing='keep' needs complete=, the test of a finished folder")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        if existing == "replace":
            _replace(tmp, target)
        else:
            _keep_complete(tmp, target, complete)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace(tmp: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _keep_complete(tmp: Path, target: Path, complete: Callable[[Path], bool]) -> None:
    if target.exists() and not complete(target):
        shutil.rmtree(target)  # never completed (or damaged): not trusted, rebuilt
    try:
        os.rename(tmp, target)  # never replaces a folder another process renamed in first
    except OSError:
        if not complete(target):
            raise
