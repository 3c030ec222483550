"""A pretrained backbone for the synthetic world: its stand-in for TimeSformer's Kinetics-400 pretraining.

The corpus is rendered by the benchmark's own generator from a seed stream of its own (no benchmark video and no
benchmark latent draw is reused). The pretext is what Kinetics pretraining is: action recognition, here the kind
of interaction a clip shows (conversation, playing together, conflict, ignoring, leading, avoiding: the archetype
its latents were drawn around), plus the scene (striped room or not, distractor box, background colour). The
simulated humans' similarity, weights and judgments are never used.
The tiny TimeSformer trained on it is saved with `save_pretrained`, and the sweep loads it through
`TimesformerModel.from_pretrained(folder)`, the path a user with the real weights takes. `ensure_pretrained()`
builds it once under `$SOCIAL_ALIGN_CACHE/pretrained/`, in a folder named by a hash of its settings.
See docs/synthetic.md.
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

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers import TimesformerConfig, TimesformerModel

from common.atomic import atomic_folder
from common.errors import ConfigError, cli_entry
from study.synthetic import GENERATOR_VERSION, INTERACTIONS, render_clip, sample_interactions, sample_nuisance
from data.clips import DecodeSettings, decode_clip, default_cache_root, write_clip
from trainables.model import normalise_clips

PRETRAIN_VERSION = 1  # bump whenever the same config would give other weights
BACKBONE_NAME = "synthetic-pretrained"  # what a search space names; the sweep swaps in ensure_pretrained()
CORPUS_TAG = 0x5052E  # second word of the corpus's SeedSequence: benchmark streams are seeded by one word
SCENE = ("indoor", "object", "bg_r", "bg_g", "bg_b")  # the scene read-out


def _help(text: str, default):
    return field(default=default, metadata={"help": text})


@dataclass(frozen=True)
class PretrainConfig:
    """Corpus, backbone shape and optimisation of the synthetic pretraining. Same config -> same weights
    (on the same machine and torch thread count)."""

    seed: int = _help("seed of the corpus (its own stream, disjoint from every benchmark) and of the training", 0)
    n_videos: int = _help("videos in the pretraining corpus (a tenth held out to report the pretext fit)", 2000)
    num_frames: int = _help("frames the backbone sees (the smoke space's num_frames)", 4)
    image_size: int = _help("frame side the backbone sees (the smoke space's image_size)", 32)
    source_frames: int = _help("frames rendered per clip before decoding (the benchmark's num_frames)", 16)
    frame_size: int = _help("side of the rendered frames (the benchmark's frame_size)", 64)
    latent_spread: float = _help("std of the corpus latents around their archetype (the benchmark's)", 0.15)
    nuisance_strength: float = _help("nuisance variety of the corpus (the benchmark's default)", 1.0)
    hidden_size: int = _help("TimeSformer width (the 'tiny' preset's)", 64)
    num_hidden_layers: int = _help("TimeSformer depth (the 'tiny' preset's)", 2)
    num_attention_heads: int = _help("attention heads", 4)
    intermediate_size: int = _help("MLP width", 256)
    patch_size: int = _help("patch side in pixels (8 at 32 px: 16 patches per frame)", 8)
    epochs: int = _help("passes over the corpus", 12)
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
        if not self.lr > 0 or self.weight_decay < 0:
            raise ConfigError(f"PretrainConfig: lr must be > 0 and weight_decay >= 0, got {self.lr!r}, "
                              f"{self.weight_decay!r}")

    def key(self) -> str:
        doc = {"pretrain_version": PRETRAIN_VERSION, "generator_version": GENERATOR_VERSION, **asdict(self)}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def backbone_config(self) -> TimesformerConfig:
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


def render_corpus(config: PretrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clips uint8 (n, T, 3, H, W), interaction kind int64 (n,), scene float32 (n, 5) in SCENE's order).
    Each clip goes the benchmark's way: rendered, written as H.264, decoded and resized by data.clips."""
    kind, latents, nuisance = corpus_world(config)
    decode = DecodeSettings(num_frames=config.num_frames, image_size=config.image_size)
    clips = np.empty((config.n_videos, config.num_frames, 3, config.image_size, config.image_size), np.uint8)
    with tempfile.TemporaryDirectory(prefix="pretrain-corpus-") as tmp:
        path = Path(tmp) / "clip.mp4"
        for i in range(config.n_videos):
            frames = render_clip(latents[i], nuisance.iloc[i], config.source_frames, config.frame_size)
            write_clip(path, frames, fps=config.source_frames / 3.0)
            clips[i] = decode_clip(path, decode)
    return clips, kind.astype(np.int64), nuisance[list(SCENE)].to_numpy(np.float32)


# ---------------------------------------------------------------- training

def pretrain(config: PretrainConfig, log=None) -> tuple[TimesformerModel, dict]:
    """Train the backbone: CLS -> linear read-outs, cross-entropy on the interaction kind plus MSE on the
    standardised scene. Returns it and a summary with the held-out pretext scores (a tenth of the corpus).
    log: called with a line after each epoch."""
    clips, kind, scene = render_corpus(config)
    n_held = max(1, config.n_videos // 10)
    scene = (scene - scene[n_held:].mean(0)) / (scene[n_held:].std(0) + 1e-6)
    x, y_kind, y_scene = torch.from_numpy(clips), torch.from_numpy(kind), torch.from_numpy(scene)
    torch.manual_seed(config.seed)
    backbone = TimesformerModel(config.backbone_config())
    readout = nn.Linear(config.hidden_size, len(INTERACTIONS) + len(SCENE))
    opt = torch.optim.AdamW([*backbone.parameters(), *readout.parameters()], lr=config.lr,
                            weight_decay=config.weight_decay)
    steps = config.epochs * -(-(config.n_videos - n_held) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.05)
    history = []
    for epoch in range(config.epochs):
        backbone.train()
        losses = []
        for idx in (n_held + torch.randperm(config.n_videos - n_held)).split(config.batch_size):
            loss = _pretext_loss(readout(_cls(backbone, x[idx])), y_kind[idx], y_scene[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
        if log is not None:
            log(f"pretrain epoch {epoch + 1}/{config.epochs}: loss {history[-1]:.4f}")
    backbone.eval()
    return backbone, {"train_loss": history, **_held_out(backbone, readout, x[:n_held], y_kind[:n_held],
                                                         y_scene[:n_held])}


def _pretext_loss(out: torch.Tensor, kind: torch.Tensor, scene: torch.Tensor) -> torch.Tensor:
    k = len(INTERACTIONS)
    return nn.functional.cross_entropy(out[:, :k], kind) + nn.functional.mse_loss(out[:, k:], scene)


def _cls(backbone: TimesformerModel, clips: torch.Tensor) -> torch.Tensor:
    return backbone(pixel_values=normalise_clips(clips)).last_hidden_state[:, 0]


@torch.no_grad()
def _held_out(backbone, readout, x: torch.Tensor, kind: torch.Tensor, scene: torch.Tensor) -> dict:
    out = torch.cat([readout(_cls(backbone, part)) for part in x.split(64)])
    k = len(INTERACTIONS)
    truth = scene.numpy()
    r2 = 1 - ((out[:, k:].numpy() - truth) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0).clip(1e-9)
    return {"held_out_interaction_accuracy": round(float((out[:, :k].argmax(1) == kind).float().mean()), 4),
            "held_out_interaction_chance": round(1 / k, 4),
            "held_out_scene_r2": {name: round(float(v), 4) for name, v in zip(SCENE, r2)}}


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
    with atomic_folder(target, existing="keep", complete=lambda folder: (folder / "pretrain.json").is_file()) as tmp:
        backbone, summary = pretrain(config, log)
        backbone.save_pretrained(tmp)
        # Written last: its presence marks a finished folder.
        (tmp / "pretrain.json").write_text(json.dumps({"key": config.key(), "config": asdict(config),
                                                       **summary}, indent=1, sort_keys=True) + "\n")
    return target


def resolve_backbone(name: str, num_frames: int | None = None, image_size: int | None = None) -> str:
    """BACKBONE_NAME -> the folder of ensure_pretrained() (built on first use); any other name unchanged.
    num_frames, image_size: the trial's, checked against the backbone's (ConfigError naming both)."""
    if name != BACKBONE_NAME:
        return name
    config = PretrainConfig()
    for key, value in (("num_frames", num_frames), ("image_size", image_size)):
        if value is not None and value != getattr(config, key):
            raise ConfigError(f"backbone {BACKBONE_NAME!r} is pretrained at {key}={getattr(config, key)}, "
                              f"got {key}={value}")
    return str(ensure_pretrained(config, log=lambda line: print(line, flush=True)))


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="cache folder (default: pretrained_root())")
    parser.add_argument("--seed", type=int, default=0, help="PretrainConfig.seed")
    parser.add_argument("--rebuild", action="store_true",
                        help="build under --root even where study/weights/ ships this build (to check it)")
    args = parser.parse_args(argv)
    config, log = PretrainConfig(seed=args.seed), (lambda line: print(line, flush=True))
    folder = build_pretrained(config, args.root or pretrained_root(), log) if args.rebuild else \
        ensure_pretrained(config, args.root, log)
    summary = json.loads((folder / "pretrain.json").read_text())
    print(f"{folder}\n  held-out interaction accuracy {summary['held_out_interaction_accuracy']:.3f} (chance "
          f"{summary['held_out_interaction_chance']:.3f}); scene R^2 " +
          ", ".join(f"{k} {v:.2f}" for k, v in summary["held_out_scene_r2"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
