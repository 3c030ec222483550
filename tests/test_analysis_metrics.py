"""Metric identities, vectorised code against naive loops, and chance-level behaviour of random models."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metrics.bootstrap import (accuracy_samples, bootstrap_accuracy, bootstrap_rsa, multiplicities,
                                paired_bootstrap_accuracy, rsa_samples)
from metrics.compare import compare_rdms, compare_vectors
from metrics.noise_ceiling import participant_consistency, repeated_triad_agreement
from metrics.odd_one_out import odd_one_out_accuracy, per_triplet_correct
from metrics.permutation import rsa_permutation_test
from analysis.probes import linear_probes
from metrics.rdm import model_rdm
from metrics.triplet_pairs import human_similarity, participant_pairs
from metrics.variance_partitioning import bootstrap_variance_partitioning, variance_partitioning
from metrics.weighted_stats import dense_codes, weighted_pearson, weighted_ranks


def _simulate(n_videos=24, n_people=12, per_person=60, seed=0, noise=0.3):
    """Triplets [kept_a, kept_b, odd] chosen by a noisy latent similarity (a small stand-in for humans)."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n_videos, 4))
    sim = 1.0 - model_rdm(latent)
    stims = np.array([rng.choice(n_videos, 3, replace=False) for _ in range(n_people * per_person)])
    a, b, c = stims.T
    left = np.stack([sim[b, c], sim[a, c], sim[a, b]], 1) + rng.normal(0, noise, (len(stims), 3))
    odd_pos = left.argmax(1)
    odd = stims[np.arange(len(stims)), odd_pos]
    kept = np.array([[x for x in s if x != o] for s, o in zip(stims, odd)])
    return latent, np.column_stack([kept, odd]), np.repeat(np.arange(n_people), per_person)


@pytest.mark.parametrize("method", ["spearman", "pearson", "kendall_tau_a"])
def test_rdm_against_itself_is_one(method):
    rdm = model_rdm(np.random.default_rng(1).normal(size=(15, 6)))
    assert compare_rdms(rdm, rdm, method=method) == pytest.approx(1.0)


def test_kendall_tau_a_matches_naive_loop_with_ties():
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 4, 60).astype(float), rng.integers(0, 5, 60).astype(float)
    naive = sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in itertools.combinations(range(60), 2))
    assert compare_vectors(a, b, method="kendall_tau_a") == pytest.approx(naive / (60 * 59 / 2))


def test_odd_one_out_matches_naive_loop_and_constant_matrix_is_chance():
    _, triplets, _ = _simulate()
    sim = np.random.default_rng(3).random((24, 24))
    sim = (sim + sim.T) / 2
    naive_three = np.mean([sim[a, b] > max(sim[a, o], sim[b, o]) for a, b, o in triplets])
    naive_paper = np.mean([0.5 * (int(sim[a, b] > sim[a, o]) + int(sim[a, b] > sim[b, o])) for a, b, o in triplets])
    assert odd_one_out_accuracy(sim, triplets) == pytest.approx(naive_three)
    assert odd_one_out_accuracy(sim, triplets, rule="paper") == pytest.approx(naive_paper)
    flat = np.ones((24, 24))
    assert odd_one_out_accuracy(flat, triplets) == pytest.approx(1 / 3)
    assert odd_one_out_accuracy(flat, triplets, rule="paper") == pytest.approx(0.5)


def test_weighted_ranks_equal_rankdata_of_repeated_data():
    rng = np.random.default_rng(4)
    x, w = rng.integers(0, 6, 40).astype(float), rng.integers(0, 3, (5, 40))
    ranks = weighted_ranks(*dense_codes(x), w)
    for k in range(5):
        np.testing.assert_allclose(np.repeat(ranks[k], w[k]), stats.rankdata(np.repeat(x, w[k])))
    y = rng.random(40)
    expected = [np.corrcoef(np.repeat(x, w[k]), np.repeat(y, w[k]))[0, 1] for k in range(5)]
    np.testing.assert_allclose(weighted_pearson(x, y, w), expected)


def test_video_bootstrap_of_accuracy_equals_explicit_resample():
    latent, triplets, people = _simulate(n_videos=10, per_person=20)
    credit = per_triplet_correct(1 - model_rdm(latent), triplets)
    fast = accuracy_samples(credit, triplets, over="videos", n_boot=3, seed=5)
    draws = np.random.default_rng(5).integers(0, 10, size=(3, 10))   # what `multiplicities` draws
    for k in range(3):
        # Every ordered choice of three distinct resampled copies whose originals form a judged triplet.
        total, count = 0.0, 0
        for c in itertools.permutations(range(10), 3):
            match = (triplets == draws[k][list(c)]).all(axis=1)
            total, count = total + credit[match].sum(), count + match.sum()
        assert fast[k] == pytest.approx(total / count)


def test_rsa_bootstraps_equal_explicit_resamples():
    latent, triplets, people = _simulate(n_videos=12, per_person=30)
    rdm = model_rdm(latent + np.random.default_rng(6).normal(size=latent.shape))
    pairs = participant_pairs(triplets, people, 12)
    by_video = rsa_samples(rdm, pairs, over="videos", n_boot=3, seed=7)
    by_people = rsa_samples(rdm, pairs, over="participants", n_boot=3, seed=7)
    pearson = rsa_samples(rdm, pairs, over="videos", method="pearson", n_boot=3, seed=7)
    for k in range(3):
        d = np.random.default_rng(7).integers(0, 12, size=(3, 12))[k]
        sim, _ = human_similarity(triplets, 12)
        i, j = np.triu_indices(12, 1)
        keep = (d[i] != d[j]) & np.isfinite(sim[d[i], d[j]])
        expected = stats.spearmanr(rdm[d[i], d[j]][keep], 1 - sim[d[i], d[j]][keep])[0]
        assert by_video[k] == pytest.approx(expected)
        expected_r = np.corrcoef(rdm[d[i], d[j]][keep], 1 - sim[d[i], d[j]][keep])[0, 1]
        assert pearson[k] == pytest.approx(expected_r)
        who = np.random.default_rng(7).integers(0, 12, size=(3, 12))[k]
        resampled = np.concatenate([triplets[people == p] for p in who])
        sim_p, shown = human_similarity(resampled, 12)
        assert by_people[k] == pytest.approx(compare_rdms(rdm, 1 - sim_p, mask=shown > 0))


def test_random_embeddings_score_chance_within_their_interval():
    _, triplets, people = _simulate(n_videos=30, n_people=20, per_person=80, seed=8)
    rdm = model_rdm(np.random.default_rng(9).normal(size=(30, 8)))
    for rule, chance in (("three_way", 1 / 3), ("paper", 0.5)):
        credit = per_triplet_correct(1 - rdm, triplets, rule=rule)
        est = bootstrap_accuracy(credit, triplets, people, over="videos", n_boot=400)
        assert est.ci_low < chance < est.ci_high
    rsa = bootstrap_rsa(rdm, participant_pairs(triplets, people, 30), n_boot=400)
    assert rsa.ci_low < 0 < rsa.ci_high


def test_true_model_beats_random_in_paired_bootstrap_and_permutation_test():
    latent, triplets, people = _simulate(n_videos=20, seed=10)
    good, bad = model_rdm(latent), model_rdm(np.random.default_rng(11).normal(size=latent.shape))
    a, b = (per_triplet_correct(1 - r, triplets) for r in (good, bad))
    diff = paired_bootstrap_accuracy(a, b, triplets, people, n_boot=300)
    assert diff.ci_low > 0 and diff.p_value < 0.01
    pairs = participant_pairs(triplets, people, 20)
    test = rsa_permutation_test(good, pairs, n_perm=200)
    assert test.observed == pytest.approx(compare_vectors(good[pairs.i, pairs.j], 1 - pairs.similarity()))
    assert test.p_value == pytest.approx(1 / 201)
    assert abs(test.null.mean()) < 0.1


def test_variance_partitioning_matches_least_squares_and_brackets_its_bootstrap():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(12)
    y, a = rng.random(300), rng.random(300)
    b = 0.5 * a + rng.random(300)
    y = y + a + 0.5 * b
    vp = variance_partitioning(y, a, b)
    both = np.column_stack([a, b])
    assert vp.r2_both == pytest.approx(LinearRegression().fit(both, y).score(both, y))
    assert vp.r2_video == pytest.approx(np.corrcoef(y, a)[0, 1] ** 2)
    assert vp.unique_video + vp.unique_language + vp.shared == pytest.approx(vp.r2_both)
    latent, triplets, people = _simulate(n_videos=20, seed=13)
    pairs = participant_pairs(triplets, people, 20)
    out = bootstrap_variance_partitioning(model_rdm(latent), model_rdm(rng.normal(size=(20, 3))), pairs, n_boot=200)
    assert out["r2_video"].ci_low < out["r2_video"].value < out["r2_video"].ci_high
    assert out["r2_video"].value > out["r2_language"].value


def test_probes_recover_informative_attributes_only():
    rng = np.random.default_rng(14)
    emb = rng.normal(size=(80, 10))
    ratings = pd.DataFrame({"valence": emb[:, 0] + 0.1 * rng.normal(size=80), "arousal": rng.normal(size=80)})
    table = linear_probes(emb, ratings, np.arange(60), np.arange(60, 80), n_boot=200).set_index("attribute")
    assert table.loc["valence", "r2"] > 0.8
    assert table.loc["arousal", "r2"] < 0.2
    assert table.loc["valence", "ci_low"] <= table.loc["valence", "r2"] <= table.loc["valence", "ci_high"]


def test_repeated_triads_and_participant_consistency_match_naive_counts():
    t = np.array([[0, 1, 2], [1, 0, 2], [0, 2, 1], [3, 4, 5], [4, 5, 3], [1, 3, 0]])
    rep = repeated_triad_agreement(t)
    # triad {0,1,2}: choices 2, 2, 1 -> agreeing ordered pairs 2 of 6; triad {3,4,5}: 5, 3 -> 0 of 2.
    assert (rep.n_triads, rep.n_responses) == (2, 5)
    assert rep.agreement == pytest.approx(2 / 8)
    # Leave-one-out majority: the two 2-choosers each see a 1-1 tie (credit 1/2); the others lose.
    assert rep.loo_majority == pytest.approx((0.5 + 0.5 + 0 + 0 + 0) / 5)
    latent, triplets, people = _simulate(n_videos=15, n_people=5, per_person=40, seed=15)
    fast = participant_consistency(triplets, people, n_videos=15)
    for p in range(5):
        sim, _ = human_similarity(triplets[people != p], 15)
        sim = np.where(np.isnan(sim), np.nanmean(sim), sim)
        assert fast[p] == pytest.approx(odd_one_out_accuracy(sim, triplets[people == p]))


def test_multiplicities_count_draws_and_bad_methods_are_named():
    m = multiplicities(7, 5, seed=0)
    assert m.shape == (5, 7) and (m.sum(axis=1) == 7).all()
    with pytest.raises(ValueError, match="over='nope'"):
        accuracy_samples(np.ones(3), np.array([[0, 1, 2]] * 3), over="nope")


@pytest.mark.parametrize("drop_pairs", [False, True])
def test_permutation_null_equals_relabelled_spearman(drop_pairs):
    # drop_pairs=False takes the every-pair-judged shortcut; True the general per-row ranking.
    latent, triplets, people = _simulate(n_videos=10, n_people=6, per_person=60, seed=16)
    if drop_pairs:
        keep = ~((triplets == 0).any(axis=1) & (triplets == 1).any(axis=1))   # pair (0, 1) never judged
        triplets, people = triplets[keep], people[keep]
    pairs = participant_pairs(triplets, people, 10)
    assert (len(pairs.i) == 45) != drop_pairs
    rdm = model_rdm(latent)
    test = rsa_permutation_test(rdm, pairs, n_perm=5, seed=17)
    perms = np.argsort(np.random.default_rng(17).random((5, 10)), axis=1)
    for k, p in enumerate(perms):
        naive = stats.spearmanr(rdm[p[pairs.i], p[pairs.j]], 1 - pairs.similarity())[0]
        assert test.null[k] == pytest.approx(naive)


def test_positions_maps_each_id_to_its_row_and_others_to_minus_one():
    from metrics.triplet_pairs import positions

    ids = np.array([4, 0, 2])
    naive = np.array([list(ids).index(i) if i in ids else -1 for i in range(6)])
    assert positions(ids, 6).tolist() == naive.tolist() == [1, -1, 2, -1, 0, -1]


def test_model_choices_keep_each_triads_most_similar_pair_and_score_perfectly():
    from metrics.odd_one_out import model_choices, odd_one_out_accuracy

    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 4))
    similarity = x @ x.T
    triplets = np.array([rng.choice(12, 3, replace=False) for _ in range(200)])
    chosen = model_choices(similarity, triplets)
    assert (np.sort(chosen, axis=1) == np.sort(triplets, axis=1)).all()  # the same triads, reordered
    assert odd_one_out_accuracy(similarity, chosen) == 1.0
    # a naive loop agrees
    for (a, b, c), got in zip(triplets, chosen):
        pairs = {(a, b, c): similarity[a, b], (a, c, b): similarity[a, c], (b, c, a): similarity[b, c]}
        assert tuple(got) == max(pairs, key=pairs.get)
