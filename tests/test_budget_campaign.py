"""The simulated collection campaign: new triplets answered by newly drawn people of the world's population, never
the evaluation collection's people, never a test video; the evaluation collection kept whole."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.clips import DecodeSettings
from data.judgments import load_judgments
from data.prepared import prepare_dataset, read_meta
from study.budget.campaign import CampaignSettings, collect, equal_steps, start_rows, write_round
from study.budget.candidates import triad_keys
from study.budget.population import answer, campaign_rng, load_world
from study.synthetic import SyntheticConfig, generate_benchmark
from study.synthetic.participants import participant_weights

DECODE = DecodeSettings(num_frames=4, image_size=32)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    """A tiny world whose test videos only the evaluation collection judges."""
    config = SyntheticConfig.tiny(n_eval_participants=3, main_includes_test=False, n_sets=4)
    return generate_benchmark(tmp_path_factory.mktemp("world"), config)


def test_a_round_collects_new_triads_of_training_videos_from_new_people(world_dir, tmp_path):
    world = load_world(world_dir)
    settings = CampaignSettings(strategy="uniform", seed=0, start_fraction=0.2, batch=60)
    rows = start_rows(world, settings)
    everyone = pd.read_csv(world_dir / "all_triplets.csv")
    evaluation = everyone[everyone["participation"].str.startswith("eval-")]
    assert len(evaluation) and evaluation["participation"].isin(rows["participation"]).all()
    folder = write_round(world, rows, tmp_path / "r0")
    prepared = prepare_dataset(folder, seed=world.config.split_seed, val_fraction=world.config.val_fraction,
                               decode=DECODE, out_root=tmp_path / "prepared")
    new = collect(world, settings, prepared, [], rows, 0)
    assert len(new) == 60
    # New people: ids nobody in the world's files has, the evaluation collection's included.
    assert not new["participation"].isin(everyone["participation"]).any()
    assert new["participation"].str.startswith("campaign-").all()
    stims = new[["stim1_name", "stim2_name", "stim3_name"]].to_numpy()
    assert not np.isin(stims, world.test_videos).any()
    assert np.isin(stims, np.load(prepared / "video_ids.npy")[np.load(prepared / "rows_train.npy")]).all()
    judged = rows[["stim1_name", "stim2_name", "stim3_name"]].to_numpy()
    assert not np.isin(triad_keys(stims, len(world.latents)), triad_keys(judged, len(world.latents))).any()
    # The next round's folder keeps the validation and test judgments whole and trains on more.
    grown = write_round(world, pd.concat([rows, new], ignore_index=True), tmp_path / "r1")
    after = prepare_dataset(grown, seed=world.config.split_seed, val_fraction=world.config.val_fraction,
                            decode=DECODE, out_root=tmp_path / "prepared")
    before, later = read_meta(prepared), read_meta(after)
    assert later.n_triplets["val"] == before.n_triplets["val"] and later.n_triplets["test"] == before.n_triplets["test"]
    assert later.n_triplets["train"] == before.n_triplets["train"] + 60
    assert len(load_judgments(grown).participants) > len(load_judgments(folder).participants)


def test_campaign_people_are_new_draws_of_the_same_population(world_dir):
    world = load_world(world_dir)
    train = np.setdiff1d(np.arange(len(world.latents)), world.test_videos)
    triads = train[np.arange(600).reshape(200, 3) % len(train)]
    _, weights = answer(world, triads, campaign_rng(world, 0, 0), "a")
    _, again = answer(world, triads, campaign_rng(world, 0, 0), "a")
    _, other_round = answer(world, triads, campaign_rng(world, 0, 1), "b")
    assert np.array_equal(weights, again) and not np.allclose(weights, other_round[:len(weights)])
    # Not the world's people: the world's every seed stream gives other weights for its first people.
    for stream in np.random.SeedSequence(world.config.seed).spawn(6):
        drawn = participant_weights(np.random.default_rng(stream), len(weights), world.config)
        assert not np.isclose(drawn[:, None, :], weights[None, :, :]).all(axis=2).any()
    # The same population: the weights' log-ratios to the population weights have its noise's spread.
    ratio = np.log(np.concatenate([weights, other_round]) / np.asarray(world.config.social_weights))
    assert abs(ratio.std() - world.config.weight_noise) < 0.1


def test_a_campaign_never_shows_a_test_video(world_dir):
    world = load_world(world_dir)
    with pytest.raises(ValueError, match="never shows a test video"):
        answer(world, np.array([[world.test_videos[0], 1, 2]]), campaign_rng(world, 0, 0), "x")


def test_equal_steps_gives_every_budget_the_same_optimiser_steps():
    train = {"batch_size": 16, "steps_per_epoch": 25}
    for n in (40, 160, 400, 4000):
        config = equal_steps(train, n, 60)
        per_epoch = min(25, max(1, n // 16))
        assert 60 <= config["epochs"] * per_epoch < 60 + per_epoch
