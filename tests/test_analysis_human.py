"""Human-only analysis: synthetic ground truth recovered, real judgments scored, bad folders refused."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from metrics.noise_ceiling import ooo_noise_ceiling, split_half_reliability
from metrics.odd_one_out import odd_one_out_accuracy


@pytest.fixture(scope="module")
def sentence_model():
    """The bundled MiniLM, loaded once (analysis.language memoises it for the commands below)."""
    from analysis.language import load_sentence_model

    return load_sentence_model()


@pytest.fixture(scope="module")
def synthetic(synthetic_dir):
    from data.judgments import load_judgments

    truth = json.loads((synthetic_dir / "ground_truth" / "noise_ceiling.json").read_text())
    return load_judgments(synthetic_dir), np.load(synthetic_dir / "ground_truth" / "true_similarity.npy"), truth


def test_true_similarity_reaches_the_simulated_ceiling(synthetic):
    j, true_sim, truth = synthetic
    n = len(j.triplets)
    for rule in ("three_way", "paper"):
        expected = truth[f"ooo_accuracy_{rule}"]
        # The simulated figure is an expectation over the same trials: allow 3 binomial standard errors.
        tolerance = 3 * np.sqrt(expected * (1 - expected) / n)
        assert odd_one_out_accuracy(true_sim, j.triplets, rule=rule) == pytest.approx(expected, abs=tolerance)
        low, high = ooo_noise_ceiling(j.triplets, j.participant, n_videos=j.n_videos, rule=rule, n_splits=20)
        assert low < expected < high


def test_split_half_recovers_the_simulated_reliability(synthetic):
    j, _, truth = synthetic
    split = split_half_reliability(j.triplets, j.participant, n_videos=j.n_videos, n_splits=100)
    # Stated tolerance: 3 Monte Carlo standard deviations of the simulated studies, at least 0.05.
    tolerance = max(3 * truth["split_half_reliability_sd"], 0.05)
    assert split.r_full == pytest.approx(truth["split_half_reliability"], abs=tolerance)


def test_real_judgments_ceilings_and_participants(real_data_dir):
    from analysis.human import participant_quality
    from analysis.suite import EvalSet, SuiteSettings, human_ceiling_rows
    from data.judgments import load_judgments

    j = load_judgments(real_data_dir)
    quality = participant_quality(j)
    assert len(quality) == 215 and quality.n_triplets.sum() == len(j.triplets) == 47126
    assert 0.45 < quality.loo_consistency.median() < 0.7          # well above chance 1/3
    rows = {r["metric"]: r for r in human_ceiling_rows(
        EvalSet.build(j.triplets, j.participant, j.n_videos, j.test_videos), SuiteSettings(n_splits=20))}
    assert 0 < rows["split_half_r"]["value"] < rows["explained_variance"]["value"] < 1
    three = rows["ooo_acc_three_way"]
    assert 1 / 3 < three["ci_low"] < three["ci_high"] <= 1


def test_human_command_on_synthetic_writes_tables(synthetic_dir, tmp_path, sentence_model, capsys):
    from analysis.human import main

    assert main([str(synthetic_dir), "--out", str(tmp_path), "--n-boot", "100", "--n-splits", "10",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    import pandas as pd

    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    assert list(metrics.columns[:6]) == ["model", "metric", "value", "ci_low", "ci_high", "n"]
    lang = metrics[(metrics.model == "language") & (metrics.ci_over == "videos")].set_index("metric")
    # Synthetic captions are generated from the same latents as the judgments: well above chance.
    assert lang.loc["ooo_acc_three_way", "value"] > 1 / 3
    assert "| ooo_acc_three_way |" in (tmp_path / "report.md").read_text()
    for name in ("metrics", "similarity_matrices", "probes"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert "ooo_acc_three_way" in capsys.readouterr().out
    assert sentence_model.get_embedding_dimension() == 384


@pytest.mark.parametrize("missing", ["captions.csv", "annotations.csv"])
def test_folder_without_captions_or_annotations_exits_2_with_one_line(synthetic_dir, tmp_path, missing, capsys):
    from analysis.human import main

    broken = tmp_path / "data"
    shutil.copytree(synthetic_dir, broken, ignore=shutil.ignore_patterns("videos", missing))
    with pytest.raises(SystemExit) as exit_info:
        main([str(broken), "--n-boot", "10", "--n-splits", "2"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and missing in err and "\n" not in err
