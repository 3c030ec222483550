"""The synthetic backbone's pretraining corpus and settings (study.pretrain builds the backbone, study.pretext
trains it): the pretext's constants, `PretrainConfig` and its key, and the corpus rendered by the benchmark's own
generator from a seed stream of its own. Imports neither torch nor transformers (docs/synthetic.md)."""
from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.errors import ConfigError
from search_spaces import SYNTHETIC_CLIPS
from study.synthetic import GENERATOR_VERSION, INTERACTIONS, agent_state, render_clip, sample_interactions, \
    sample_nuisance
from trainables.augment import parse_augment
from data.clips import DecodeSettings, decode_clip, write_clip

if TYPE_CHECKING:
    import pandas as pd
    from transformers import TimesformerConfig

PRETRAIN_VERSION = 2  # bump whenever the same config would give other weights
CORPUS_TAG = 0x5052E  # second word of the corpus's SeedSequence: benchmark streams are seeded by one word
SCENE_CLASSES = 2 * 2 * 3  # striped room x distractor box x dominant background channel
N_CLASSES = len(INTERACTIONS) * SCENE_CLASSES
TRACKED = ("gap", "gap_trend", "nose_turn", "size_ratio", "halo", "bob_amplitude", "bob_sync")


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class PretrainConfig:
    """Corpus, backbone shape and optimisation of the synthetic pretraining. Same config -> same weights
    (on the same machine and torch thread count, from the same rendering)."""

    seed: int = _help("seed of the corpus (its own stream, disjoint from every benchmark) and of the training", 0)
    n_videos: int = _help("videos in the pretraining corpus (a tenth held out to report the pretext fit)", 2000)
    num_frames: int = _help("frames the backbone sees (search_spaces.SYNTHETIC_CLIPS)", SYNTHETIC_CLIPS["num_frames"])
    image_size: int = _help("frame side the backbone sees (search_spaces.SYNTHETIC_CLIPS)",
                            SYNTHETIC_CLIPS["image_size"])
    source_frames: int = _help("frames rendered per clip before decoding (the benchmark's num_frames)", 16)
    frame_size: int = _help("side of the rendered frames (the benchmark's frame_size)", 64)
    latent_spread: float = _help("std of the corpus latents around their archetype (the benchmark's)", 0.15)
    nuisance_strength: float = _help("nuisance variety of the corpus (the benchmark's default)", 1.0)
    hidden_size: int = _help("TimeSformer width (the 'tiny' preset's)", 64)
    num_hidden_layers: int = _help("TimeSformer depth (the 'tiny' preset's)", 2)
    num_attention_heads: int = _help("attention heads", 4)
    intermediate_size: int = _help("MLP width", 256)
    patch_size: int = _help("patch side in pixels (8 at 32 px: 16 patches per frame)", 8)
    augment: str = _help("views each pretraining clip is drawn under (trainables.augment names, 'none' = off)",
                         "flip,rot90,channels,shift")
    tracker_weight: float = _help("weight of the tracker read-outs' MSE against the classification's "
                                  "cross-entropy", 10.0)
    epochs: int = _help("passes over the corpus", 24)
    batch_size: int = _help("clips per step", 32)
    lr: float = _help("AdamW peak learning rate (cosine decay)", 1e-3)
    weight_decay: float = _help("AdamW weight decay", 0.01)

    def __post_init__(self):
        for name in ("n_videos", "num_frames", "image_size", "source_frames", "frame_size", "hidden_size",
                     "num_hidden_layers", "num_attention_heads", "intermediate_size", "patch_size", "epochs",
                     "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"PretrainConfig.{name} must be an integer >= 1, got {value!r}")
        if self.image_size % self.patch_size or self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"PretrainConfig: image_size ({self.image_size}) must be a multiple of patch_size "
                              f"({self.patch_size}) and hidden_size ({self.hidden_size}) of num_attention_heads "
                              f"({self.num_attention_heads})")
        if not self.lr > 0 or self.weight_decay < 0 or not self.tracker_weight >= 0:
            raise ConfigError(f"PretrainConfig: lr must be > 0, weight_decay and tracker_weight >= 0, got "
                              f"{self.lr!r}, {self.weight_decay!r}, {self.tracker_weight!r}")
        parse_augment(self.augment, "PretrainConfig.augment")

    def key(self) -> str:
        doc = {"pretrain_version": PRETRAIN_VERSION, "generator_version": GENERATOR_VERSION, **asdict(self)}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def backbone_config(self) -> TimesformerConfig:
        from transformers import TimesformerConfig

        return TimesformerConfig(num_frames=self.num_frames, image_size=self.image_size,
                                 hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
                                 num_attention_heads=self.num_attention_heads,
                                 intermediate_size=self.intermediate_size, patch_size=self.patch_size)


# ---------------------------------------------------------------- the corpus

def corpus_world(config: PretrainConfig) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """The corpus's interaction kinds (n,), latents (n, 7) and nuisance table, drawn from
    SeedSequence([seed, CORPUS_TAG])."""
    rng_latent, rng_render = (np.random.default_rng(s)
                              for s in np.random.SeedSequence([config.seed, CORPUS_TAG]).spawn(2))
    kind, latents = sample_interactions(rng_latent, config.n_videos, config.latent_spread)
    return kind, latents, sample_nuisance(rng_render, config.n_videos, config.nuisance_strength)


def scene_labels(kind: np.ndarray, nuisance: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(class without the channel (n,) in [0, N_CLASSES / 3), dominant background channel (n,) in {0, 1, 2}).
    The class is class_without_channel * 3 + channel, the channel as the backbone sees it (after any reorder)."""
    scene = nuisance["indoor"].to_numpy(int) * 2 + nuisance["object"].to_numpy(int)
    dominant = nuisance[["bg_r", "bg_g", "bg_b"]].to_numpy().argmax(1)
    return (kind * 4 + scene).astype(np.int64), dominant.astype(np.int64)


def tracker_readouts(latents: np.ndarray, nuisance: pd.Series, config: PretrainConfig) -> np.ndarray:
    """What a tracker reads off the two agents over the rendered clip (float32, TRACKED's order), in units of the
    frame side and symmetric in the agents (nothing tells them apart): the mean gap between their centres, its
    change from the first to the last frame, how far the noses turn from the partner (mean 1 - cos), the larger
    body radius over the smaller, the mean brightness of the turn halos, the amplitude of each agent's sideways
    bob across the pair's axis (mean of the two) and the correlation of the two bobs. Close to renderer
    functions of the social latents, but measured on the pixels' objects, as a tracker would: never the simulated
    humans' similarity, weights or choices."""
    state = agent_state(latents, nuisance, config.source_frames, config.frame_size)
    pos = state["pos"] / config.frame_size  # (2 agents, T, 2)
    between = pos[1] - pos[0]
    gap = np.linalg.norm(between, axis=-1)
    axis = between.mean(0) / max(float(np.linalg.norm(between.mean(0))), 1e-9)
    bob = pos @ np.array([-axis[1], axis[0]])  # (2, T): each agent across the pair's mean axis
    bob = bob - bob.mean(1, keepdims=True)
    toward = np.stack([np.arctan2(between[:, 1], between[:, 0]), np.arctan2(-between[:, 1], -between[:, 0])])
    sync = (bob[0] * bob[1]).mean() / max(float(bob[0].std() * bob[1].std()), 1e-9)
    return np.array([gap.mean(), gap[-1] - gap[0], (1 - np.cos(state["heading"] - toward)).mean(),
                     state["radius"].max() / state["radius"].min(), state["halo"].mean(),
                     bob.std(1).mean(), sync], dtype=np.float32)


def render_corpus(config: PretrainConfig) -> dict[str, np.ndarray]:
    """clips uint8 (n, T, 3, H, W), kind (n,), scene_class and dominant (n,) (scene_labels), tracks float32
    (n, len(TRACKED)). Each clip goes the benchmark's way: rendered, written as H.264, decoded and resized
    (data.clips)."""
    kind, latents, nuisance = corpus_world(config)
    decode = DecodeSettings(num_frames=config.num_frames, image_size=config.image_size)
    clips = np.empty((config.n_videos, config.num_frames, 3, config.image_size, config.image_size), np.uint8)
    with tempfile.TemporaryDirectory(prefix="pretrain-corpus-") as tmp:
        path = Path(tmp) / "clip.mp4"
        for i in range(config.n_videos):
            frames = render_clip(latents[i], nuisance.iloc[i], config.source_frames, config.frame_size)
            write_clip(path, frames, fps=config.source_frames / 3.0)
            clips[i] = decode_clip(path, decode)
    scene_class, dominant = scene_labels(kind, nuisance)
    tracks = np.stack([tracker_readouts(latents[i], nuisance.iloc[i], config) for i in range(config.n_videos)])
    return {"clips": clips, "kind": kind.astype(np.int64), "scene_class": scene_class, "dominant": dominant,
            "tracks": tracks}
