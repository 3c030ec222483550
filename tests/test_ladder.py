"""The ladder that chooses the pretrained backbone (study.ladder): its read-out rung and its criteria."""
from __future__ import annotations

import numpy as np
import pytest

from study.ladder import ladder, readout_similarity
from study.synthetic import SyntheticConfig, true_similarity


def test_a_read_out_of_features_that_hold_the_latents_recovers_the_true_similarity():
    rng = np.random.default_rng(0)
    latents = rng.random((120, 7))
    weights = SyntheticConfig().social_weights
    mixing = rng.normal(size=(7, 16))
    features = latents @ mixing + 0.001 * rng.normal(size=(120, 16))  # the latents, linearly entangled
    got = readout_similarity(features[:80], latents[:80], features[80:], weights)
    np.testing.assert_allclose(got, true_similarity(latents[80:], weights), atol=0.02)
    # features that hold nothing of the latents predict their mean: every pair looks alike
    noise = readout_similarity(rng.normal(size=(80, 16)), latents[:80], rng.normal(size=(40, 16)), weights)
    upper = np.triu_indices(40, 1)
    assert np.corrcoef(noise[upper], true_similarity(latents[80:], weights)[upper])[0, 1] < 0.5


@pytest.mark.slow  # decodes the tiny benchmark's clips and loads the sentence model
def test_the_ladder_on_the_tiny_benchmark_orders_truth_above_chance_and_reports_the_criteria(synthetic_dir):
    from study.pretrain import ensure_pretrained

    result = ladder(synthetic_dir, str(ensure_pretrained()), SyntheticConfig.tiny())
    for rung in ("base", "readout_bound", "language", "truth"):
        value, low, high = result[rung]
        assert 0 <= low <= value <= high <= 1, rung
    assert result["truth"][0] > result["base"][0] and result["truth"][0] > 1 / 3
    assert set(result["criteria"]) == {"bound_gap_at_least_0.06_and_excludes_0", "base_above_chance",
                                       "base_below_language"}
    gap = result["bound_minus_base"]
    assert gap[0] == pytest.approx(result["readout_bound"][0] - result["base"][0]) and gap[1] <= gap[0] <= gap[2]
