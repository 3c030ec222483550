"""The benchmark folder: every file written under a temporary name and renamed (common.atomic), and the
cached default benchmark (`ensure_benchmark`)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from common.atomic import atomic_folder
from common.errors import ConfigError
from study.synthetic.annotate import annotation_table, captions_frame, sample_captions
from study.synthetic.config import CLIP_ENCODING, GENERATOR_VERSION, SOCIAL_LATENTS, SyntheticConfig
from study.synthetic.ground_truth import evaluation_figures, noise_ceiling_figures
from study.synthetic.participants import evaluation_collection, judgments_among, true_similarity, validation_videos
from study.synthetic.domain import render
from study.synthetic.world import sample_latents, sample_nuisance
from data.clips import default_cache_root, write_clip


def generate_benchmark(out_dir: str | Path, config: SyntheticConfig | None = None) -> Path:
    """Write a benchmark folder (same files and columns as the real data, plus videos/ and ground_truth/).

    Built under a temporary sibling name and renamed into place. `out_dir` may be missing, empty, or an older
    benchmark (replaced); anything else is refused.
    """
    config = config or SyntheticConfig()
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    with atomic_folder(out_dir, existing="replace") as tmp:  # an older benchmark there is replaced whole
        write_all(tmp, config)
    return out_dir


def _check_replaceable(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "ground_truth" / "config.json").is_file():
        raise ConfigError(f"--out {out_dir}: folder is not empty and holds no synthetic benchmark; "
                          "refusing to overwrite it")


def write_all(folder: Path, config: SyntheticConfig) -> None:
    """Everything, drawn from independent seeded streams (changing one part's size leaves the others alone)."""
    rng_latent, rng_render, rng_judge, rng_annot, rng_mc, rng_eval = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(6))
    latents = sample_latents(rng_latent, config.n_videos, config.latent_spread)
    nuisance = sample_nuisance(rng_render, config.n_videos, config.nuisance_strength)
    names = [f"synth_{i:04d}.mp4" for i in range(config.n_videos)]
    test_set = np.sort(rng_latent.permutation(config.n_videos)[: config.n_test])
    videos, masks = _write_videos(folder / "videos", names, latents, nuisance, config)
    # The main collection: over every video (the real study's design) or over the non-test videos only.
    judged = np.arange(config.n_videos) if config.main_includes_test else np.setdiff1d(np.arange(config.n_videos),
                                                                                         test_set)
    triplets, trials = judgments_among(rng_judge, latents, judged, config)
    evaluation = {}
    if config.n_eval_participants:
        parts = {"test": test_set, "val": validation_videos(config, test_set)}
        collected = {k: evaluation_collection(rng_eval, latents, v, k, config) for k, v in parts.items()}
        triplets = pd.concat([triplets, *(frame for frame, _ in collected.values())], ignore_index=True)
        evaluation = {"parts": parts, "trials": {k: t for k, (_, t) in collected.items()}}
    captions = [sample_captions(rng_annot, latents[i], nuisance.iloc[i], config.n_captions) for i in range(len(names))]
    _write_tables(folder, names, test_set, triplets,
                  annotation_table(rng_annot, latents, nuisance, names, test_set, captions, config),
                  captions_frame(names, captions))
    similarity = true_similarity(latents, config.social_weights)
    ceiling = noise_ceiling_figures(rng_mc, latents, judged, similarity, trials, videos, config)
    ceiling |= evaluation_figures(similarity, evaluation)
    _write_masks(folder / "ground_truth", names, masks)
    _write_ground_truth(folder / "ground_truth", names, latents, nuisance, similarity, ceiling, config)


def _write_videos(folder: Path, names, latents, nuisance: pd.DataFrame, config: SyntheticConfig):
    """Render (in config.domain) and encode every clip losslessly (each decodes to its rendered frames, in every
    generation); returns the rendered frames (n, T, H, W, 3) for the pixel check and the agents' masks
    (n, T, H, W)."""
    rendered = [render(config.domain, latents[i], nuisance.iloc[i], config.num_frames, config.frame_size)
                for i in range(config.n_videos)]
    videos, masks = np.stack([r[0] for r in rendered]), np.stack([r[1] for r in rendered])
    for name, frames in zip(names, videos):
        write_clip(folder / name, frames, fps=config.num_frames / config.duration_s, lossless=True)
    return videos, masks


def _write_masks(folder: Path, names, masks: np.ndarray) -> None:
    """ground_truth/agent_masks.npz: per video name, uint8 (T, H, W) agent coverage of its written frames x 255
    (read by data.clips.read_agent_masks)."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "agent_masks.npz",
                        **{name: np.round(m * 255).astype(np.uint8) for name, m in zip(names, masks)})


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
    _dump_json(folder / "config.json",
               {"generator_version": GENERATOR_VERSION, "clip_encoding": CLIP_ENCODING, **config.to_dict()})


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
    if not _finished(target):
        # A cache entry: a finished folder another process renamed in first is kept.
        with atomic_folder(target, existing="keep", complete=_finished) as tmp:
            write_all(tmp, config)
    return target


def _finished(folder: Path) -> bool:
    """config.json is written last: its presence marks a finished benchmark."""
    return (folder / "ground_truth" / "config.json").is_file()
