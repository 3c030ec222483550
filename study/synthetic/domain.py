"""Visual domains: how the same world (latents, nuisance draws, agent tracks) becomes pixels. A domain renders a
video's frames and the agents' masks; adding one is a function and a line in DOMAINS.

- "default": discs with a dark nose on striped or gradient backgrounds (study.synthetic.world.render_clip).
- "shapes", the out-of-distribution world: the same tracks (study.synthetic.world.agent_state), so the same social
  cues, drawn otherwise: rotated squares with a white heading bar instead of discs with noses, dark agents on
  bright checkerboards of an earthy palette instead of light agents on dark stripes or gradients, a yellow square
  turn halo instead of a white ring, the camera zoomed out (agents and gaps at 0.7 of the size) and panning
  across the scene during the clip. No video the backbone pretrained on (study.pretrain renders the default
  domain) or the sweep fine-tuned on looks like it."""
from __future__ import annotations

import numpy as np
import pandas as pd

from study.synthetic.config import DOMAINS
from study.synthetic.world import agent_masks, agent_state, render_clip

_ZOOM, _PAN = 0.7, 0.25  # camera: agents and distances at 0.7; a pan of a quarter of the frame over the clip
_EARTH = np.array([[0.85, 0.75, 0.55], [0.70, 0.80, 0.60], [0.90, 0.70, 0.60], [0.75, 0.72, 0.80]])


def render(domain: str, z: np.ndarray, nu: pd.Series, num_frames: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 frames (T, H, W, 3), agent coverage float32 (T, H, W)) of one video in `domain`."""
    return _RENDERERS[domain](z, nu, num_frames, size)


def _default(z, nu, num_frames, size):
    return render_clip(z, nu, num_frames, size), agent_masks(z, nu, num_frames, size)


def _shapes(z, nu, num_frames, size):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    state = agent_state(z, _zoomed(nu), num_frames, size)
    t = (np.arange(num_frames) + 0.5) / num_frames
    pan = np.outer(_PAN * size * (t - 0.5), [np.cos(nu.phase), np.sin(nu.phase)])  # (T, 2), the camera's drift
    frames = np.repeat(_checkerboard(nu, yy, xx, size)[None], num_frames, axis=0)
    cover = np.zeros((num_frames, size, size), np.float32)
    colors = (1 - np.float32([nu.color_a_r, nu.color_a_g, nu.color_a_b]),
              1 - np.float32([nu.color_b_r, nu.color_b_g, nu.color_b_b]))
    for me in (0, 1):
        pos, half, heading = state["pos"][me] + pan, 0.89 * state["radius"][me], state["heading"][me]
        u, v = _local(yy, xx, pos, heading)
        ring = _square(u, v, half + 2.5) - _square(u, v, half + 1.0)
        frames += (state["halo"][me][:, None, None] * ring)[..., None] * (np.float32([1.0, 0.9, 0.2]) - frames)
        body = _square(u, v, half)
        bar = np.clip(0.9 - np.abs(v) + 0.5, 0, 1) * np.clip(u + 0.5, 0, 1) * np.clip(1.5 * half - u + 0.5, 0, 1)
        frames = frames * (1 - body[..., None]) + body[..., None] * colors[me]
        frames = frames * (1 - bar[..., None]) + bar[..., None] * 0.97
        cover = np.maximum(cover, np.maximum(body, bar))
    return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8), cover


def _zoomed(nu: pd.Series) -> pd.Series:
    out = nu.copy()
    out["scale"] = nu.scale * _ZOOM
    return out


def _local(yy, xx, pos: np.ndarray, heading: np.ndarray):
    """Each pixel in each agent's frame: u along its heading, v across it, (T, H, W)."""
    dx, dy = xx[None] - pos[:, 0, None, None], yy[None] - pos[:, 1, None, None]
    c, s = np.cos(heading)[:, None, None], np.sin(heading)[:, None, None]
    return dx * c + dy * s, -dx * s + dy * c


def _square(u, v, half) -> np.ndarray:
    """Soft-edged square of half-side `half` (same area as a disc of radius half / 0.89)."""
    return np.clip(half - np.maximum(np.abs(u), np.abs(v)) + 0.5, 0.0, 1.0).astype(np.float32)


def _checkerboard(nu: pd.Series, yy, xx, size: int) -> np.ndarray:
    """(H, W, 3) checkerboard of two shades of one earthy colour (the palette picked by the background colour),
    its cell from the stripe period and turned by the stripe angle."""
    color = _EARTH[int(3.999 * nu.bg_r / 0.5) % len(_EARTH)]
    cell = nu.stripe_period * size / 64
    a, b = np.cos(nu.stripe_angle), np.sin(nu.stripe_angle)
    check = (np.floor((xx * a + yy * b) / cell) + np.floor((-xx * b + yy * a) / cell)) % 2
    return ((0.85 + 0.15 * check)[..., None] * color).astype(np.float32)


_RENDERERS = {"default": _default, "shapes": _shapes}
assert tuple(_RENDERERS) == DOMAINS, "study.synthetic.config.DOMAINS names the renderers here"
