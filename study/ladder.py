"""The ladder that chooses the synthetic world's pretrained backbone (docs/synthetic.md): on a benchmark's test
videos, the 3-way odd-one-out accuracy of the base (cosine of the backbone's CLS), of the read-out bound (ridge
from the training videos' features to the true social latents, then the world's similarity of the predicted
latents), of caption language and of the true similarity, with intervals over test videos and the paired gaps
the criteria read. It needs the ground truth, so it runs on synthetic benchmarks only.

    python -m study.ladder [--backbone FOLDER] [--world default|second] [--json OUT]

The flags are checked before torch is imported (token_features imports it).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from data.judgments import load_judgments
from analysis.language import caption_embeddings
from data.annotations import read_captions
from common.atomic import atomic_path
from common.checks import check_output
from common.errors import ConfigError, cli_entry
from metrics.triplet_pairs import positions
from data.splits import paper_split
from study.synthetic import SOCIAL_LATENTS, SyntheticConfig, ensure_benchmark, true_similarity
from data.clips import DecodeSettings, load_clips
from study.pretrain_corpus import PretrainConfig

WORLDS = {"default": SyntheticConfig(),
          "second": SyntheticConfig(seed=1, social_weights=(0.6, 1.2, 0.8, 1.2, 0.8, 1.0, 1.0))}
# What the synthetic pretrained backbone sees: the frames and size it is pretrained at (study.pretrain).
DECODE = DecodeSettings(num_frames=PretrainConfig().num_frames, image_size=PretrainConfig().image_size)
CHANCE = 1 / 3


def token_features(backbone_dir: str, clips: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(CLS (n, d), mean of the last layer's patch tokens (n, d)) of the bare backbone."""
    import torch

    from trainables.config import ModelConfig
    from trainables.model import load_backbone, normalise_clips

    backbone = load_backbone(ModelConfig(backbone=backbone_dir), DECODE).eval()
    with torch.no_grad():
        outs = [backbone(pixel_values=normalise_clips(torch.from_numpy(np.array(clips[k:k + batch_size]))))
                .last_hidden_state for k in range(0, len(clips), batch_size)]
    tokens = torch.cat(outs)
    return tokens[:, 0].numpy(), tokens[:, 1:].mean(1).numpy()


def readout_similarity(train_x: np.ndarray, train_latents: np.ndarray, test_x: np.ndarray, weights) -> np.ndarray:
    """The world's similarity of the latents a ridge read-out (fitted on the training videos) predicts."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
    predicted = probe.fit(train_x, train_latents).predict(test_x)
    return true_similarity(predicted, weights)


def ladder(data_dir: Path, backbone_dir: str, world: SyntheticConfig, cache_dir: Path | None = None) -> dict:
    """Every rung's accuracy [95% interval] and the criteria's paired gaps, as a JSON-able dict."""
    from metrics.rdm import model_rdm  # scipy, as the metrics below: past the command's checks

    judgments = load_judgments(data_dir)
    split = paper_split(judgments, val_fraction=world.val_fraction, seed=world.split_seed)
    videos = np.concatenate([split.train, np.sort(split.test)])
    clips = load_clips(data_dir, [judgments.video_names[v] for v in videos], DECODE, cache_dir=cache_dir)
    cls, mean = token_features(backbone_dir, clips)
    n_train = len(split.train)
    test = np.sort(split.test)
    triplets = positions(test, judgments.n_videos)[judgments.within(test).triplets]
    truth = np.load(data_dir / "ground_truth" / "true_similarity.npy")
    latents = _latents(data_dir)
    captions = caption_embeddings(read_captions(data_dir), [judgments.video_names[v] for v in test])
    features = np.concatenate([cls, mean], axis=1)
    similarities = {
        "base": 1 - model_rdm(cls[n_train:]),
        "readout_bound": readout_similarity(features[:n_train], latents[split.train], features[n_train:],
                                            world.social_weights),
        "language": 1 - model_rdm(captions),
        "truth": truth[np.ix_(test, test)],
    }
    return _scores(similarities, triplets) | {"n_test_videos": len(test), "n_test_triplets": len(triplets),
                                              "n_train_videos": n_train, "backbone": str(backbone_dir)}


def _latents(data_dir: Path) -> np.ndarray:
    import pandas as pd

    table = pd.read_csv(data_dir / "ground_truth" / "latents.csv").sort_values("index")
    return table[list(SOCIAL_LATENTS)].to_numpy(np.float64)


def _scores(similarities: dict, triplets: np.ndarray) -> dict:
    from metrics.bootstrap import accuracy_samples, paired_difference, percentile_interval
    from metrics.odd_one_out import per_triplet_correct

    correct = {name: per_triplet_correct(s, triplets) for name, s in similarities.items()}
    samples = {name: accuracy_samples(c, triplets) for name, c in correct.items()}
    out = {name: [float(correct[name].mean()), *percentile_interval(samples[name])] for name in correct}
    chance = np.full_like(samples["base"], CHANCE)
    gaps = {"bound_minus_base": ("readout_bound", "base"), "language_minus_base": ("language", "base")}
    for key, (a, b) in gaps.items():
        out[key] = list(paired_difference(out[a][0], out[b][0], samples[a], samples[b])[:3])
    out["base_minus_chance"] = list(paired_difference(out["base"][0], CHANCE, samples["base"], chance)[:3])
    out["criteria"] = {"bound_gap_at_least_0.06_and_excludes_0": out["bound_minus_base"][0] >= 0.06
                       and out["bound_minus_base"][1] > 0,
                       "base_above_chance": out["base_minus_chance"][1] > 0,
                       "base_below_language": out["language_minus_base"][1] > 0}
    return out


def format_ladder(result: dict) -> str:
    rows = [f"{name:<20} {v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" for name, v in result.items()
            if isinstance(v, list)]
    rows.append("criteria: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in result["criteria"].items()))
    return "\n".join(rows)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    from study.pretrain import ensure_pretrained

    parser = argparse.ArgumentParser(prog="python -m study.ladder", description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default=None, help="save_pretrained folder (default: the shipped build)")
    parser.add_argument("--world", choices=sorted(WORLDS), default="default")
    parser.add_argument("--json", type=Path, default=None, help="also write the ladder here")
    args = parser.parse_args(argv)
    if args.backbone is not None and not (Path(args.backbone).expanduser() / "config.json").is_file():
        raise ConfigError(f"--backbone {args.backbone}: no save_pretrained folder (config.json) there")
    if args.json is not None:
        check_output("--json", args.json, folder=False)
    world = WORLDS[args.world]
    result = ladder(ensure_benchmark(config=world), args.backbone or str(ensure_pretrained()), world)
    print(f"{args.world} world, {result['n_test_videos']} test videos, {result['n_test_triplets']} test triplets, "
          f"{result['n_train_videos']} training videos; {result['backbone']}\n{format_ladder(result)}")
    if args.json is not None:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
