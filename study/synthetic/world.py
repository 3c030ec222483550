"""The world: interaction kinds, social latents and nuisance factors, and the clips rendered from them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from study.synthetic.config import SOCIAL_LATENTS

# Kinds of interaction the latents cluster around (order of SOCIAL_LATENTS), so the similarity has structure.


_ARCHETYPES = np.array([
    [0.30, 0.90, 0.30, 0.90, 0.65, 0.35, 0.30],  # conversation
    [0.25, 0.60, 0.90, 0.50, 0.85, 0.70, 0.20],  # playing together
    [0.20, 0.85, 0.40, 0.60, 0.10, 0.90, 0.85],  # conflict
    [0.75, 0.15, 0.20, 0.10, 0.50, 0.25, 0.30],  # ignoring each other
    [0.50, 0.40, 0.60, 0.30, 0.45, 0.50, 0.90],  # leading and following
    [0.80, 0.30, 0.10, 0.20, 0.15, 0.60, 0.50],  # avoiding
])


INTERACTIONS = ("conversation", "playing together", "conflict", "ignoring each other", "leading and following",
                "avoiding")


def sample_interactions(rng: np.random.Generator, n: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """(kind of interaction (n,) indexing INTERACTIONS, social latents (n, 7) in [0, 1]): an archetype plus
    Gaussian spread."""
    kind = rng.integers(len(_ARCHETYPES), size=n)
    noise = rng.normal(0.0, spread, size=(n, len(SOCIAL_LATENTS)))
    return kind, np.clip(_ARCHETYPES[kind] + noise, 0.0, 1.0)


def sample_latents(rng: np.random.Generator, n: int, spread: float) -> np.ndarray:
    """(n, 7) social latents in [0, 1]: an archetype plus Gaussian spread."""
    return sample_interactions(rng, n, spread)[1]


def sample_nuisance(rng: np.random.Generator, n: int, strength: float = 1.0) -> pd.DataFrame:
    """Per-video factors the simulated humans ignore; each changes many pixels. `strength` < 1 pulls them
    towards one neutral scene (see _weaken_nuisance)."""
    drawn = pd.DataFrame({
        "indoor": rng.integers(2, size=n),  # striped "room" texture vs plain gradient
        "stripe_angle": rng.uniform(0, np.pi, n), "stripe_period": rng.uniform(6, 14, n),
        "bg_r": rng.uniform(0.05, 0.5, n), "bg_g": rng.uniform(0.05, 0.5, n), "bg_b": rng.uniform(0.05, 0.5, n),
        "color_a_r": rng.uniform(0.5, 1, n), "color_a_g": rng.uniform(0.5, 1, n), "color_a_b": rng.uniform(0.5, 1, n),
        "color_b_r": rng.uniform(0.5, 1, n), "color_b_g": rng.uniform(0.5, 1, n), "color_b_b": rng.uniform(0.5, 1, n),
        "object": rng.integers(2, size=n), "object_x": rng.uniform(0.1, 0.9, n), "object_y": rng.uniform(0.1, 0.9, n),
        "scale": rng.uniform(0.85, 1.15, n), "axis_angle": rng.uniform(0, 2 * np.pi, n),
        "offset_x": rng.uniform(-3, 3, n), "offset_y": rng.uniform(-3, 3, n),
        "big_agent": rng.integers(2, size=n),
        "face_sign_a": rng.choice([-1, 1], n), "face_sign_b": rng.choice([-1, 1], n),
        "phase": rng.uniform(0, 2 * np.pi, n), "first_speaker": rng.integers(2, size=n),
    })
    return drawn if strength >= 1 else _weaken_nuisance(rng, drawn, strength)


# Neutral scene of nuisance_strength = 0: plain mid-grey-blue background, light grey agents, no box, the pair
# horizontal and centred at scale 1; binary factors at their first value.
_NEUTRAL_NUISANCE = {"stripe_angle": 0.0, "stripe_period": 10.0, "bg_r": 0.275, "bg_g": 0.275, "bg_b": 0.275,
                     **{f"color_{w}_{c}": 0.75 for w in "ab" for c in "rgb"}, "object_x": 0.5, "object_y": 0.5,
                     "scale": 1.0, "axis_angle": 0.0, "offset_x": 0.0, "offset_y": 0.0, "phase": 0.0}
_BINARY_NUISANCE = {"indoor": 0, "object": 0, "big_agent": 0, "face_sign_a": 1, "face_sign_b": 1, "first_speaker": 0}


def _weaken_nuisance(rng: np.random.Generator, drawn: pd.DataFrame, strength: float) -> pd.DataFrame:
    """Continuous factors shrink towards the neutral scene by `strength`; each binary factor keeps its draw with
    probability `strength`. Drawn after the full draws, so strength 1 leaves the stream (and the files) as before."""
    out = drawn.copy()
    for name, neutral in _NEUTRAL_NUISANCE.items():
        out[name] = neutral + strength * (drawn[name] - neutral)
    for name, neutral in _BINARY_NUISANCE.items():
        out[name] = np.where(rng.random(len(drawn)) < strength, drawn[name], neutral)
    return out


def _agent_tracks(z: np.ndarray, nu: pd.Series, t: np.ndarray, unit: float, center: float) -> dict:
    """Where each agent is, how big, where it faces and when it 'speaks', frame by frame (pixels)."""
    distance, facing, joint, comm, valence, arousal, dominance = z
    axis = np.array([np.cos(nu.axis_angle), np.sin(nu.axis_angle)])
    normal = np.array([-axis[1], axis[0]])
    # Valence: approach (>0.5) or withdraw (<0.5) over the clip; distance sets the mean gap.
    gap = unit * (10 + 16 * distance) * (1 + 0.9 * (0.5 - valence) * (2 * t - 1))
    amp = unit * (3.0 + 6.0 * arousal)  # arousal: how vigorously they bob
    phase_a = nu.phase + 2 * np.pi * 1.5 * t
    phase_b = phase_a + (1 - joint) * np.pi  # joint action: bob in phase (1) or in anti-phase (0)
    mid = np.array([center + nu.offset_x * unit, center + nu.offset_y * unit])
    pos_a = mid + np.outer(-gap / 2, axis) + np.outer(amp * np.sin(phase_a), normal)
    pos_b = mid + np.outer(gap / 2, axis) + np.outer(amp * np.sin(phase_b), normal)
    big, small = unit * 5.5 * (1 + 0.45 * dominance), unit * 5.5 * (1 - 0.3 * dominance)
    radius_a, radius_b = (big, small) if nu.big_agent == 0 else (small, big)
    turn = (np.floor(4 * t).astype(int) + int(nu.first_speaker)) % 2  # two exchanges of turns per clip
    return {"pos": (pos_a, pos_b), "radius": (radius_a, radius_b), "facing": facing, "comm": comm,
            "speaking": (turn == 0, turn == 1), "face_sign": (nu.face_sign_a, nu.face_sign_b)}


def _background(nu: pd.Series, yy: np.ndarray, xx: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3): stripes for 'indoor', a vertical gradient otherwise, tinted by the background colour."""
    color = np.array([nu.bg_r, nu.bg_g, nu.bg_b])
    if nu.indoor:
        proj = xx * np.cos(nu.stripe_angle) + yy * np.sin(nu.stripe_angle)
        shade = 1 + 0.3 * np.sign(np.sin(2 * np.pi * proj / (nu.stripe_period * size / 64)))
    else:
        shade = 0.75 + 0.5 * yy / size
    canvas = shade[..., None] * color
    if nu.object:  # a static distractor box
        half = 4 * size / 64
        box = (np.abs(xx - nu.object_x * size) < half) & (np.abs(yy - nu.object_y * size) < half)
        canvas[box] = 1 - color
    return canvas


def _disc(yy, xx, cy, cx, radius) -> np.ndarray:
    """Soft-edged disc masks (T, H, W), so sub-pixel motion still changes the pixels."""
    dist = np.sqrt((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2)
    return np.clip(radius - dist + 0.5, 0.0, 1.0)


def agent_state(z: np.ndarray, nu: pd.Series, num_frames: int, size: int) -> dict:
    """What a tracker would read off each frame (pixels, radians): `pos` (2 agents, T, 2) as (x, y), `radius`
    (2,), `heading` (2, T) where each nose points, `halo` (2, T) brightness of each agent's turn halo."""
    t = (np.arange(num_frames) + 0.5) / num_frames
    tr = _agent_tracks(z, nu, t, unit=nu.scale * size / 64, center=size / 2)
    heading = []
    for me in (0, 1):
        pos, other = tr["pos"][me], tr["pos"][1 - me]
        # Facing: the nose points at the partner (1) or away from it (0), turning one way or the other.
        toward = np.arctan2(other[:, 1] - pos[:, 1], other[:, 0] - pos[:, 0])
        heading.append(toward + (1 - tr["facing"]) * np.pi * tr["face_sign"][me])
    halo = np.stack([tr["comm"] * tr["speaking"][me] for me in (0, 1)]).astype(np.float64)
    return {"pos": np.stack(tr["pos"]), "radius": np.array(tr["radius"], dtype=np.float64),
            "heading": np.stack(heading), "halo": halo}


def render_clip(z: np.ndarray, nu: pd.Series, num_frames: int, size: int) -> np.ndarray:
    """RGB uint8 (T, H, W, 3) of one video."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    state = agent_state(z, nu, num_frames, size)
    frames = np.repeat(_background(nu, yy, xx, size).astype(np.float32)[None], num_frames, axis=0)
    colors = (np.float32([nu.color_a_r, nu.color_a_g, nu.color_a_b]),
              np.float32([nu.color_b_r, nu.color_b_g, nu.color_b_b]))
    for me in (0, 1):
        pos, radius, heading = state["pos"][me], state["radius"][me], state["heading"][me]
        # Communication: a white halo around whoever holds the turn, as bright as the latent is strong.
        ring = _disc(yy, xx, pos[:, 1], pos[:, 0], radius + 2.5) - _disc(yy, xx, pos[:, 1], pos[:, 0], radius + 1.0)
        frames += (state["halo"][me][:, None, None] * ring)[..., None] * (1.0 - frames)
        body = _disc(yy, xx, pos[:, 1], pos[:, 0], radius)[..., None]
        frames = frames * (1 - body) + body * colors[me]
        nose_x, nose_y = pos[:, 0] + 0.7 * radius * np.cos(heading), pos[:, 1] + 0.7 * radius * np.sin(heading)
        nose = _disc(yy, xx, nose_y, nose_x, max(1.2, 0.4 * radius))[..., None]
        frames = frames * (1 - nose) + nose * 0.05
    return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def agent_masks(z: np.ndarray, nu: pd.Series, num_frames: int, size: int) -> np.ndarray:
    """float32 (T, H, W) in [0, 1]: how much of each pixel the agents' bodies and noses cover in `render_clip`'s
    frames (the same soft discs; the turn halo around a body is not the agent)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    state = agent_state(z, nu, num_frames, size)
    cover = np.zeros((num_frames, size, size), np.float32)
    for pos, radius, heading in zip(state["pos"], state["radius"], state["heading"]):
        nose_x, nose_y = pos[:, 0] + 0.7 * radius * np.cos(heading), pos[:, 1] + 0.7 * radius * np.sin(heading)
        cover = np.maximum(cover, _disc(yy, xx, pos[:, 1], pos[:, 0], radius))
        cover = np.maximum(cover, _disc(yy, xx, nose_y, nose_x, max(1.2, 0.4 * radius)))
    return cover
