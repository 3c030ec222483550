"""Each sampling strategy keeps its promise."""
from __future__ import annotations

import numpy as np
import pytest

from trainables.sampling import (
    STRATEGIES, TripletPool, consensus_weights, observed_pairs, sample_coverage, sample_hard_negative,
    sample_triplets, sample_uniform,
)


def _random_triplets(n_videos: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([rng.choice(n_videos, 3, replace=False) for _ in range(n)], dtype=np.int64)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_has_one_signature_and_returns_valid_indices(name):
    triplets = _random_triplets(20, 50, seed=0)
    pool = TripletPool(triplets, violated=np.arange(50) % 3 == 0)
    order = sample_triplets(name, pool, 130, np.random.default_rng(1))
    assert order.shape == (130,) and order.dtype == np.int64
    assert order.min() >= 0 and order.max() < 50
    assert np.array_equal(order, sample_triplets(name, pool, 130, np.random.default_rng(1)))  # seeded


def test_unknown_strategy_is_named():
    with pytest.raises(ValueError, match="'nope'"):
        sample_triplets("nope", TripletPool(_random_triplets(5, 4, 0)), 4, np.random.default_rng(0))


def test_uniform_visits_each_triplet_once_per_pass():
    order = sample_uniform(TripletPool(_random_triplets(10, 40, 0)), 80, np.random.default_rng(0))
    assert sorted(order[:40]) == list(range(40)) and sorted(order[40:]) == list(range(40))


def test_coverage_covers_every_observed_pair_before_any_repeat():
    triplets = _random_triplets(30, 400, seed=2)
    every_pair = set(observed_pairs(triplets))
    order = sample_coverage(TripletPool(triplets), 800, np.random.default_rng(0))
    block = _covering_prefix(triplets, order, every_pair)
    assert len(set(order[:block].tolist())) == block        # no triplet repeated inside the covering block
    assert block < 400                                     # and it is shorter than a full pass
    assert sorted(order[:400]) == list(range(400))         # the pass still visits every triplet once
    # A uniform pass of the same length leaves pairs uncovered: coverage is doing the work.
    uniform = sample_uniform(TripletPool(triplets), block, np.random.default_rng(0))
    assert set(observed_pairs(triplets[uniform])) != every_pair


def _covering_prefix(triplets, order, every_pair) -> int:
    seen: set = set()
    for k, idx in enumerate(order, start=1):
        seen |= set(observed_pairs(triplets[idx:idx + 1]))
        if seen == every_pair:
            return k
    raise AssertionError("the order never covered every observed pair")


def test_hard_negative_prefers_violated_triplets_by_the_boost():
    violated = np.zeros(100, dtype=bool)
    violated[:20] = True
    pool = TripletPool(_random_triplets(15, 100, 0), violated=violated, hard_negative_boost=4.0)
    draws = sample_hard_negative(pool, 20000, np.random.default_rng(0))
    share = violated[draws].mean()
    assert share == pytest.approx(20 * 4 / (20 * 4 + 80), abs=0.015)   # 0.5, versus 0.2 uniformly


def test_hard_negative_without_model_mistakes_is_refused():
    with pytest.raises(ValueError, match="violated"):
        sample_hard_negative(TripletPool(_random_triplets(5, 4, 0)), 4, np.random.default_rng(0))


def test_consensus_weights_follow_agreement_on_repeated_triads():
    triplets = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1],  # triad {0,1,2} three times: odd 2, 2, 1
                         [3, 4, 5]])                       # shown once
    assert consensus_weights(triplets) == pytest.approx([3 / 5, 3 / 5, 2 / 5, 2 / 3])


def test_consensus_sampling_draws_agreed_rows_more_often():
    triplets = np.array([[0, 1, 2], [1, 0, 2], [0, 1, 2], [2, 0, 1]])  # odd 2 three times, odd 1 once
    draws = sample_triplets("consensus", TripletPool(triplets), 20000, np.random.default_rng(0))
    share_minority = (draws == 3).mean()
    assert share_minority == pytest.approx(2 / 6 / (3 * 4 / 6 + 2 / 6), abs=0.01)
