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

This module (the cached folder, `python -m study.pretrain`) and study.pretrain_corpus (the settings, the corpus)
import neither torch nor transformers: the training is study.pretext, imported only when a build runs, so a
refused command returns at once and the sweep's checks can name the backbone without loading torch.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from common.atomic import atomic_folder
from common.checks import check_output, check_seed
from common.errors import cli_entry
from data.clips import default_cache_root
from study.pretrain_corpus import PretrainConfig, render_corpus

BACKBONE_NAME = "synthetic-pretrained"  # what a search space names; the sweep swaps in ensure_pretrained()


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
