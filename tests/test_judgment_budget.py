"""The judgment budget (data.budget): a seeded share of the training triplets or of the participants, recorded in
the prepared folder's meta and key; validation and test never shrink; a full budget is today's folder."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import ConfigError
from data.budget import JudgmentBudget, sample_judgments
from data.clips import DecodeSettings, write_clip
from data.judgments import load_judgments
from data.prepared import prepare_budget, prepare_dataset, read_meta
from data.splits import paper_split, split_triplets
from trainables.config import TrainConfig
from sweep_helpers import refused

N_VIDEOS, TEST_IDS, PEOPLE = 12, (9, 10, 11), 6
DECODE = DecodeSettings(num_frames=4, image_size=32)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """12 flat clips; every triad of them twice, judged at random, spread over 6 participants."""
    root = tmp_path_factory.mktemp("budget-data")
    names = [f"clip{i:02d}.mp4" for i in range(N_VIDEOS)]
    for i, name in enumerate(names):
        write_clip(root / "videos" / name, np.full((6, 32, 32, 3), i * 20, dtype=np.uint8))
    pd.DataFrame({"index": range(N_VIDEOS), "video_name": names}).to_csv(root / "video_mapping.csv", index=False)
    pd.DataFrame({"index": TEST_IDS, "video_name": [names[i] for i in TEST_IDS]}).to_csv(root / "test.csv",
                                                                                          index=False)
    triads = np.array(list(itertools.combinations(range(N_VIDEOS), 3)) * 2)
    rng = np.random.default_rng(0)
    choice = triads[np.arange(len(triads)), rng.integers(0, 3, len(triads))]
    pd.DataFrame({"participation": [f"p{k % PEOPLE}" for k in range(len(triads))], "task": "set1", "trial": 0,
                  "stim1_name": triads[:, 0], "stim2_name": triads[:, 1], "stim3_name": triads[:, 2],
                  "choice": choice, "response_time": 2.0, "catch_trial_flag": False}).to_csv(
        root / "all_triplets.csv", index=False)
    return root


def _train(data_dir):
    j = load_judgments(data_dir)
    return split_triplets(j, paper_split(j, val_fraction=0.34)).train


def _prepare(data_dir, root, budget=None):
    kwargs = {} if budget is None else {"budget": budget}
    return prepare_dataset(data_dir, val_fraction=0.34, decode=DECODE, out_root=root, **kwargs)


def _arrays(folder: Path) -> dict:
    return {p.stem: np.load(p) for p in folder.glob("*.npy")}


def test_the_triplet_draw_is_reproducible_sized_and_changes_with_the_seed(data_dir):
    train = _train(data_dir)
    one, again = (sample_judgments(train, JudgmentBudget(0.25, seed=3)) for _ in range(2))
    other = sample_judgments(train, JudgmentBudget(0.25, seed=4))
    assert len(one) == round(0.25 * len(train))
    assert np.array_equal(one.triplets, again.triplets)
    assert not np.array_equal(one.triplets, other.triplets)
    rows = {tuple(t) for t in train.triplets.tolist()}
    assert {tuple(t) for t in one.triplets.tolist()} <= rows


def test_the_participant_draw_keeps_every_triplet_of_the_chosen_people_and_none_of_the_others(data_dir):
    train = _train(data_dir)
    kept = sample_judgments(train, JudgmentBudget(0.5, unit="participants", seed=1))
    chosen = np.unique(kept.participant)
    assert len(chosen) == PEOPLE // 2
    assert len(kept) == np.isin(train.participant, chosen).sum()


def test_a_budget_shrinks_training_only_and_is_recorded_in_meta_and_key(data_dir, tmp_path):
    full = _prepare(data_dir, tmp_path)
    part = _prepare(data_dir, tmp_path, JudgmentBudget(0.3, seed=2))
    assert part != full
    a, b = _arrays(full), _arrays(part)
    for name in ("triplets_val", "human_val_similarity", "human_val_counts", "video_ids", "rows_train"):
        assert np.array_equal(a[name], b[name], equal_nan=True), name
    assert len(b["triplets_train"]) == round(0.3 * len(a["triplets_train"]))
    assert {tuple(t) for t in b["triplets_train"].tolist()} <= {tuple(t) for t in a["triplets_train"].tolist()}
    assert b["human_train_counts"].sum() < a["human_train_counts"].sum()
    meta = read_meta(part)
    assert meta.settings["judgment_fraction"] == 0.3 and meta.settings["judgment_seed"] == 2
    assert meta.judgments["n_triplets_kept"] == len(b["triplets_train"])
    assert meta.judgments["n_triplets_available"] == len(a["triplets_train"])
    assert meta.n_triplets["val"] == read_meta(full).n_triplets["val"]
    assert meta.test_video_ids == read_meta(full).test_video_ids


def test_a_full_budget_is_the_folder_of_today(data_dir, tmp_path):
    today = _prepare(data_dir, tmp_path / "a")
    full = _prepare(data_dir, tmp_path / "b", JudgmentBudget(1.0, unit="participants", seed=9))
    assert today.name == full.name
    a, b = _arrays(today), _arrays(full)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)
    assert json.loads((today / "meta.json").read_text())["settings"] == read_meta(full).settings


def test_a_budget_folder_derived_from_a_prepared_one_is_the_one_prepared_directly(data_dir, tmp_path):
    full = _prepare(data_dir, tmp_path)
    budget = JudgmentBudget(0.5, unit="participants", seed=5)
    derived = prepare_budget(full, budget)
    assert derived == _prepare(data_dir, tmp_path, budget)
    assert prepare_budget(derived, budget) == derived
    assert prepare_budget(full, JudgmentBudget()) == full


@pytest.mark.parametrize("settings, says", [
    ({"judgment_fraction": 0.0}, "judgment_fraction must be a number in (0, 1]; got 0.0"),
    ({"judgment_fraction": 1.5}, "judgment_fraction must be a number in (0, 1]; got 1.5"),
    ({"judgment_unit": "people"}, "judgment_unit must be one of triplets, participants; got 'people'"),
])
def test_a_bad_budget_setting_is_refused_naming_it(settings, says):
    with pytest.raises(ConfigError, match=None) as err:
        TrainConfig.from_dict(settings)
    assert says in str(err.value)


def test_the_sweep_refuses_a_bad_fraction_in_one_line(tmp_path, capsys):
    line = refused(capsys, ["--storage-path", str(tmp_path / "s"), "--set", "judgment_fraction=2",
                            "--no-dashboard"])
    assert "judgment_fraction must be a number in (0, 1]; got 2.0" in line


def test_a_trial_with_a_budget_trains_on_the_budget_folder(data_dir, tmp_path, one_torch_thread):
    from trainables.loop import train

    full = _prepare(data_dir, tmp_path)
    config = {"prepared_dir": str(full), "epochs": 1, "batch_size": 4,
              "steps_per_epoch": 1, "rsa_subset": 2, "seed": 7, "judgment_fraction": 0.5,
              "judgment_unit": "participants"}
    history = train(config)
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    made = sorted(p for p in tmp_path.iterdir() if p.name.startswith("prepared-") and p != full)
    assert len(made) == 1  # the trial made the budget's folder beside the full one, and nothing else
    assert made[0] == prepare_budget(full, JudgmentBudget(0.5, unit="participants", seed=7))
    assert read_meta(made[0]).judgments["n_participants_kept"] == PEOPLE // 2
