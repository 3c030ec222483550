"""A simulated collection campaign in the synthetic world: start from a small share of the world's judgments,
then rounds of collecting `batch` new triplets chosen by a strategy among the training videos, answered by newly
drawn simulated participants (study.budget.population), fine-tuning again from scratch (the Ray-free
trainables.loop.train) and scoring on the test videos, which the campaign never shows. The evaluation collection
(the validation and test triplets) is kept whole in every round."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.clips import DecodeSettings
from data.judgments import MAPPING_FILE, TEST_FILE, TRIPLETS_FILE, load_judgments
from data.prepared import load_clip_rows, load_rows_train, load_video_ids, prepare_dataset, read_meta
from search_spaces import SYNTHETIC_CLIPS
from study.budget.candidates import candidate_triads, presentation_order
from study.budget.heldout import TestSet, score
from study.budget.population import World, answer, campaign_rng
from study.synthetic.config import TRIPLET_COLUMNS
from study.budget.strategies import Pool, get_strategy

REPLICATE_OFFSET = 1000  # the disagreement strategy's second model trains with seed + this


@dataclass(frozen=True)
class CampaignSettings:
    strategy: str = field(default="uniform", metadata={"help": "study.budget.strategies name"})
    seed: int = field(default=0, metadata={"help": "seed of the start draw, the people, the choices, training"})
    start_fraction: float = field(default=0.1, metadata={"help": "share of the world's main-collection rows "
                                                                 "the campaign starts from"})
    batch: int = field(default=200, metadata={"help": "triplets collected per round"})
    rounds: int = field(default=4, metadata={"help": "collection rounds after the start"})
    train: dict = field(default_factory=dict, metadata={"help": "training settings (trainables.config keys)"})
    total_steps: int = field(default=0, metadata={"help": "optimiser steps of every round's training whatever "
                                                          "its judgments (equal_steps); 0 = train's own epochs"})
    decode: DecodeSettings = field(default=DecodeSettings(**SYNTHETIC_CLIPS))


def run_campaign(world: World, settings: CampaignSettings, test: TestSet, work: Path) -> list[dict]:
    """One row per round (round 0 = the start): training triplets in the folder, held-out accuracy, explained
    variance and per-test-triplet credit of the model fine-tuned on them."""
    rows = start_rows(world, settings)
    history = []
    for round_index in range(settings.rounds + 1):
        folder = write_round(world, rows, work / "data" / f"{settings.strategy}-s{settings.seed}-r{round_index}")
        prepared = prepare_dataset(folder, seed=world.config.split_seed, val_fraction=world.config.val_fraction,
                                   decode=settings.decode, out_root=work / "prepared")
        models = _models(prepared, settings, work)
        held = score(embed_rows(models[0], test.clips), test)
        history.append({"strategy": settings.strategy, "seed": settings.seed, "round": round_index,
                        "n_train_triplets": read_meta(prepared).n_triplets["train"], **held})
        if round_index < settings.rounds:
            rows = pd.concat([rows, collect(world, settings, prepared, models, rows, round_index)],
                             ignore_index=True)
    return history


def start_rows(world: World, settings: CampaignSettings) -> pd.DataFrame:
    """The evaluation collection whole, plus a seeded share of the main collection's valid rows (catch trials and
    excluded participants already dropped by data.judgments), in all_triplets.csv's columns."""
    j = load_judgments(world.data_dir)
    people = np.asarray(j.participants, dtype=object)[j.participant]
    evaluation = np.char.startswith(people.astype(str), "eval-")
    main = np.flatnonzero(~evaluation)
    rng = np.random.default_rng([settings.seed, 0x57A27])
    chosen = np.sort(rng.choice(main, size=max(1, round(settings.start_fraction * len(main))), replace=False))
    keep = np.concatenate([np.flatnonzero(evaluation), chosen])
    t = j.triplets[keep]
    return pd.DataFrame({"participation": people[keep], "task": "start", "trial": 0, "stim1_name": t[:, 0],
                         "stim2_name": t[:, 1], "stim3_name": t[:, 2], "choice": t[:, 2],
                         "response_time": j.response_time[keep], "catch_trial_flag": False, "token": "",
                         "survey_code": 0.0}, columns=list(TRIPLET_COLUMNS))


def write_round(world: World, rows: pd.DataFrame, folder: Path) -> Path:
    """A data folder: the world's videos (linked), mapping and test list, and these judgments."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "videos").exists():
        os.symlink((world.data_dir / "videos").resolve(), folder / "videos")
    for name in (MAPPING_FILE, TEST_FILE):
        (folder / name).write_bytes((world.data_dir / name).read_bytes())
    rows.to_csv(folder / TRIPLETS_FILE, index=False)
    return folder


def collect(world: World, settings: CampaignSettings, prepared: Path, models: list[Path], rows: pd.DataFrame,
            round_index: int) -> pd.DataFrame:
    """The round's `batch` new triads of training videos, chosen by the strategy, answered by new people."""
    rng = campaign_rng(world, settings.seed, round_index)
    n_videos = len(world.latents)
    judged = rows[["stim1_name", "stim2_name", "stim3_name"]].to_numpy(np.int64)
    train_ids = load_video_ids(prepared)[load_rows_train(prepared)]
    candidates = candidate_triads(train_ids, judged, n_videos, rng)
    strategy = get_strategy(settings.strategy)
    sims = tuple(_similarity(m, prepared, train_ids, n_videos) for m in models[:max(strategy.models_needed, 0)])
    choice = strategy.choose(Pool(candidates, judged, n_videos, sims), settings.batch, rng)
    label = f"{settings.strategy}-s{settings.seed}-r{round_index + 1}"
    frame, _ = answer(world, presentation_order(candidates[choice.picked], rng), rng, label)
    return frame


def _models(prepared: Path, settings: CampaignSettings, work: Path) -> list[Path]:
    seeds = [settings.seed] + ([settings.seed + REPLICATE_OFFSET]
                               if get_strategy(settings.strategy).models_needed > 1 else [])
    train = settings.train
    if settings.total_steps:
        train = equal_steps(train, read_meta(prepared).n_triplets["train"], settings.total_steps)
    return [fine_tune(prepared, train, seed, work) for seed in seeds]


def equal_steps(train: dict, n_triplets: int, total: int) -> dict:
    """The same optimiser steps for any budget: epochs of min(steps_per_epoch, a full pass) steps until `total`
    are spent (so a budget comparison measures data, not compute)."""
    per_epoch = max(1, n_triplets // train["batch_size"])
    per_epoch = min(train["steps_per_epoch"], per_epoch) if train.get("steps_per_epoch") else per_epoch
    return {**train, "epochs": -(-total // per_epoch)}


def fine_tune(prepared: Path, train_settings: dict, seed: int, work: Path) -> Path:
    """The last-epoch checkpoint of a Ray-free training run on this folder (reused when it is already there: the
    folder's name is its content's hash, so a round-0 folder shared by every strategy trains once)."""
    from trainables.loop import train

    config = {**train_settings, "prepared_dir": str(prepared), "seed": seed}
    out = work / "runs" / f"{prepared.name}-{_settings_key(config)}"
    last = out / f"epoch_{config.get('epochs', 5):03d}"
    if not last.is_dir():
        train(config, checkpoint_dir=out)
    return last


def _settings_key(config: dict) -> str:
    import hashlib
    import json

    doc = {k: v for k, v in config.items() if k != "prepared_dir"}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def embed_rows(checkpoint: Path, clips: np.ndarray) -> np.ndarray:
    """The trained model's embeddings of these clips, on the GPU when there is one (as training is)."""
    import torch

    from trainables.embed import embed_clips, load_trained

    model = load_trained(checkpoint)[0].to("cuda" if torch.cuda.is_available() else "cpu")
    return embed_clips(model, clips)


def _similarity(checkpoint: Path, prepared: Path, train_ids: np.ndarray, n_videos: int) -> np.ndarray:
    ids = load_video_ids(prepared)
    rows = np.flatnonzero(np.isin(ids, train_ids))
    emb = embed_rows(checkpoint, load_clip_rows(prepared)[rows])
    full = np.full((n_videos, n_videos), np.nan)
    full[np.ix_(ids[rows], ids[rows])] = emb @ emb.T
    return full
