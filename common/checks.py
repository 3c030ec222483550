"""The cheap checks a command runs on its flags before it imports anything heavy (numpy at most): a seed, a
finite number in range, an input folder, and a path it will write. Each refusal is a ConfigError naming the
flag and the value, so `cli_entry` prints it as one line and exits 2."""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

from common.errors import ConfigError

SEED_MAX = 2**32 - 1  # numpy's seeds are unsigned 32-bit
NAME_MAX = 255  # bytes in one file or folder name (most file systems)
# common.atomic writes '.<name>.<pid>.<8 hex>.tmp' first: a name must leave room for those 22 bytes.
TEMP_EXTRA = 22


def check_seed(flag: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise ConfigError(f"{flag} {value!r}: must be a whole number in 0..{SEED_MAX}")
    return value


def check_number(flag: str, value: float, low: float, high: float | None = None) -> float:
    """A finite number in [low, high]; NaN and inf refused."""
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        bound = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ConfigError(f"{flag} {value!r}: must be a finite number {bound}")
    return value


def check_folder(flag: str, path: str | Path) -> Path:
    """An input folder that must exist (flag "" for a positional argument: the message starts with the path)."""
    folder, named = Path(path).expanduser(), f"{flag} {path}".strip()
    _check_names(flag, folder, extra=0)
    if not folder.is_dir():
        raise ConfigError(f"{named}: {'not a folder' if folder.exists() else 'no such folder'}")
    return folder


def check_output(flag: str, path: str | Path, *, folder: bool) -> Path:
    """A file (folder=False) or folder the command will write: every name short enough for the file system,
    the path itself, where it exists, of that kind, and the nearest existing folder above it writable (the
    command writes beside its target first: common.atomic)."""
    target = Path(path).expanduser()
    _check_names(flag, target, extra=TEMP_EXTRA)
    if target.exists() and target.is_dir() != folder:
        raise ConfigError(f"{flag} {path}: exists and is {'not ' if folder else ''}a folder")
    above = next((p for p in target.absolute().parents if p.exists()), target.absolute())  # '/' has none
    if not above.is_dir():
        raise ConfigError(f"{flag} {path}: cannot be written ({above} is not a folder)")
    if not os.access(above, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: cannot be written ({above} is not writable)")
    return target


def as_flags(message: str, *owners: str) -> str:
    """A settings class's refusal in its command's words: 'SuiteSettings.n_boot must be >= 2' -> '--n-boot must
    be >= 2' (owners: the class names whose fields are the command's flags)."""
    pattern = rf"\b(?:{'|'.join(map(re.escape, owners))})\.(\w+)"
    return re.sub(pattern, lambda m: "--" + m.group(1).replace("_", "-"), message)


def _check_names(flag: str, path: Path, extra: int) -> None:
    """extra: room the last name must leave (common.atomic's temporary name)."""
    parts = path.parts
    for k, name in enumerate(parts):
        limit = NAME_MAX - (extra if k == len(parts) - 1 else 0)
        if len(name.encode()) > limit:
            why = f" (it is first written under a temporary name {extra} bytes longer)" if limit < NAME_MAX else ""
            raise ConfigError(f"{flag} {_short(str(path))}".strip() + f": the name {_short(name)} is "
                              f"{len(name.encode())} bytes; at most {limit} fit{why}")


def _short(text: str, keep: int = 40) -> str:
    return text if len(text) <= keep else f"{text[:keep]}..."
