"""Errors that speak to the user, and the one place a command turns them into exit status 2."""
from __future__ import annotations

import contextlib
import functools
import sys
from typing import Callable, Iterator


class DataError(ValueError):
    """Bad input data. The message names the file and the row or the column."""


class ConfigError(ValueError):
    """A bad setting. The message names the setting and the value."""


FILE_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError, NotADirectoryError)


def cli_entry(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command's main(): bad input (a DataError, a ConfigError, or a file that is missing or cannot be
    read or written) prints one line `error: ...` on stderr and exits 2, no traceback; Ctrl-C is one line
    and exit 130 (the files a command writes are whole or absent: common.atomic)."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        try:
            with file_errors():
                return main(*args, **kwargs) or 0
        except (DataError, ConfigError) as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            raise SystemExit(130) from None

    return wrapped


@contextlib.contextmanager
def file_errors() -> Iterator[None]:
    """A missing or unreadable file (or folder) anywhere below becomes a DataError naming it."""
    try:
        yield
    except FILE_ERRORS as err:
        if err.filename is None:  # our readers raise FileNotFoundError("<file>: what is missing")
            raise DataError(str(err)) from None
        raise DataError(f"{err.filename}: {(err.strerror or type(err).__name__).lower()}") from None
