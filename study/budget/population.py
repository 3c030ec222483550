"""The synthetic world's population, asked again: newly drawn simulated participants answer the triads a campaign
collects. They are the same population as the world's (its social weights, weight noise, temperature and lapse
rate, the same choice rule: study.synthetic.participants) but new people: their weights come from a seed stream
the world never draws from, and their ids (`campaign-...`) are nobody's in the world's files, the evaluation
collection's (`eval-...`) included. Attentive people only: the campaign shows no catch trials."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import DataError
from data.judgments import load_judgments
from study.synthetic.config import SOCIAL_LATENTS, TRIPLET_COLUMNS, SyntheticConfig
from study.synthetic.participants import choose, odd_probabilities, participant_weights

CAMPAIGN_STREAM = 0xCA3A16  # mixed into the world's seed: a stream none of the world's draws uses


@dataclass(frozen=True, eq=False)
class World:
    """A synthetic benchmark folder's truth: each video's social latents (n, 7), the config it was made with, its
    test videos and every participant id in its judgments."""

    data_dir: Path
    latents: np.ndarray
    config: SyntheticConfig
    test_videos: np.ndarray
    people: frozenset


def load_world(data_dir: str | Path) -> World:
    data_dir = Path(data_dir)
    config_path = data_dir / "ground_truth" / "config.json"
    if not config_path.is_file():
        raise DataError(f"{config_path}: missing; a campaign needs a synthetic benchmark (python -m study.synthetic)")
    known = {f.name for f in dataclasses.fields(SyntheticConfig)}
    config = SyntheticConfig(**{k: v for k, v in json.loads(config_path.read_text()).items() if k in known})
    latents = pd.read_csv(data_dir / "ground_truth" / "latents.csv")[list(SOCIAL_LATENTS)].to_numpy(np.float64)
    j = load_judgments(data_dir, min_catch_accuracy=0.0)  # catch.participants: everyone in the file
    return World(data_dir, latents, config, np.sort(j.test_videos), frozenset(j.catch.participants))


def campaign_rng(world: World, seed: int, round_index: int) -> np.random.Generator:
    """The stream a campaign's round draws its people and their answers from (never one of the world's)."""
    return np.random.default_rng([world.config.seed, CAMPAIGN_STREAM, int(seed), int(round_index)])


def answer(world: World, triads: np.ndarray, rng: np.random.Generator,
           label: str) -> tuple[pd.DataFrame, np.ndarray]:
    """(all_triplets.csv rows, the new people's weights (p, 7)): `triads` (m, 3) of video ids, shown in their
    order, each answered by one of ceil(m / trials per person) new people (n_sets * trials_per_set trials each, as
    the world's people did)."""
    if np.isin(triads, world.test_videos).any():
        raise ValueError("a campaign never shows a test video")
    per_person = world.config.n_sets * world.config.trials_per_set
    n_people = -(-len(triads) // per_person)
    weights = participant_weights(rng, n_people, world.config)
    person = np.arange(len(triads)) // per_person
    probs = odd_probabilities(world.latents, triads, weights[person], world.config)
    choice = triads[np.arange(len(triads)), choose(rng, probs)]
    names = np.array([f"campaign-{label}-p{k:03d}" for k in range(n_people)])
    clash = set(names) & world.people
    if clash:
        raise ValueError(f"campaign participant ids {sorted(clash)[:3]} are already the world's")
    return pd.DataFrame({
        "participation": names[person], "task": f"campaign-{label}", "trial": np.arange(len(triads)) % per_person,
        "stim1_name": triads[:, 0], "stim2_name": triads[:, 1], "stim3_name": triads[:, 2], "choice": choice,
        "response_time": np.round(rng.lognormal(np.log(5.0), 0.6, len(triads)), 3), "catch_trial_flag": False,
        "token": [f"c{k}" for k in person], "survey_code": 0.0}, columns=list(TRIPLET_COLUMNS)), weights
