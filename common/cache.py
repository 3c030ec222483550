"""The one cache root: decoded clips, prepared training folders, the synthetic benchmark and caption
embeddings all live under it."""
from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterator

from common.errors import DataError

CACHE_ENV = "SOCIAL_ALIGN_CACHE"


def cache_root() -> Path:
    """`$SOCIAL_ALIGN_CACHE`, else `~/.cache/social-align`."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "social-align"))


@contextlib.contextmanager
def room_for(folder: str | Path, needed: int | None = None) -> Iterator[None]:
    """Around a write into the cache: a full disk is one DataError naming the folder, the space the write
    needed when known, and how to move the cache. The writers inside leave nothing behind (common.atomic)."""
    try:
        yield
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        size = f" (this write needs about {needed / 2**20:.1f} MiB)" if needed else ""
        raise DataError(f"{folder}: disk full writing the cache{size}; free space there, or set ${CACHE_ENV} "
                        f"to a folder on a disk with room, and run the command again") from None
