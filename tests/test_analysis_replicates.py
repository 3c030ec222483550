"""The analysis of a sweep with a replication stage (results.parquet rows with stage/replicate_of/
replicate_index, contract C1): models picked from search rows, each replicate's checkpoint scored, the
seed-pooled row with its two-level interval and the per-seed rows in metrics.parquet (C3), replicated columns
first in the table and the report."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.replicates import replicates_of


def _search(trial_id, value, **extra):
    return {"trial_id": trial_id, "status": "TERMINATED", "checkpoint_path": f"/{trial_id}",
            "best_val_ooo_acc": value, "stage": "search", "replicate_of": None, "replicate_index": np.nan, **extra}


def _replicate(of, index, value=0.99, **extra):
    return {**_search(f"{of}r{index}", value), "stage": "replicate", "replicate_of": of, "replicate_index": index,
            **extra}


def test_replicates_are_found_by_the_trial_they_repeat_and_never_ranked(tmp_path):
    from analysis.experiment import finished_trials

    frame = pd.DataFrame([_search("a", 0.5), _search("b", 0.6), _replicate("a", 1), _replicate("a", 0),
                          _replicate("b", 0, status="ERROR"), _replicate("a", 2, checkpoint_path=None)])
    frame.to_parquet(tmp_path / "results.parquet")
    assert finished_trials(tmp_path, top_k=5).trial_id.tolist() == ["b", "a"]      # replicates score 0.99
    assert replicates_of(frame, "a").trial_id.tolist() == ["ar0", "ar1"]            # finished, in index order
    assert replicates_of(frame, "b").empty
    assert replicates_of(frame.drop(columns=["stage", "replicate_of"]), "a").empty   # a table from before C1


def test_the_table_leads_with_replicated_models_and_hides_single_seeds():
    from analysis.report import main_table

    rows = [("noise_ceiling", np.nan, 1, "lower..upper"), ("base", np.nan, 1, "videos"),
            ("hybrid t1 (single run)", np.nan, 1, "videos"), ("hybrid t1 (2 seeds)", 3.0, 1, "videos"),
            ("hybrid t1 (2 seeds)", 4.0, 1, "videos"), ("hybrid t1 (2 seeds)", np.nan, 2, "seeds x videos")]
    frame = pd.DataFrame([{"model": m, "metric": "ooo_acc_three_way", "value": 0.5 + k / 100, "ci_low": 0.4,
                           "ci_high": 0.7, "n": 9, "ci_over": over, "seed": seed, "seeds": seeds}
                          for k, (m, seed, seeds, over) in enumerate(rows)])
    header, _, line = main_table(frame).splitlines()
    assert header.split(" | ")[1:3] == ["hybrid t1 (2 seeds)", "noise_ceiling"]
    assert "0.550 [0.400, 0.700]" in line and "0.530" not in line and "0.540" not in line   # the pooled row only


@pytest.fixture(scope="module")
def replicated_experiment(synthetic_dir, tmp_path_factory):
    """A search of two trials (hybrid t0, linear-probe p0) with 3 and 2 replicates, and a worse hybrid whose
    replicate must not be scored; every checkpoint a real tiny one."""
    import torch

    from data.clips import DecodeSettings
    from data.prepared import prepare_dataset, read_meta
    from trainables.checkpoint import save_checkpoint
    from trainables.config import TrainConfig
    from trainables.model import build_variant_model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("replicated")
    prepared = prepare_dataset(synthetic_dir, val_fraction=0.25, decode=DecodeSettings(num_frames=8, image_size=32),
                               out_root=root / "prepared")

    def checkpoint(name, variant, seed):
        config = TrainConfig.from_dict({"prepared_dir": str(prepared), "seed": seed, "lora_r": 4, "variant": variant})
        torch.manual_seed(seed)
        model = build_variant_model(config, read_meta(prepared).decode)
        return str(save_checkpoint(root / "exp" / name / "checkpoint_000000", model, config))

    rows = [_search("t0", 0.6, checkpoint_path=checkpoint("t0", "hybrid", 0), **{"config/variant": "hybrid"}),
            _search("p0", 0.5, checkpoint_path=checkpoint("p0", "linear-probe", 1),
                    **{"config/variant": "linear-probe"}),
            _search("t9", 0.3, checkpoint_path=checkpoint("t9", "hybrid", 9), **{"config/variant": "hybrid"})]
    rows += [_replicate("t0", k, checkpoint_path=checkpoint(f"t0r{k}", "hybrid", 10 + k)) for k in range(3)]
    rows += [_replicate("p0", k, checkpoint_path=checkpoint(f"p0r{k}", "linear-probe", 20 + k)) for k in range(2)]
    rows += [_replicate("t9", 0, checkpoint_path=checkpoint("t9r0", "hybrid", 30))]
    pd.DataFrame(rows).to_parquet(root / "exp" / "results.parquet", index=False)
    return root / "exp"


@pytest.mark.slow  # embeds 8 tiny checkpoints and loads the sentence model
def test_replicated_models_are_reported_as_seed_means_with_per_seed_rows(replicated_experiment, tmp_path):
    from analysis.__main__ import main

    out = tmp_path / "out"
    assert main([str(replicated_experiment), "--out", str(out), "--n-boot", "60", "--n-splits", "4",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    m = pd.read_parquet(out / "metrics.parquet")
    hybrid, probe = "hybrid t0 (3 seeds)", "linear-probe p0 (2 seeds)"
    assert {hybrid, probe, "hybrid t0 (single run)", "linear-probe p0 (single run)", "base"} <= set(m.model)
    assert not m.model.str.contains("t9").any()                      # not chosen: neither it nor its replicate
    acc = m[(m.metric == "ooo_acc_three_way") & (m.ci_over.isin(["videos", "seeds x videos"]))]
    own = acc[acc.model == hybrid]
    seeds, pooled = own[own.seed.notna()], own[own.seed.isna()].iloc[0]
    assert sorted(seeds.seed) == [10, 11, 12] and (seeds.seeds == 1).all() and pooled.seeds == 3
    assert pooled.ci_over == "seeds x videos" and pooled.value == pytest.approx(seeds.value.mean())
    assert pooled.ci_low <= pooled.value <= pooled.ci_high
    base = acc[acc.model == "base"].value.iloc[0]
    diff = m[(m.model == hybrid) & (m.metric == "diff_vs_base_ooo_acc_three_way")]
    assert diff[diff.seed.isna()].value.iloc[0] == pytest.approx(pooled.value - base)
    assert diff[diff.seed.isna()].ci_over.iloc[0].startswith("seeds x videos (p=")
    assert sorted(diff.seed.dropna()) == [10, 11, 12]               # each seed's own difference is kept
    probe_mean = acc[(acc.model == probe) & acc.seed.isna()].value.iloc[0]
    versus = m[(m.model == hybrid) & (m.metric == "diff_vs_linear_probe_ooo_acc_three_way")]
    assert len(versus) == 1 and versus.value.iloc[0] == pytest.approx(pooled.value - probe_mean)
    attributes = m[(m.model == hybrid) & m.seed.isna() & m.metric.str.startswith("diff_vs_base_probe_r2_")]
    assert set(attributes.metric.str.removeprefix("diff_vs_base_probe_r2_")) == {
        "intimacy", "valence", "dominance", "communication"}
    report = (out / "report.md").read_text()
    table = report[report.index("| metric"):]
    assert table.splitlines()[0].startswith(f"| metric | {hybrid} | {probe} |")
    assert "Columns `(K seeds)` lead" in report and "K = 2, 3" in report


def test_every_comparison_of_replicated_models_is_made_on_the_same_resamples(synthetic_dir):
    """score_embedded on embeddings made here (no checkpoint): two families, two variants in the first, a
    replicated probe; each pooled difference is the difference of the pooled means, labelled by variant within
    a family and by family across them, and the same seeds give the same figures."""
    from analysis.experiment import Embedded
    from analysis.scoring import score_embedded
    from analysis.suite import SuiteSettings
    from data.judgments import load_judgments

    j = load_judgments(synthetic_dir)
    rng = np.random.default_rng(0)
    x = {name: rng.normal(size=(j.n_videos, 6)) for name in ("f1", "f2", "language")}

    def seeds(base, n, first):  # replicates: the family's features, nudged differently by each seed
        return [(first + k, x[base] + 0.5 * rng.normal(size=x[base].shape)) for k in range(n)]

    runs = {"hybrid a (f1) (3 seeds)": seeds("f1", 3, 0), "triplet-only b (f1) (2 seeds)": seeds("f1", 2, 10),
            "linear-probe p (f1) (2 seeds)": seeds("f1", 2, 20), "hybrid c (f2) (2 seeds)": seeds("f2", 2, 30)}
    base_of = {m: "base (f1)" if "(f1)" in m else "base (f2)" for m in runs}
    emb = Embedded(np.arange(j.n_videos), {"base (f1)": x["f1"], "base (f2)": x["f2"], "language": x["language"]},
                   synthetic_dir, j.test_videos, base_of, runs, {m: m.split()[0] for m in runs},
                   probes=("linear-probe p (f1) (2 seeds)",))
    s = SuiteSettings(n_boot=40, n_perm=20, n_splits=4)
    m, _ = score_embedded(emb, settings=s)
    pooled = m[m.seed.isna()]
    value = pooled[pooled.ci_over.isin(["videos", "seeds x videos"])].set_index(["model", "metric"]).value

    def diff(name, label):
        return pooled[(pooled.model == name) & (pooled.metric == f"diff_vs_{label}_rsa_spearman")]

    hybrid = "hybrid a (f1) (3 seeds)"
    for label, other in (("base", "base (f1)"), ("linear_probe", "linear-probe p (f1) (2 seeds)"),
                         ("triplet-only", "triplet-only b (f1) (2 seeds)"), ("f2", "hybrid c (f2) (2 seeds)")):
        (d,) = diff(hybrid, label).itertuples()
        assert d.value == pytest.approx(value[(hybrid, "rsa_spearman")] - value[(other, "rsa_spearman")])
        assert d.ci_low <= d.value <= d.ci_high and d.ci_over.startswith("seeds x videos (p=")
    assert diff("linear-probe p (f1) (2 seeds)", "linear_probe").empty            # the probe is not its own floor
    assert diff("triplet-only b (f1) (2 seeds)", "f2").empty                      # other variant, other family
    again, _ = score_embedded(emb, settings=s)
    pd.testing.assert_frame_equal(m, again)


def test_a_second_run_of_the_same_sweep_gets_the_same_intervals(synthetic_dir):
    """Tune draws trial ids at random, so a rerun names its models differently; the seed draws are keyed by the
    model's identity (its name without the trial id), so the same embeddings give the same intervals. Keyed by
    the names, they would not (that is what two clean default runs showed: 0.495 [0.443, 0.547] against
    [0.445, 0.546])."""
    from analysis.experiment import Embedded
    from analysis.scoring import score_embedded
    from analysis.suite import SuiteSettings
    from data.judgments import load_judgments

    j = load_judgments(synthetic_dir)
    rng = np.random.default_rng(1)
    x = {name: rng.normal(size=(j.n_videos, 6)) for name in ("f1", "language")}
    seeds = [(k, x["f1"] + 0.5 * rng.normal(size=x["f1"].shape)) for k in range(3)]
    probe = [(k, x["f1"] + 0.8 * rng.normal(size=x["f1"].shape)) for k in range(3)]
    s = SuiteSettings(n_boot=40, n_perm=20, n_splits=4)

    def scored(hybrid_id, probe_id, keyed):
        hybrid, lin = f"hybrid {hybrid_id} (3 seeds)", f"linear-probe {probe_id} (3 seeds)"
        identities = {hybrid: "hybrid (3 seeds)", lin: "linear-probe (3 seeds)"} if keyed else {}
        emb = Embedded(np.arange(j.n_videos), {"base": x["f1"], "language": x["language"]}, synthetic_dir,
                       j.test_videos, {hybrid: "base", lin: "base"}, {hybrid: seeds, lin: probe},
                       {hybrid: "hybrid", lin: "linear-probe"}, probes=(lin,), identities=identities)
        m, _ = score_embedded(emb, settings=s)
        m = m[m.model.str.startswith("hybrid") & m.seed.isna()]
        return m.set_index("metric")[["value", "ci_low", "ci_high"]]

    first, rerun = scored("a9391543", "efcf783d", True), scored("dfbf95d3", "f375423c", True)
    pd.testing.assert_frame_equal(first, rerun)
    unkeyed = scored("dfbf95d3", "f375423c", False)
    assert (unkeyed.value == first.value).all()                                  # the same point estimates
    assert not np.allclose(unkeyed[["ci_low", "ci_high"]], first[["ci_low", "ci_high"]])  # other seed draws
