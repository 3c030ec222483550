"""A pretrained backbone for the synthetic world: its stand-in for a video model's pretraining (Kinetics-400 for
TimeSformer).

The corpus is rendered by the benchmark's own generator from a seed stream of its own (no benchmark video and no
benchmark latent draw is reused). The pretext is what video models are pretrained on, with the augmentations
they are pretrained with:
- a Kinetics-like classification (cross-entropy on the CLS token) over 72 classes that combine the kind of
  interaction (conversation, playing together, conflict, ignoring, leading, avoiding: the archetype its latents
  were drawn around) with the scene (striped room or not, distractor box, the dominant background channel):
  it shapes the embedding's geometry, as activity and context classes shape a real model's;
- a smaller auxiliary head on the mean of the last layer's patch tokens regressing what a tracker reads off the
  two agents (gap, its trend, nose turn, size ratio, halo, bob amplitude, bob phase sync; symmetric in the
  agents): it makes the social cues readable from the features without making them the geometry;
- every clip under a random content-preserving view (flips, quarter turns, colour-channel order, small shifts:
  trainables.augment; never time reversal), the channel label moving with the channels.
The simulated humans' similarity, weights and judgments are never used. The backbone is saved with
`save_pretrained` and the sweep loads it through `TimesformerModel.from_pretrained(folder)`, the path a user with
the real weights takes. `ensure_pretrained()` builds it once under `$SOCIAL_ALIGN_CACHE/pretrained/`, in a folder
named by a hash of its settings. See docs/synthetic.md.

This module (the settings, the corpus, the cached folder, `python -m study.pretrain`) imports neither torch nor
transformers: the training is study.pretext, imported only when a build runs, so a refused command returns at
once and the sweep's checks can name the backbone without loading torch.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.atomic import atomic_folder
from common.checks import check_output, check_seed
from common.errors import ConfigError, cli_entry
from search_spaces import SYNTHETIC_CLIPS
from study.synthetic import GENERATOR_VERSION, INTERACTIONS, agent_state, render_clip, sample_interactions, \
    sample_nuisance
from trainables.augment import parse_augment
from data.clips import DecodeSettings, decode_clip, default_cache_root, write_clip

if TYPE_CHECKING:
    import pandas as pd
    from transformers import TimesformerConfig

PRETRAIN_VERSION = 2  # bump whenever the same config would give other weights
BACKBONE_NAME = "synthetic-pretrained"  # what a search space names; the sweep swaps in ensure_pretrained()
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


# ---------------------------------------------------------------- the cached folder

def pretrained_root() -> Path:
    """`$SOCIAL_ALIGN_PRETRAINED` if set (the tests share one per session), else `$SOCIAL_ALIGN_CACHE/pretrained`."""
    own = os.environ.get("SOCIAL_ALIGN_PRETRAINED")
    return Path(own) if own else default_cache_root() / "pretrained"


SHIPPED = Path(__file__).resolve().parent / "weights"  # the default config's build, committed with the code


def ensure_pretrained(config: PretrainConfig | None = None, root: str | Path | None = None, log=None) -> Path:
    """The save_pretrained folder for `config`: under `root` (default pretrained_root()) if built there, else the
    copy shipped in study/weights/ when it was built from these settings (same key), else built now under
    `root` (written under a temporary name and renamed) and reused afterwards."""
    config = config or PretrainConfig()
    root = Path(root) if root is not None else pretrained_root()
    name = f"timesformer-synthetic-{config.key()}"
    target = root / name
    for folder in (target, SHIPPED / name):
        if (folder / "pretrain.json").is_file():
            return folder
    return build_pretrained(config, root, log)


def build_pretrained(config: PretrainConfig, root: Path, log=None) -> Path:
    """Pretrain and save into root/timesformer-synthetic-KEY (kept if another process finished it first)."""
    target = Path(root) / f"timesformer-synthetic-{config.key()}"
    if (target / "pretrain.json").is_file():
        return target
    from study.pretext import pretrain  # torch: only once a build runs

    with atomic_folder(target, existing="keep", complete=lambda folder: (folder / "pretrain.json").is_file()) as tmp:
        backbone, summary = pretrain(config, log, corpus=render_corpus(config))
        backbone.save_pretrained(tmp)
        # Written last: its presence marks a finished folder.
        (tmp / "pretrain.json").write_text(json.dumps({"key": config.key(), "config": asdict(config),
                                                       **summary}, indent=1, sort_keys=True) + "\n")
    return target


def resolve_backbone(name: str) -> str:
    """BACKBONE_NAME -> the folder of ensure_pretrained() (built on first use); any other name unchanged. Whether
    the clips fit it is study.preflight.check_backbone's to say."""
    if name != BACKBONE_NAME:
        return name
    return str(ensure_pretrained(PretrainConfig(), log=lambda line: print(line, flush=True)))


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="cache folder (default: pretrained_root())")
    parser.add_argument("--seed", type=int, default=0, help="PretrainConfig.seed")
    parser.add_argument("--rebuild", action="store_true",
                        help="build under --root even where study/weights/ ships this build (to check it)")
    args = parser.parse_args(argv)
    check_seed("--seed", args.seed)
    if args.root is not None:
        check_output("--root", args.root, folder=True)
    config, log = PretrainConfig(seed=args.seed), (lambda line: print(line, flush=True))
    folder = build_pretrained(config, args.root or pretrained_root(), log) if args.rebuild else \
        ensure_pretrained(config, args.root, log)
    summary = json.loads((folder / "pretrain.json").read_text())
    print(f"{folder}\n  held-out class accuracy {summary['held_out_class_accuracy']:.3f} (chance "
          f"{summary['held_out_class_chance']:.3f}), interaction {summary['held_out_interaction_accuracy']:.3f} "
          f"(chance {summary['held_out_interaction_chance']:.3f}); tracker R^2 " +
          ", ".join(f"{k} {v:.2f}" for k, v in summary["held_out_tracker_r2"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
