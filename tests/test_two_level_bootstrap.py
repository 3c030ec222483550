"""The two-level bootstrap over seeds and test videos: the vectorised resamples against a naive loop, and the
interval's coverage on simulated experiments with a known difference (analysis.coverage)."""
from __future__ import annotations

import numpy as np
import pytest

from metrics.bootstrap import multiplicities
from metrics.two_level_bootstrap import seed_scale, two_level_difference, two_level_estimate, two_level_samples


def test_two_level_samples_equal_a_naive_loop_over_drawn_seeds():
    rng = np.random.default_rng(0)
    per_seed = rng.normal(size=(4, 30)) + rng.normal(size=(4, 1))
    draws = multiplicities(4, 30, seed=7)
    scale = seed_scale(per_seed)
    naive = []
    for b in range(30):
        drawn = np.repeat(np.arange(4), draws[b])               # the seeds this resample drew
        both = per_seed[drawn, b].mean()
        naive.append(per_seed[:, b].mean() + scale * (both - per_seed[:, b].mean()))
    np.testing.assert_allclose(two_level_samples(per_seed, seed=7), naive)


def test_one_seed_is_the_video_interval_and_identical_seeds_add_nothing():
    rng = np.random.default_rng(1)
    videos = rng.normal(size=200)
    np.testing.assert_array_equal(two_level_samples(videos[None, :]), videos)
    same = np.tile(videos, (3, 1))
    assert seed_scale(same) == 0.0
    np.testing.assert_allclose(two_level_samples(same, seed=3), videos)
    with pytest.raises(ValueError, match="per_seed must be"):
        two_level_samples(videos)


def test_the_scale_is_unbiased_for_seed_spread_and_removes_the_noise_the_videos_hold():
    rng = np.random.default_rng(2)
    k = 5
    # seeds differ by a constant only: all of their spread is seed spread, so the scale is sqrt(K/(K-1))
    shared = rng.normal(size=400)
    assert seed_scale(shared + rng.normal(size=(k, 1))) == pytest.approx(np.sqrt(k / (k - 1)))
    # seeds differ only by their own video noise: the video resamples hold all of it
    assert seed_scale(shared + rng.normal(size=(k, 400))) < 0.4


def test_estimate_and_difference_centre_on_the_seed_means():
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.6, 0.01, size=(3, 100)), rng.normal(0.5, 0.01, size=(1, 100))
    est = two_level_estimate(a.mean(axis=1), a, seed=0)
    assert est.n == 3 and est.ci_low <= est.value <= est.ci_high
    diff = two_level_difference(a.mean(axis=1), a, b.mean(axis=1), b)
    assert diff.difference == pytest.approx(a.mean() - b.mean()) and diff.ci_low > 0 and diff.p_value < 0.05


def test_the_interval_covers_a_known_difference_95_percent_of_the_time():
    """400 simulated experiments, K = 5 seeds per model, seed spread about the video spread of a difference: the
    95% two-level interval holds the true difference in 90-98% of them (a binomial band around 95%: SD 1.1
    points), while the video-only interval, blind to seeds, misses far more often."""
    from analysis.coverage import World, simulate_coverage

    c = simulate_coverage(World(), n_seeds=5, n_sim=400, n_boot=400, seed=0)
    assert 0.90 <= c.difference <= 0.98, c
    assert 0.90 <= c.mean <= 0.98, c
    assert c.difference_videos_only < 0.85, c


def test_the_interval_is_not_inflated_when_seeds_differ_only_by_their_video_noise():
    """No seed effect: each seed's spread is noise the video resamples already hold; counting it twice would
    cover ~100%."""
    from analysis.coverage import World, simulate_coverage

    c = simulate_coverage(World(seed_sd=0.0), n_seeds=3, n_sim=400, n_boot=400, seed=1)
    assert 0.90 <= c.difference <= 0.98, c
