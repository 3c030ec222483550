"""Errors that speak to the user, and the one place a command turns them into exit status 2."""
from __future__ import annotations

import functools
import sys
from typing import Callable


class DataError(ValueError):
    """Bad input data. The message names the file and the row or the column."""


class ConfigError(ValueError):
    """A bad setting. The message names the setting and the value."""


def cli_entry(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command's main(): bad input prints one line `error: ...` on stderr and exits 2, no traceback."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs) or 0
        except (DataError, ConfigError) as err:
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapped
