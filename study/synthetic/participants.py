"""Simulated participants: true similarity from the latents, and odd-one-out choices by a softmax over
pair similarities with per-participant weight noise, catch trials and inattentive responders."""
from __future__ import annotations

import numpy as np
import pandas as pd

from study.synthetic.config import SOCIAL_LATENTS, TRIPLET_COLUMNS, SyntheticConfig


def true_similarity(latents: np.ndarray, weights) -> np.ndarray:
    """(n, n) in [0, 1]: 1 - weighted RMS distance between social latents; 1 on the diagonal."""
    w = np.asarray(weights, dtype=np.float64)
    diff = latents[:, None, :] - latents[None, :, :]
    return 1.0 - np.sqrt((diff**2 * w).sum(-1) / w.sum())


def _pair_similarity(latents: np.ndarray, i: np.ndarray, j: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row-wise similarity of videos i and j under each row's own weights (m, 7)."""
    return 1.0 - np.sqrt(((latents[i] - latents[j]) ** 2 * weights).sum(-1) / weights.sum(-1))


def odd_probabilities(latents, stims, weights, config: SyntheticConfig) -> np.ndarray:
    """(m, 3): chance each position is chosen as odd one out: softmax over the pair left behind, plus lapses."""
    a, b, c = stims.T
    left = np.stack([_pair_similarity(latents, b, c, weights), _pair_similarity(latents, a, c, weights),
                     _pair_similarity(latents, a, b, weights)], axis=1) / config.temperature
    soft = np.exp(left - left.max(axis=1, keepdims=True))
    soft /= soft.sum(axis=1, keepdims=True)
    return (1 - config.lapse_rate) * soft + config.lapse_rate / 3


def random_triplets(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    """(m, 3) three distinct videos per row, uniform over unordered triplets and over positions."""
    first = rng.integers(n, size=m)
    second = (first + 1 + rng.integers(n - 1, size=m)) % n
    third = rng.integers(n - 2, size=m)
    low, high = np.minimum(first, second), np.maximum(first, second)
    third = third + (third >= low)  # skip the two taken ids, in increasing order
    third = third + (third >= high)
    return np.stack([first, second, third], axis=1)


def participant_weights(rng, n_people: int, config: SyntheticConfig) -> np.ndarray:
    """(n_people, 7) population weights times log-normal per-participant noise."""
    noise = rng.lognormal(0.0, config.weight_noise, size=(n_people, len(SOCIAL_LATENTS)))
    return np.asarray(config.social_weights) * noise


def choose(rng, probs: np.ndarray) -> np.ndarray:
    """Sample one position per row from (m, 3) probabilities."""
    return (rng.random(len(probs))[:, None] > np.cumsum(probs, axis=1)[:, :2]).sum(axis=1)


def _catch_stims(rng, m: int, n: int) -> np.ndarray:
    """(m, 3) attention checks the real way: one video twice, another once, in a random arrangement."""
    pairs = random_triplets(rng, m, n)[:, :2]
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


def simulate_judgments(rng, latents: np.ndarray, config: SyntheticConfig, n_people: int | None = None,
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
    weights = participant_weights(rng, n_people, config)
    stims = random_triplets(rng, m, n)
    stims[catch] = _catch_stims(rng, int(catch.sum()), n)
    person = layout["person"].to_numpy()
    probs = np.full((m, 3), 1 / 3)
    attentive = ~random_people[person]
    regular = attentive & ~catch
    probs[regular] = odd_probabilities(latents, stims[regular], weights[person[regular]], config)
    probs[attentive & catch] = _catch_probabilities(stims[attentive & catch], config.lapse_rate)
    choice = stims[np.arange(m), choose(rng, probs)]
    frame = _triplet_frame(rng, layout, stims, choice, random_people)
    return frame, {"stims": stims[regular], "probs": probs[regular], "n_attentive": int((~random_people).sum())}


def judgments_among(rng, latents: np.ndarray, videos: np.ndarray, config: SyntheticConfig,
                    n_people: int | None = None, n_random: int | None = None) -> tuple[pd.DataFrame, dict]:
    """simulate_judgments with every triplet (catch trials too) drawn among `videos` (global ids in the rows and
    in the trials' stimuli). videos = every id gives exactly simulate_judgments' rows."""
    frame, trials = simulate_judgments(rng, latents[videos], config, n_people, n_random)
    for column in ("stim1_name", "stim2_name", "stim3_name", "choice"):
        frame[column] = videos[frame[column].to_numpy()]
    return frame, {**trials, "stims": videos[trials["stims"]]}


def evaluation_collection(rng, latents: np.ndarray, videos: np.ndarray, label: str,
                          config: SyntheticConfig) -> tuple[pd.DataFrame, dict]:
    """A dedicated session (as real studies run one for held-out stimuli): n_eval_participants new, attentive
    people judge triplets drawn only among `videos`. Rows in the real columns, ids global; names `eval-LABEL-`."""
    frame, trials = judgments_among(rng, latents, videos, config, config.n_eval_participants, 0)
    frame["participation"] = f"eval-{label}-" + frame["participation"]
    frame["token"] = f"eval-{label}-" + frame["token"]
    return frame, trials


def validation_videos(config: SyntheticConfig, test_set: np.ndarray) -> np.ndarray:
    """The videos data.prepared's paper split holds out for validation (val_fraction, split_seed)."""
    from types import SimpleNamespace

    from data.splits import paper_split

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
