"""The one cache root: decoded clips, prepared training folders, the synthetic benchmark and caption
embeddings all live under it."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`$SOCIAL_ALIGN_CACHE`, else `~/.cache/social-align`."""
    return Path(os.environ.get("SOCIAL_ALIGN_CACHE", Path.home() / ".cache" / "social-align"))
