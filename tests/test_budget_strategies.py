"""The triplet-collection strategies on constructed cases: each picks what it claims."""
from __future__ import annotations

import numpy as np
import pytest

from study.budget.candidates import candidate_triads, judged_pair_counts, triad_keys
from study.budget.strategies import STRATEGIES, Pool, get_strategy, odd_probabilities

N = 9


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_candidates_are_distinct_unjudged_triads_of_the_given_videos_only():
    videos = np.array([0, 1, 2, 3, 4, 5, 7])  # 6 and 8 stand for test videos
    judged = np.array([[2, 1, 0], [5, 3, 4]])
    triads = candidate_triads(videos, judged, N, _rng())
    assert len(triads) == 35 - 2
    assert np.isin(triads, videos).all() and (np.diff(triads, axis=1) > 0).all()
    assert not np.isin(triad_keys(triads, N), triad_keys(judged, N)).any()
    drawn = candidate_triads(np.arange(40), judged, 40, _rng(), size=500)
    assert len(drawn) == 500 and len(np.unique(triad_keys(drawn, 40))) == 500


def test_coverage_picks_the_triads_of_the_least_judged_pairs():
    # Videos 0-5 have been judged together many times, 6, 7, 8 never: most triads hold a judged pair.
    judged = np.array([[0, 1, 2], [3, 4, 5], [0, 3, 5], [1, 2, 4]] * 5)
    counts = judged_pair_counts(judged, N)
    candidates = candidate_triads(np.arange(N), judged, N, _rng())
    load = np.array([counts[a, b] + counts[a, c] + counts[b, c] for a, b, c in candidates])
    assert (load > 0).mean() > 0.5
    choice = get_strategy("coverage").choose(Pool(candidates, judged, N), 6, _rng())
    assert (load[choice.picked] == 0).all()  # none of the picks' pairs was ever judged
    assert np.array_equal(choice.scores, -load)
    # The greedy batch spreads: no pair is repeated within the picks while unjudged pairs remain.
    pairs = [tuple(p) for t in candidates[choice.picked] for p in ((t[0], t[1]), (t[0], t[2]), (t[1], t[2]))]
    assert len(pairs) == len(set(pairs))


def test_uncertainty_picks_the_triads_the_model_splits_evenly():
    # Three clusters {0,1,2}, {3,4,5}, {6,7,8}: a triad with two from one cluster has a clear odd one out;
    # a triad with one from each cluster (27) or all from one (3) has three equal pairs, split evenly.
    cluster = np.arange(N) // 3
    similarity = np.where(cluster[:, None] == cluster[None, :], 0.9, 0.1)
    candidates = candidate_triads(np.arange(N), np.zeros((0, 3), int), N, _rng())
    choice = get_strategy("uncertainty").choose(Pool(candidates, np.zeros((0, 3), int), N, (similarity,)), 30,
                                                _rng())
    picked = candidates[choice.picked]
    assert all(len(set(cluster[t].tolist())) != 2 for t in picked)  # the 30 even triads, none of the 54 others
    assert np.allclose(odd_probabilities(similarity, picked), 1 / 3)


def test_disagreement_picks_the_triads_the_seeds_answer_differently():
    rng = _rng(1)
    base = rng.random((N, N))
    base = (base + base.T) / 2
    other = base.copy()
    other[0, 1] = other[1, 0] = 5.0  # the second seed alone finds 0 and 1 alike
    candidates = candidate_triads(np.arange(N), np.zeros((0, 3), int), N, _rng())
    choice = get_strategy("disagreement").choose(Pool(candidates, np.zeros((0, 3), int), N, (base, other)), 7,
                                                 _rng())
    assert all({0, 1} <= set(t.tolist()) for t in candidates[choice.picked])  # the 7 triads holding 0 and 1
    same = get_strategy("disagreement").choose(Pool(candidates, np.zeros((0, 3), int), N, (base, base)), 5, _rng())
    assert np.allclose(same.scores, 0)


def test_uniform_is_seeded_and_spread():
    candidates = candidate_triads(np.arange(30), np.zeros((0, 3), int), 30, _rng(), size=3000)
    pool = Pool(candidates, np.zeros((0, 3), int), 30)
    one, again = (get_strategy("uniform").choose(pool, 300, _rng(5)).picked for _ in range(2))
    assert np.array_equal(one, again) and len(np.unique(one)) == 300
    counts = np.bincount(candidates[one].ravel(), minlength=30)
    assert counts.min() > 10  # every video reached (expected 30 each)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_returns_n_distinct_candidates_and_a_score_each(name):
    rng = _rng(2)
    sims = tuple(np.corrcoef(rng.random((N, 5))) for _ in range(2))
    judged = np.array([[0, 1, 2]])
    candidates = candidate_triads(np.arange(N), judged, N, _rng())
    choice = get_strategy(name).choose(Pool(candidates, judged, N, sims), 10, _rng())
    assert len(np.unique(choice.picked)) == 10 and choice.scores.shape == (len(candidates),)


def test_an_unknown_strategy_is_named():
    with pytest.raises(ValueError, match="unknown strategy 'greedy'; expected one of uniform, coverage"):
        get_strategy("greedy")
