"""Named search spaces: `get(name)`, `names()`. Spaces only declare; `study.sweep` runs them."""
from __future__ import annotations

from search_spaces import backbones, default, paper, smoke
from search_spaces.backbones import EVERY_FAMILY, EVERY_FAMILY_TINY
from search_spaces.paper import PAPER_CONFIG
from search_spaces.smoke import SMOKE_SIZES, SYNTHETIC_CLIPS
from search_spaces.space import SWEEP_ONLY_KEYS, Choice, Float, Grid, Int, Param, SearchSpace

_SPACES = {space.name: space for space in (smoke.SPACE, paper.SPACE, default.SPACE, backbones.SPACE)}


def names() -> list[str]:
    """Registered space names, in the order --list-spaces shows them."""
    return list(_SPACES)


def get(name: str) -> SearchSpace:
    """The space registered as `name`; an unknown name raises ValueError listing the known ones."""
    if name not in _SPACES:
        raise ValueError(f"unknown search space {name!r}; known: {', '.join(_SPACES)}")
    return _SPACES[name]


__all__ = ["SearchSpace", "Float", "Int", "Choice", "Grid", "Param", "SWEEP_ONLY_KEYS", "PAPER_CONFIG",
           "SMOKE_SIZES", "SYNTHETIC_CLIPS", "EVERY_FAMILY", "EVERY_FAMILY_TINY", "get", "names"]
