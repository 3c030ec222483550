"""Synthetic social-video benchmark: the embedded default data, whose right answer is known.

Each video shows two agents (discs with a dark "nose" that marks where they face). Seven social latents drive
what they do; nuisance factors (background colour and texture, agent colours, a distractor box, global
position, rotation and scale) change the pixels but not the simulated humans' judgments. Simulated
participants pick the odd one out of each triplet by a softmax over pair similarities computed from the latents
with per-participant weight noise. The folder has the real dataset's files and columns plus `ground_truth/`.
See docs/synthetic.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from study.clips import default_cache_root, write_clip
from study.errors import ConfigError, cli_entry

GENERATOR_VERSION = 3  # bump whenever the same config would produce different files
SOCIAL_LATENTS = ("agent_distance", "facingness", "joint_action", "communication", "valence", "arousal", "dominance")
RATING_COLUMNS = ("indoor", "expanse", "object", "agent_distance", "facingness", "joint_action", "communication",
                  "valence", "arousal", "intimacy", "dominance")
TRIPLET_COLUMNS = ("participation", "task", "trial", "stim1_name", "stim2_name", "stim3_name", "choice",
                   "response_time", "catch_trial_flag", "token", "survey_code")
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


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes, noise and seed of a synthetic benchmark. Same config and seed -> byte-identical files."""

    seed: int = _help("seed of every random draw (latents, rendering, judgments, annotations, noise ceiling)", 0)
    n_videos: int = _help("number of videos", 160)
    test_fraction: float = _help("share of videos listed in test.csv (the paper holds out 50 of 250)", 0.25)
    num_frames: int = _help("frames per written clip", 16)
    frame_size: int = _help("side of the square frames in pixels (even)", 64)
    duration_s: float = _help("clip length in seconds (real clips are 3 s); sets the frame rate", 3.0)
    latent_spread: float = _help("std of the latents around their interaction archetype", 0.15)
    nuisance_strength: float = _help("variety of the nuisance factors: 1 = full (the default), 0 = every video "
                                     "on the same plain background with the same colours, unrotated and centred",
                                     1.0)
    n_participants: int = _help("simulated participants, inattentive ones included", 44)
    n_random_participants: int = _help("inattentive participants who answer every trial at random", 3)
    n_sets: int = _help("task sets per participant; each set holds one catch trial", 11)
    trials_per_set: int = _help("regular (non-catch) trials per set", 20)
    temperature: float = _help("softmax temperature of the odd-one-out choice (lower = more consistent)", 0.05)
    weight_noise: float = _help("std of the log-normal noise on each participant's latent weights", 0.3)
    lapse_rate: float = _help("chance an attentive participant answers a trial (catch or not) at random", 0.05)
    social_weights: tuple = _help("population weight of each social latent (order of SOCIAL_LATENTS)",
                                  (1.0, 0.8, 1.0, 1.0, 1.2, 0.7, 0.7))
    rating_noise: float = _help("std of the noise on annotations.csv ratings", 0.08)
    n_captions: int = _help("template captions per video", 5)
    n_replications: int = _help("Monte Carlo replications of the study for the split-half reliability", 200)
    n_eval_participants: int = _help("participants of the dedicated evaluation collection per held-out part: "
                                     "each judges n_sets sets drawn only within the test videos (or only within "
                                     "the validation videos); 0 = no such collection", 6)
    val_fraction: float = _help("share of the non-test videos that study.prepare's paper split (seed "
                                "split_seed) holds out for validation: where the validation collection is drawn",
                                0.2)
    split_seed: int = _help("the sweep's split seed the validation collection is drawn for", 0)

    def __post_init__(self):
        object.__setattr__(self, "social_weights", tuple(float(w) for w in self.social_weights))
        for name, low in (("n_videos", 9), ("num_frames", 2), ("frame_size", 16), ("n_participants", 2),
                          ("n_sets", 1), ("trials_per_set", 1), ("n_captions", 1), ("n_replications", 2),
                          ("n_random_participants", 0), ("seed", 0), ("n_eval_participants", 0),
                          ("split_seed", 0)):
            _check_int(name, getattr(self, name), low)
        for name, low, high in (("test_fraction", 0.0, 1.0), ("lapse_rate", 0.0, 1.0), ("duration_s", 0.1, 60),
                                ("temperature", 1e-4, 100), ("weight_noise", 0, 5), ("rating_noise", 0, 1),
                                ("latent_spread", 0, 1), ("nuisance_strength", 0, 1),
                                ("val_fraction", 0.0, 1.0)):
            _check_range(name, getattr(self, name), low, high)
        self._check_relations()

    def _check_relations(self):
        if self.frame_size % 2:
            raise ConfigError(f"SyntheticConfig.frame_size must be even (H.264 frames), got {self.frame_size}")
        if self.n_random_participants >= self.n_participants:
            raise ConfigError(f"SyntheticConfig.n_random_participants must be < n_participants "
                              f"({self.n_participants}), got {self.n_random_participants}")
        if len(self.social_weights) != len(SOCIAL_LATENTS) or min(self.social_weights) < 0 \
                or sum(self.social_weights) <= 0:
            raise ConfigError(f"SyntheticConfig.social_weights must be {len(SOCIAL_LATENTS)} non-negative "
                              f"weights, not all 0, got {self.social_weights}")
        n_test = self.n_test
        if n_test < 3 or self.n_videos - n_test < 3:
            raise ConfigError(f"SyntheticConfig.test_fraction={self.test_fraction} leaves {n_test} test and "
                              f"{self.n_videos - n_test} train videos; each needs at least 3")

    @property
    def n_test(self) -> int:
        return int(round(self.test_fraction * self.n_videos))

    @classmethod
    def tiny(cls, **overrides) -> SyntheticConfig:
        """For tests: 42 videos, 14 participants, 2,800 judgments, 8 frames; generates in about a second."""
        base = dict(n_videos=42, test_fraction=0.2, n_participants=14, n_random_participants=1, n_sets=10,
                    num_frames=8, n_replications=40, n_captions=3, n_eval_participants=0)
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict:
        return {**asdict(self), "social_weights": list(self.social_weights)}

    def key(self) -> str:
        """Stable hash of the config and generator version: names the cached benchmark folder."""
        doc = json.dumps({"generator_version": GENERATOR_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"SyntheticConfig.{name} must be an integer >= {low}, got {value!r}")


def _check_range(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"SyntheticConfig.{name} must be a number in [{low}, {high}], got {value!r}")


# ---------------------------------------------------------------- latents and rendering

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


# ---------------------------------------------------------------- simulated participants

def true_similarity(latents: np.ndarray, weights) -> np.ndarray:
    """(n, n) in [0, 1]: 1 - weighted RMS distance between social latents; 1 on the diagonal."""
    w = np.asarray(weights, dtype=np.float64)
    diff = latents[:, None, :] - latents[None, :, :]
    return 1.0 - np.sqrt((diff**2 * w).sum(-1) / w.sum())


def _pair_similarity(latents: np.ndarray, i: np.ndarray, j: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise similarity of videos i and j under each row's own weights (m, 7)."""
    return 1.0 - np.sqrt(((latents[i] - latents[j]) ** 2 * weights).sum(-1) / weights.sum(-1))


def _odd_probabilities(latents, stims, weights, config: SyntheticConfig) -> np.ndarray:
    """(m, 3): chance each position is chosen as odd one out: softmax over the pair left behind, plus lapses."""
    a, b, c = stims.T
    left = np.stack([_pair_similarity(latents, b, c, weights), _pair_similarity(latents, a, c, weights),
                     _pair_similarity(latents, a, b, weights)], axis=1) / config.temperature
    soft = np.exp(left - left.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    return (1 - config.lapse_rate) * soft + config.lapse_rate / 3


def _random_triplets(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    """(m, 3) three distinct videos per row, uniform over unordered triplets and over positions."""
    first = rng.integers(n, size=m)
    second = (first + 1 + rng.integers(n - 1, size=m)) % n
    third = rng.integers(n - 2, size=m)
    low, high = np.minimum(first, second), np.maximum(first, second)
    third = third + (third >= low)  # skip the two taken ids, in increasing order
    third = third + (third >= high)
    return np.stack([first, second, third], axis=1)


def _participant_weights(rng, n_people: int, config: SyntheticConfig) -> np.ndarray:
    """(n_people, 7) population weights times log-normal per-participant noise."""
    noise = rng.lognormal(0.0, config.weight_noise, size=(n_people, len(SOCIAL_LATENTS)))
    return np.asarray(config.social_weights) * noise


def _choose(rng, probs: np.ndarray) -> np.ndarray:
    """Sample one position per row from (m, 3) probabilities."""
    return (rng.random(len(probs))[:, None] > np.cumsum(probs, axis=1)[:, :2]).sum(axis=1)


def _catch_stims(rng, m: int, n: int) -> np.ndarray:
    """(m, 3) attention checks the real way: one video twice, another once, in a random arrangement."""
    pairs = _random_triplets(rng, m, n)[:, :2]
    stims = pairs[:, [0, 0, 1]]
    return np.take_along_axis(stims, np.argsort(rng.random((m, 3)), axis=1), axis=1)


_ADJECTIVES = ("amber", "brisk", "calm", "dapper", "eager", "fluid", "gentle", "huge", "icy", "jolly", "keen",
               "lucid", "mellow", "noble", "odd", "precise", "quiet", "rapid", "select", "tidy", "upbeat", "vivid")
_ANIMALS = ("badger", "crane", "donkey", "egret", "ferret", "gecko", "heron", "ibis", "jackal", "koala", "lemur",
            "muskrat", "newt", "otter", "pony", "quail", "robin", "seasnail", "tapir", "urchin", "vole", "wombat")


def _participant_names(rng, n: int) -> list[str]:
    """Unique adjective-animal ids like the real `participation` column (numbered past 484 people)."""
    combos = [f"{a}-{b}" for a in _ADJECTIVES for b in _ANIMALS]
    picks = rng.permutation(len(combos))
    return [combos[picks[i % len(combos)]] + (f"-{i // len(combos)}" if i >= len(combos) else "") for i in range(n)]


def _trial_layout(rng, config: SyntheticConfig, n_people: int) -> pd.DataFrame:
    """One row per trial: person, set, trial number, and whether it is the set's catch trial."""
    per_set = config.trials_per_set + 1
    n_blocks = n_people * config.n_sets
    person = np.repeat(np.arange(n_people), config.n_sets * per_set)
    task = np.tile(np.repeat(np.arange(config.n_sets), per_set), n_people)
    trial = np.tile(np.arange(per_set), n_blocks)
    catch_at = np.repeat(rng.integers(per_set, size=n_blocks), per_set)
    return pd.DataFrame({"person": person, "task": task, "trial": trial, "catch": trial == catch_at})


def _simulate_judgments(rng, latents: np.ndarray, config: SyntheticConfig, n_people: int | None = None,
                        n_random: int | None = None) -> tuple[pd.DataFrame, dict]:
    """all_triplets.csv rows over the videos of `latents`, and the attentive regular trials' stimuli and choice
    probabilities. n_people, n_random: default config.n_participants, config.n_random_participants."""
    n_people = config.n_participants if n_people is None else n_people
    n_random = config.n_random_participants if n_random is None else n_random
    layout = _trial_layout(rng, config, n_people)
    n, m = len(latents), len(layout)
    catch = layout["catch"].to_numpy()
    random_people = np.zeros(n_people, bool)
    random_people[rng.permutation(n_people)[:n_random]] = True
    weights = _participant_weights(rng, n_people, config)
    stims = _random_triplets(rng, m, n)
    stims[catch] = _catch_stims(rng, int(catch.sum()), n)
    person = layout["person"].to_numpy()
    probs = np.full((m, 3), 1 / 3)
    attentive = ~random_people[person]
    regular = attentive & ~catch
    probs[regular] = _odd_probabilities(latents, stims[regular], weights[person[regular]], config)
    probs[attentive & catch] = _catch_probabilities(stims[attentive & catch], config.lapse_rate)
    choice = stims[np.arange(m), _choose(rng, probs)]
    frame = _triplet_frame(rng, layout, stims, choice, random_people)
    return frame, {"stims": stims[regular], "probs": probs[regular], "n_attentive": int((~random_people).sum())}


def _evaluation_collection(rng, latents: np.ndarray, videos: np.ndarray, label: str,
                           config: SyntheticConfig) -> tuple[pd.DataFrame, dict]:
    """A dedicated session (as real studies run one for held-out stimuli): n_eval_participants new, attentive
    people judge triplets drawn only among `videos`. Rows in the real columns, ids global; names `eval-LABEL-`."""
    frame, trials = _simulate_judgments(rng, latents[videos], config, config.n_eval_participants, 0)
    for column in ("stim1_name", "stim2_name", "stim3_name", "choice"):
        frame[column] = videos[frame[column].to_numpy()]
    frame["participation"] = f"eval-{label}-" + frame["participation"]
    frame["token"] = f"eval-{label}-" + frame["token"]
    return frame, {**trials, "stims": videos[trials["stims"]]}


def validation_videos(config: SyntheticConfig, test_set: np.ndarray) -> np.ndarray:
    """The videos study.prepare's paper split holds out for validation (val_fraction, split_seed)."""
    from types import SimpleNamespace

    from study.judgments import paper_split

    layout = SimpleNamespace(n_videos=config.n_videos, test_videos=np.asarray(test_set))
    return paper_split(layout, val_fraction=config.val_fraction, seed=config.split_seed).val


def _catch_probabilities(stims: np.ndarray, lapse_rate: float) -> np.ndarray:
    """An attentive participant picks the video shown once, except on a lapse (a random position)."""
    a, b, c = stims.T
    once = np.stack([(a != b) & (a != c), (b != a) & (b != c), (c != a) & (c != b)], axis=1)
    return (1 - lapse_rate) * once + lapse_rate / 3


def _triplet_frame(rng, layout, stims, choice, random_people) -> pd.DataFrame:
    """The real file's columns; catch_trial_flag is False throughout, exactly as in the real data."""
    person = layout["person"].to_numpy()
    names = np.array(_participant_names(rng, len(random_people)))
    codes = rng.integers(6900, 10200, size=len(random_people)).astype(np.float64)
    # Attentive people take a few seconds; random responders click fast.
    rt = np.where(random_people[person], rng.lognormal(np.log(1.5), 0.4, len(person)),
                  rng.lognormal(np.log(5.0), 0.6, len(person)))
    return pd.DataFrame({
        "participation": names[person], "task": [f"set{k + 1}" for k in layout["task"]],
        "trial": layout["trial"].to_numpy(), "stim1_name": stims[:, 0], "stim2_name": stims[:, 1],
        "stim3_name": stims[:, 2], "choice": choice, "response_time": np.round(rt, 3),
        "catch_trial_flag": False, "token": [f"p{i + 1}" for i in person], "survey_code": codes[person],
    }, columns=list(TRIPLET_COLUMNS))


# ---------------------------------------------------------------- ground truth

def expected_ooo_accuracy(similarity: np.ndarray, stims: np.ndarray, probs: np.ndarray) -> dict:
    """Expected odd-one-out accuracy of `similarity` given each trial's choice probabilities (m, 3).

    three_way: P(choice = the item outside the most similar pair). paper: if position k is chosen, the score is
    half the number of other pairs the kept pair beats (= analysis.odd_one_out's "paper" rule), weighted by P.
    """
    a, b, c = stims.T
    left = np.stack([similarity[b, c], similarity[a, c], similarity[a, b]], axis=1)  # pair kept if k is odd
    best = left.argmax(axis=1)
    beats = (left[:, :, None] > left[:, None, :]).sum(axis=2)
    return {"three_way": float(probs[np.arange(len(probs)), best].mean()),
            "paper": float((probs * 0.5 * beats).sum(axis=1).mean()),
            "best_possible_three_way": float(probs.max(axis=1).mean())}


def _pair_proportions(stims: np.ndarray, odd_pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat (n*n,) counts of co-occurrence and of being left together, upper triangle (i < j) only."""
    cols = [(1, 2), (0, 2), (0, 1)]
    counts, together = np.zeros(n * n), np.zeros(n * n)
    for k, (x, y) in enumerate(cols):
        i, j = np.minimum(stims[:, x], stims[:, y]), np.maximum(stims[:, x], stims[:, y])
        counts += np.bincount(i * n + j, minlength=n * n)
        together += np.bincount(i * n + j, weights=(odd_pos == k).astype(float), minlength=n * n)
    return counts, together


def _one_split_half(rng, latents: np.ndarray, config: SyntheticConfig, n_people: int) -> tuple[float, float]:
    """Simulate the study once with fresh people; correlate the P matrices of two halves of them."""
    per_person = config.n_sets * config.trials_per_set
    weights = _participant_weights(rng, n_people, config)
    person = np.repeat(np.arange(n_people), per_person)
    stims = _random_triplets(rng, len(person), config.n_videos)
    odd = _choose(rng, _odd_probabilities(latents, stims, weights[person], config))
    half = (rng.permutation(n_people) < n_people // 2)[person]
    (c1, t1), (c2, t2) = (_pair_proportions(stims[h], odd[h], config.n_videos) for h in (half, ~half))
    both = (c1 > 0) & (c2 > 0)
    p1, p2 = t1[both] / c1[both], t2[both] / c2[both]
    return float(np.corrcoef(rankdata(p1), rankdata(p2))[0, 1]), float(np.corrcoef(p1, p2)[0, 1])


def split_half_reliability(rng, latents: np.ndarray, config: SyntheticConfig, n_people: int) -> dict:
    """Monte Carlo over `config.n_replications` fresh studies: mean Spearman-Brown corrected split-half r."""
    raw = np.array([_one_split_half(rng, latents, config, n_people) for _ in range(config.n_replications)])
    corrected = 2 * raw / (1 + raw)
    return {"split_half_reliability": float(corrected[:, 0].mean()),
            "split_half_reliability_sd": float(corrected[:, 0].std(ddof=1)),
            "split_half_reliability_pearson": float(corrected[:, 1].mean()),
            "split_half_raw_spearman": float(raw[:, 0].mean())}


def pixel_similarity_spearman(videos: np.ndarray, similarity: np.ndarray) -> float:
    """Spearman r between raw-pixel similarity (Pearson r of flattened clips) and `similarity`, upper pairs."""
    flat = videos.reshape(len(videos), -1).astype(np.float64)
    pixel = np.corrcoef(flat)
    upper = np.triu_indices(len(videos), k=1)
    return float(spearmanr(pixel[upper], similarity[upper]).statistic)


# ---------------------------------------------------------------- annotations and captions

def _annotations(rng, latents, nuisance: pd.DataFrame, names, test_set, captions, config) -> pd.DataFrame:
    """annotations.csv: noisy ratings of the latents (and of the nuisance scene), in the real column order."""
    def noisy(values):
        return np.round(np.clip(values + rng.normal(0, config.rating_noise, len(values)), 0, 1), 4)

    z = dict(zip(SOCIAL_LATENTS, latents.T))
    ratings = {name: noisy(z[name]) for name in SOCIAL_LATENTS}
    ratings["indoor"] = nuisance["indoor"].to_numpy()  # binary, as in the real ratings
    ratings["expanse"] = noisy((nuisance["scale"].to_numpy() - 0.85) / 0.3)
    ratings["object"] = noisy(0.1 + 0.8 * nuisance["object"].to_numpy())
    ratings["intimacy"] = noisy((1 - z["agent_distance"] + z["facingness"] + z["valence"]) / 3)
    frame = pd.DataFrame({f"rating-{k}": ratings[k] for k in RATING_COLUMNS})
    frame.insert(0, "video_name", names)
    frame["stimulus_set"] = np.where(np.isin(np.arange(len(names)), test_set), "test", "train")
    frame["captions"] = [str(c) for c in captions]
    order = ["video_name", *[f"rating-{k}" for k in RATING_COLUMNS[:9]], "stimulus_set", "captions",
             "rating-intimacy", "rating-dominance"]
    return frame[order]


_PHRASES = {  # (latent, low phrase, high phrase); either side may be empty
    "agent_distance": ("stand close together", "keep far apart"),
    "facingness": ("face away from each other", "face each other"),
    "joint_action": ("move out of step", "move in sync"),
    "communication": ("stay silent", "take turns signalling to each other"),
    "valence": ("back away from each other", "approach each other"),
    "arousal": ("barely move", "bounce around energetically"),
    "dominance": ("look like equals", "where the bigger one dominates"),
}
_SUBJECTS = ("two figures", "two shapes", "a pair of agents", "two characters", "two round creatures")


def _captions(rng, z: np.ndarray, nu: pd.Series, k: int) -> list[str]:
    """k lowercase template captions naming 2-3 clear social cues (and sometimes the scene)."""
    out = []
    for _ in range(k):
        # Each captioner notices the cues furthest from neutral, with some noise in what counts as clear.
        salience = np.abs(z - 0.5) + rng.normal(0, 0.1, len(z))
        picked = np.argsort(-salience)[: rng.integers(2, 4)]
        clauses = [_PHRASES[SOCIAL_LATENTS[i]][int(z[i] > 0.5)] for i in sorted(picked)]
        text = f"{_SUBJECTS[rng.integers(len(_SUBJECTS))]} {' and '.join(clauses[:-1])} and {clauses[-1]}"
        if rng.random() < 0.3:
            text += " in a striped room" if nu.indoor else " outdoors"
        out.append(text.replace("and where", "where"))
    return out


def _captions_frame(names, captions: list[list[str]]) -> pd.DataFrame:
    """captions.csv: video_name, caption_index (from 1), caption."""
    rows = [(name, i + 1, text) for name, caps in zip(names, captions) for i, text in enumerate(caps)]
    return pd.DataFrame(rows, columns=["video_name", "caption_index", "caption"])


# ---------------------------------------------------------------- the folder

def generate_benchmark(out_dir: str | Path, config: SyntheticConfig | None = None) -> Path:
    """Write a benchmark folder (same files and columns as the real data, plus videos/ and ground_truth/).

    Built under a temporary sibling name and renamed into place. `out_dir` may be missing, empty, or an older
    benchmark (replaced); anything else is refused.
    """
    config = config or SyntheticConfig()
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _write_all(tmp, config)
        _move_into_place(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _check_replaceable(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "ground_truth" / "config.json").is_file():
        raise ConfigError(f"--out {out_dir}: folder is not empty and holds no synthetic benchmark; "
                          "refusing to overwrite it")


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename the finished folder in; an older benchmark there is moved aside first, then deleted."""
    old = None
    if out_dir.is_dir():
        old = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_all(folder: Path, config: SyntheticConfig) -> None:
    """Everything, drawn from independent seeded streams (changing one part's size leaves the others alone)."""
    rng_latent, rng_render, rng_judge, rng_annot, rng_mc, rng_eval = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6))
    latents = sample_latents(rng_latent, config.n_videos, config.latent_spread)
    nuisance = sample_nuisance(rng_render, config.n_videos, config.nuisance_strength)
    names = [f"synth_{i:04d}.mp4" for i in range(config.n_videos)]
    test_set = np.sort(rng_latent.permutation(config.n_videos)[: config.n_test])
    videos = _write_videos(folder / "videos", names, latents, nuisance, config)
    triplets, trials = _simulate_judgments(rng_judge, latents, config)
    evaluation = {}
    if config.n_eval_participants:
        parts = {"test": test_set, "val": validation_videos(config, test_set)}
        collected = {k: _evaluation_collection(rng_eval, latents, v, k, config) for k, v in parts.items()}
        triplets = pd.concat([triplets, *(frame for frame, _ in collected.values())], ignore_index=True)
        evaluation = {"parts": parts, "trials": {k: t for k, (_, t) in collected.items()}}
    captions = [_captions(rng_annot, latents[i], nuisance.iloc[i], config.n_captions) for i in range(len(names))]
    _write_tables(folder, names, test_set, triplets,
                  _annotations(rng_annot, latents, nuisance, names, test_set, captions, config),
                  _captions_frame(names, captions))
    similarity = true_similarity(latents, config.social_weights)
    ceiling = _noise_ceiling(rng_mc, latents, similarity, trials, videos, config)
    ceiling |= _evaluation_figures(similarity, evaluation)
    _write_ground_truth(folder / "ground_truth", names, latents, nuisance, similarity, ceiling, config)


def _evaluation_figures(similarity: np.ndarray, evaluation: dict) -> dict:
    """Size of the evaluation collection and the true similarity's expected 3-way accuracy on it."""
    out = {}
    for part, videos in evaluation.get("parts", {}).items():
        trials = evaluation["trials"][part]
        out |= {f"eval_{part}_videos": [int(v) for v in videos],
                f"eval_{part}_n_regular_triplets": int(len(trials["stims"])),
                f"eval_{part}_ooo_accuracy_three_way": expected_ooo_accuracy(similarity, trials["stims"],
                                                                             trials["probs"])["three_way"]}
    return out


def _write_videos(folder: Path, names, latents, nuisance: pd.DataFrame, config: SyntheticConfig) -> np.ndarray:
    """Render and encode every clip; returns the rendered frames (n, T, H, W, 3) for the pixel check."""
    videos = np.stack([render_clip(latents[i], nuisance.iloc[i], config.num_frames, config.frame_size)
                       for i in range(config.n_videos)])
    for name, frames in zip(names, videos):
        write_clip(folder / name, frames, fps=config.num_frames / config.duration_s)
    return videos


def _write_tables(folder: Path, names, test_set, triplets, annotations, captions) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    triplets.to_csv(folder / "all_triplets.csv", index=False)
    pd.DataFrame({"index": np.arange(len(names)), "video_name": names}).to_csv(folder / "video_mapping.csv",
                                                                               index=False)
    pd.DataFrame({"index": test_set, "video_name": np.asarray(names)[test_set]}).to_csv(folder / "test.csv",
                                                                                       index=False)
    train = np.setdiff1d(np.arange(len(names)), test_set)
    pd.DataFrame({"video_name": np.asarray(names)[train]}).to_csv(folder / "train.csv", index=False)
    annotations.to_csv(folder / "annotations.csv", index=False)
    captions.to_csv(folder / "captions.csv", index=False)


def _noise_ceiling(rng, latents, similarity, trials: dict, videos, config: SyntheticConfig) -> dict:
    """The ground-truth figures of noise_ceiling.json (see docs/synthetic.md for each key)."""
    expected = expected_ooo_accuracy(similarity, trials["stims"], trials["probs"])
    return {
        "ooo_accuracy_three_way": expected["three_way"], "ooo_accuracy_paper": expected["paper"],
        "ooo_accuracy_three_way_best_possible": expected["best_possible_three_way"],
        "chance_three_way": 1 / 3, "chance_paper": 0.5,
        "n_attentive_regular_triplets": int(len(trials["stims"])), "n_attentive_participants": trials["n_attentive"],
        **split_half_reliability(rng, latents, config, trials["n_attentive"]),
        "split_half_n_replications": config.n_replications,
        "pixel_similarity_spearman": pixel_similarity_spearman(videos, similarity),
    }


def _write_ground_truth(folder: Path, names, latents, nuisance, similarity, ceiling, config) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(latents, columns=list(SOCIAL_LATENTS))
    table.insert(0, "video_name", names)
    table.insert(0, "index", np.arange(len(names)))
    table = pd.concat([table, nuisance.add_prefix("nuisance_")], axis=1)
    table.to_csv(folder / "latents.csv", index=False, float_format="%.6f")
    np.save(folder / "true_similarity.npy", similarity)
    _dump_json(folder / "noise_ceiling.json", {k: _round(v) for k, v in ceiling.items()})
    # Written last: its presence marks a finished benchmark (ensure_benchmark and overwrite checks use it).
    _dump_json(folder / "config.json", {"generator_version": GENERATOR_VERSION, **config.to_dict()})


def _round(value):
    return round(value, 6) if isinstance(value, float) else value


def _dump_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def ensure_benchmark(root: str | Path | None = None, config: SyntheticConfig | None = None) -> Path:
    """The benchmark for `config` under `root` (default `$SOCIAL_ALIGN_CACHE` or ~/.cache/social-align,
    subfolder synthetic/), generated the first time and reused while the config (and generator) match."""
    config = config or SyntheticConfig()
    root = Path(root) if root is not None else default_cache_root() / "synthetic"
    target = root / f"synthetic-{config.key()}"
    if not (target / "ground_truth" / "config.json").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            _write_all(tmp, config)
            os.rename(tmp, target)  # never replaces a finished folder that another process renamed in first
        except OSError:
            if not (target / "ground_truth" / "config.json").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------- command line

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m study.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (missing, empty, or older benchmark)")
    parser.add_argument("--tiny", action="store_true", help="start from SyntheticConfig.tiny() (the test size)")
    for f in dataclasses.fields(SyntheticConfig):
        kind = _parse_weights if f.name == "social_weights" else type(f.default)
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=None,
                            help=f"{f.metadata['help']} (default {f.default})")
    return parser


def _parse_weights(text: str) -> tuple:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    out, tiny = args.pop("out"), args.pop("tiny")
    overrides = {k: v for k, v in args.items() if v is not None}
    config = SyntheticConfig.tiny(**overrides) if tiny else SyntheticConfig(**overrides)
    folder = generate_benchmark(out, config)
    ceiling = json.loads((folder / "ground_truth" / "noise_ceiling.json").read_text())
    print(f"wrote {folder}: {config.n_videos} videos, {len(pd.read_csv(folder / 'all_triplets.csv'))} trials")
    for key in ("ooo_accuracy_three_way", "ooo_accuracy_paper", "split_half_reliability",
                "pixel_similarity_spearman"):
        print(f"  {key}: {ceiling[key]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
