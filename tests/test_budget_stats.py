"""The budget benchmark's figures, by hand: the judgments to reach 90% of the full-data gain and the paired
two-level bootstrap of a gain."""
from __future__ import annotations

import numpy as np

from benchmarks.budget_stats import boot_gain, curve_headline, judgments_to_reach, resamples


def test_judgments_to_reach_interpolates_in_log_count():
    n = np.array([100.0, 1000.0, 10000.0])
    # gains 0, 0.5, 1: the target 0.9 lies 80% of the way from 1000 to 10000 in log count.
    assert np.isclose(judgments_to_reach(n, np.array([0.0, 0.5, 1.0])), 10 ** (3 + 0.8))
    assert judgments_to_reach(n, np.array([0.95, 0.96, 1.0])) == 100.0  # the first point already reaches it
    assert np.isnan(judgments_to_reach(n, np.array([0.1, 0.0, -0.1])))  # no full-data gain: undefined


def test_boot_gain_is_the_mean_gain_when_nothing_varies_and_spreads_with_the_seeds():
    base = np.zeros(50)
    same = np.ones((3, 50)) * 0.4
    draws = resamples(3, 50, np.random.default_rng(0), n_boot=200)
    assert np.allclose(boot_gain(same, base, draws), 0.4)
    varied = np.stack([np.full(50, 0.2), np.full(50, 0.4), np.full(50, 0.6)])
    gains = boot_gain(varied, base, draws)
    assert np.isclose(gains.mean(), 0.4, atol=0.03) and gains.std() > 0.05


def test_curve_headline_on_a_constructed_curve():
    rng = np.random.default_rng(1)
    base = (rng.random(400) < 1 / 3).astype(float)
    n = np.array([100.0, 300.0, 1000.0])
    credits = [np.stack([(rng.random(400) < p).astype(float) for _ in range(2)]) for p in (0.40, 0.60, 0.62)]
    h = curve_headline(n, credits, base, rng)
    assert h["gain"][0] < h["gain"][1] < h["gain"][2] + 0.05
    low, high = h["n90_interval"]
    assert 100 <= low <= h["n90"] <= high <= 1000
