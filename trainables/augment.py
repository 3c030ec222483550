"""Content-preserving views of a clip: the augmentations drawn per video per training step (`augment`), and the
fixed view sets averaged at evaluation (`eval_views`).

A clip is uint8 (T, 3, H, W). Each augmentation is one class with `draw(rng)` (a random parameter) and
`apply(clip, param)`; AUGMENTATIONS is the registry, so adding one is a class plus a line. A view is a tuple of
(name, param) pairs applied in order. None of them reverses time (that would swap approach and withdrawal).
Clips are torch tensors, but torch is not imported here: the config validates names without loading it.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from common.errors import ConfigError

View = tuple  # ((name, param), ...): the identity view is ()


class Flip:
    """Mirror left-right and/or top-bottom: param (horizontal, vertical)."""

    def draw(self, rng: np.random.Generator):
        return tuple(bool(b) for b in rng.integers(2, size=2))

    def apply(self, clip: "torch.Tensor", param) -> "torch.Tensor":
        dims = [d for d, on in zip((-1, -2), param) if on]
        return clip.flip(dims) if dims else clip


class Rot90:
    """Rotate the frames by param quarter turns (square frames)."""

    def draw(self, rng: np.random.Generator):
        return int(rng.integers(4))

    def apply(self, clip: "torch.Tensor", param) -> "torch.Tensor":
        return clip.rot90(int(param), dims=(-2, -1)) if param else clip


class ChannelOrder:
    """Reorder the colour channels: param is a permutation, new channel c = old channel param[c]."""

    ORDERS = tuple(itertools.permutations(range(3)))

    def draw(self, rng: np.random.Generator):
        return self.ORDERS[int(rng.integers(len(self.ORDERS)))]

    def apply(self, clip: "torch.Tensor", param) -> "torch.Tensor":
        return clip[..., list(param), :, :] if tuple(param) != (0, 1, 2) else clip


class Shift:
    """Translate by up to `max_fraction` of the frame side, repeating the edge pixels: param (dy, dx) in
    fractions of the side."""

    def __init__(self, max_fraction: float = 1 / 16):
        self.max_fraction = max_fraction

    def draw(self, rng: np.random.Generator):
        return tuple(float(v) for v in rng.uniform(-self.max_fraction, self.max_fraction, size=2))

    def apply(self, clip: "torch.Tensor", param) -> "torch.Tensor":
        height, width = clip.shape[-2:]
        dy, dx = round(param[0] * height), round(param[1] * width)
        if not dy and not dx:
            return clip
        rows = np.clip(np.arange(height) - dy, 0, height - 1)
        cols = np.clip(np.arange(width) - dx, 0, width - 1)
        return clip[..., rows, :][..., cols]


AUGMENTATIONS = {"flip": Flip(), "rot90": Rot90(), "channels": ChannelOrder(), "shift": Shift()}


def parse_augment(spec: str, setting: str = "augment") -> tuple[str, ...]:
    """'flip,rot90' -> ('flip', 'rot90'); 'all' -> every name in AUGMENTATIONS, in its order; '' or 'none' -> ().
    ConfigError naming the setting and the value."""
    if spec.strip() == "all":
        return tuple(AUGMENTATIONS)
    names = tuple(n.strip() for n in spec.split(",") if n.strip() and n.strip() != "none")
    bad = [n for n in names if n not in AUGMENTATIONS]
    if bad or len(set(names)) != len(names):
        raise ConfigError(f"{setting} must be 'none', 'all' or distinct names out of {sorted(AUGMENTATIONS)} "
                          f"separated by commas, got {spec!r}")
    return names


def random_view(names: Sequence[str], rng: np.random.Generator) -> View:
    return tuple((name, AUGMENTATIONS[name].draw(rng)) for name in names)


def apply_view(clip: "torch.Tensor", view: View) -> "torch.Tensor":
    for name, param in view:
        clip = AUGMENTATIONS[name].apply(clip, param)
    return clip


def augment_batch(clips: "torch.Tensor", names: Sequence[str], rng: np.random.Generator) -> "torch.Tensor":
    """clips (B, T, 3, H, W): each video under its own random view (the batch itself when names is empty)."""
    if not names:
        return clips
    import torch

    return torch.stack([apply_view(clip, random_view(names, rng)) for clip in clips])


# The fixed view sets of `eval_views`: each clip's embedding is averaged over its views.
_FLIPS = [(("flip", (h, v)),) for v in (False, True) for h in (False, True)]
EVAL_VIEWS: dict[str, list[View]] = {
    "none": [()],
    "flips": _FLIPS,
    "dihedral": [(("rot90", k), *flip) for k in (0, 1) for flip in _FLIPS],
    "dihedral-channels": [(("rot90", k), *flip, ("channels", order)) for k in (0, 1) for flip in _FLIPS
                          for order in ChannelOrder.ORDERS],
}


def eval_view_set(name: str) -> list[View]:
    if name not in EVAL_VIEWS:
        raise ConfigError(f"eval_views must be one of {sorted(EVAL_VIEWS)}, got {name!r}")
    return EVAL_VIEWS[name]
