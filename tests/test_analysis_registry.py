"""One declaration per metric row (analysis.scorers), one ranking rule (analysis.ranking) and one set of
command-line settings (analysis.cli), each asked by every consumer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def eval_set():
    from analysis.suite import EvalSet

    rng = np.random.default_rng(0)
    n_videos, n = 20, 600
    triplets = np.array([rng.choice(n_videos, 3, replace=False) for _ in range(n)])
    return EvalSet.build(triplets, rng.integers(0, 12, n), n_videos, np.arange(n_videos))


def test_every_consumer_reads_the_registry():
    from analysis import plots, report, scorers

    assert report.ORDER == tuple(s.name for s in scorers.SCORERS if s.headline)
    assert [m for m, *_ in plots.BAR_METRICS] == [s.name for s in scorers.SCORERS if s.plot]
    assert len({s.name for s in scorers.SCORERS}) == len(scorers.SCORERS)
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        scorers.scorer("nope")
    with pytest.raises(ValueError, match="paired=True needs over_videos"):
        scorers.Scorer("x", paired=True)


def test_model_and_paired_rows_follow_the_registry(eval_set):
    from analysis.scorers import SCORERS
    from analysis.suite import SuiteSettings, model_rows, paired_rows

    s = SuiteSettings(n_boot=40, n_perm=40, n_splits=4)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(20, 6)), rng.normal(size=(20, 6))
    samples: dict = {}
    rows = pd.DataFrame(model_rows("a", a, eval_set, s, reliability=0.5, samples=samples)
                        + model_rows("b", b, eval_set, s, samples=samples))
    assert list(dict.fromkeys(rows[rows.model == "a"].metric)) == [x.name for x in SCORERS if x.rows]
    assert "explained_variance_of_ceiling" not in set(rows[rows.model == "b"].metric)  # no reliability given
    diffs = pd.DataFrame(paired_rows("a", "b", a, b, eval_set, s, samples, label="base"))
    assert list(diffs.metric) == [f"diff_vs_base_{x.name}" for x in SCORERS if x.paired]
    value = rows[rows.ci_over.isin(["videos", ""])].drop_duplicates(["model", "metric"]).set_index(["model", "metric"])
    for d in diffs.itertuples():
        metric = d.metric.removeprefix("diff_vs_base_")
        assert d.value == pytest.approx(value.value[("a", metric)] - value.value[("b", metric)])
        assert d.ci_low <= d.value <= d.ci_high
    # the same differences without the kept samples: everything rescored on the same resamples
    assert pd.DataFrame(paired_rows("a", "b", a, b, eval_set, s, label="base")).equals(diffs)


def test_a_new_metric_is_one_entry(eval_set, monkeypatch):
    from analysis import suite
    from analysis.scorers import SCORERS, Scorer

    def norm(m):
        return float(np.linalg.norm(m.embeddings)), np.full(m.s.n_boot, np.linalg.norm(m.embeddings)), len(m.embeddings)

    extra = Scorer("embedding_norm", lambda m: [(norm(m)[0], np.nan, np.nan, norm(m)[2], "")], norm, paired=True)
    monkeypatch.setattr(suite, "SCORERS", SCORERS + (extra,))
    s = suite.SuiteSettings(n_boot=20, n_perm=20, n_splits=4)
    a = np.random.default_rng(2).normal(size=(20, 3))
    rows = {r["metric"]: r for r in suite.model_rows("a", a, eval_set, s)}
    assert rows["embedding_norm"]["value"] == pytest.approx(np.linalg.norm(a))
    diff = {r["metric"]: r for r in suite.paired_rows("b", "a", 3 * a, a, eval_set, s, label="base")}
    assert diff["diff_vs_base_embedding_norm"]["value"] == pytest.approx(2 * np.linalg.norm(a))


def test_the_experiment_the_report_and_the_plots_rank_by_one_rule(tmp_path, monkeypatch):
    """A `paper`-space sweep selects on val_rsa: the trials scored, the report's words and the history plot all
    follow best_val_rsa (the plots once showed best_val_ooo_acc), and replicate rows are never ranked."""
    from analysis import plots
    from analysis.experiment import finished_trials
    from analysis.report import experiment_report

    frame = pd.DataFrame({"trial_id": ["a", "b", "c", "r0"], "status": "TERMINATED",
                          "checkpoint_path": ["/a", "/b", None, "/r"], "selection_metric": "val_rsa",
                          "best_val_rsa": [0.1, 0.3, 0.2, 0.9], "best_val_ooo_acc": [0.9, 0.5, 0.8, 0.95],
                          "started_at": [0.0, 1.0, 2.0, 3.0], "config/lr": [1e-3, 1e-4, 1e-5, 1e-4],
                          "stage": ["search", "search", "search", "replicate"],
                          "replicate_of": [None, None, None, "b"]})
    frame.to_parquet(tmp_path / "results.parquet")
    trials = finished_trials(tmp_path, top_k=2)
    assert trials.trial_id.tolist() == ["b", "a"]
    assert "by best_val_rsa" in experiment_report(pd.DataFrame(columns=["model", "metric", "value", "ci_low",
                                                                         "ci_high", "n", "ci_over"]), trials, [])
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig) or path)
    plots.sweep_history(frame, tmp_path / "history.png")
    (history, _) = drawn[0].axes
    assert history.get_ylabel() == "best val rsa"
    assert history.lines[0].get_ydata().tolist() == [0.1, 0.3, 0.2]           # search rows only, start order


def test_no_analysis_module_ranks_on_its_own():
    """The rule's columns are named in analysis/ranking.py only: a second rule would have to name them."""
    named = [p.name for p in (REPO / "analysis").glob("*.py") if p.name != "ranking.py"
             and any(word in p.read_text() for word in ("best_val_ooo_acc", '"selection_metric"', 'f"best_'))]
    assert named == []


def test_both_commands_take_the_settings_with_the_same_help():
    from analysis.__main__ import build_parser as experiment_parser
    from analysis.cli import CaptionSettings
    from analysis.human import build_parser as human_parser
    from analysis.suite import SuiteSettings
    import dataclasses

    def options(parser):
        return {a.dest: (a.option_strings, a.help, a.default, a.choices) for a in parser._actions}

    ours, theirs = options(experiment_parser()), options(human_parser())
    fields = [f.name for cls in (SuiteSettings, CaptionSettings) for f in dataclasses.fields(cls)]
    assert all(ours[f] == theirs[f] for f in fields)
    assert SuiteSettings.__dataclass_fields__["n_boot"].metadata["help"] in ours["n_boot"][1]
    args = human_parser().parse_args(["data", "--n-boot", "7", "--ev-method", "spearman"])
    from analysis.cli import settings_from_args

    settings, captions = settings_from_args(args)
    assert (settings.n_boot, settings.n_perm, settings.ev_method, captions.combine) == (7, 7, "spearman", "mean")


def test_a_refused_setting_exits_2_naming_it(tmp_path, capsys):
    from analysis.human import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--ci", "1.5"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--ci" in err and "1.5" in err
