"""`python -m analysis EXPERIMENT_DIR` on a small experiment folder built here with the trainer's own
checkpoint format (a stand-in for a finished sweep: results.parquet, best.json, checkpoints)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def experiment(synthetic_dir, tmp_path_factory):
    import torch

    from data.clips import DecodeSettings
    from data.prepared import prepare_dataset, read_meta
    from trainables.checkpoint import save_checkpoint
    from trainables.config import TrainConfig
    from trainables.model import build_model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("experiment")
    prepared = prepare_dataset(synthetic_dir, val_fraction=0.25, decode=DecodeSettings(num_frames=8, image_size=32),
                               out_root=root / "prepared")
    rows = []
    for k, lr in enumerate((1e-3, 3e-4, 1e-4)):
        config = TrainConfig.from_dict({"prepared_dir": str(prepared), "seed": k, "lora_r": 4})
        torch.manual_seed(k)
        model = build_model(config.model, read_meta(prepared).decode)  # the folder's clips, as a trial builds it
        checkpoint = save_checkpoint(root / "exp" / f"trial_{k}" / "checkpoint_000000", model, config)
        rows.append({"trial_id": f"t{k}", "status": "TERMINATED" if k < 2 else "ERROR",
                     "checkpoint_path": str(checkpoint), "best_val_ooo_acc": 0.4 + 0.1 * k, "val_ooo_acc": 0.4,
                     "best_val_rsa": 0.1, "started_at": float(k), "config/lr": lr, "config/lora_r": 4})
    # More finished trials without checkpoints give the importance plot something to fit.
    rng = np.random.default_rng(0)
    rows += [{"trial_id": f"x{k}", "status": "TERMINATED", "checkpoint_path": None,
              "best_val_ooo_acc": float(rng.random()), "val_ooo_acc": 0.3, "best_val_rsa": 0.0,
              "started_at": 3.0 + k, "config/lr": float(10 ** rng.uniform(-5, -2)), "config/lora_r": int(rng.choice([4, 8]))}
             for k in range(6)]
    exp = root / "exp"
    pd.DataFrame(rows).to_parquet(exp / "results.parquet", index=False)
    (exp / "best.json").write_text(json.dumps({"trial_id": "t1", "metric": "val_ooo_acc", "value": 0.5,
                                               "checkpoint": rows[1]["checkpoint_path"], "config": {}}))
    return exp


@pytest.mark.slow  # embeds clips with a tiny TimeSformer and loads the sentence model
def test_analysis_command_scores_base_trials_and_language(experiment, tmp_path, capsys):
    from analysis.__main__ import main

    out = tmp_path / "report"
    assert main([str(experiment), "--top-k", "2", "--out", str(out), "--n-boot", "50", "--n-splits", "5",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    metrics = pd.read_parquet(out / "metrics.parquet")
    # models are named by the variant their config registers (contract C2), the table has no variant column
    assert {"base", "hybrid t1", "hybrid t0", "language", "noise_ceiling"} <= set(metrics.model)
    assert "hybrid t2" not in set(metrics.model)                      # errored trial is never scored
    acc = metrics[(metrics.metric == "ooo_acc_three_way") & (metrics.ci_over == "videos")]
    assert ((acc.ci_low <= acc.value) & (acc.value <= acc.ci_high)).all()
    assert metrics.metric.str.startswith("diff_vs_base_").any() and metrics.metric.str.startswith("vp_").any()
    # the paired explained-variance difference is the difference of the two models' explained variances
    ev = metrics[metrics.metric == "explained_variance"].set_index("model")["value"]
    diff = metrics[(metrics.model == "hybrid t1") & (metrics.metric == "diff_vs_base_explained_variance")]
    assert len(diff) == 1 and np.isclose(diff.value.iloc[0], ev["hybrid t1"] - ev["base"])
    assert diff.ci_low.iloc[0] <= diff.value.iloc[0] <= diff.ci_high.iloc[0]
    for name in ("metrics", "similarity_matrices", "variance_partitioning", "probes", "sweep_history"):
        assert (out / f"{name}.png").stat().st_size > 10_000
    report = (out / "report.md").read_text()
    assert "t1 (0.500)" in report and "![probes](probes.png)" in report
    assert "report:" in capsys.readouterr().out


def test_no_finished_trial_exits_2_with_one_line(experiment, tmp_path, capsys):
    from analysis.__main__ import main

    broken = tmp_path / "exp"
    broken.mkdir()
    frame = pd.read_parquet(experiment / "results.parquet").assign(status="ERROR")
    frame.to_parquet(broken / "results.parquet", index=False)
    with pytest.raises(SystemExit) as exit_info:
        main([str(broken)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no finished trial" in err and "\n" not in err


def _one_broken_trial(experiment, tmp_path, damage) -> tuple:
    """(experiment folder, checkpoint): a copy of one finished trial's checkpoint, damaged by damage(checkpoint),
    as the only trial of a new results table."""
    import shutil

    broken = tmp_path / "exp"
    checkpoint = broken / "checkpoint"
    shutil.copytree(pd.read_parquet(experiment / "results.parquet").checkpoint_path[1], checkpoint)
    damage(checkpoint)
    pd.DataFrame([{"trial_id": "bad", "status": "TERMINATED", "checkpoint_path": str(checkpoint),
                   "best_val_ooo_acc": 0.5}]).to_parquet(broken / "results.parquet", index=False)
    return broken, checkpoint


def _refused_analysis(broken, capsys) -> str:
    """python -m analysis on the folder must exit 2 with one error line; returns it."""
    from analysis.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(broken), "--n-boot", "10", "--n-splits", "2"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    return err


def test_checkpoint_that_does_not_match_its_config_exits_2(experiment, tmp_path, capsys):
    def double_embed_dim(checkpoint):
        config = json.loads((checkpoint / "config.json").read_text())
        (checkpoint / "config.json").write_text(json.dumps({**config, "embed_dim": config["embed_dim"] * 2}))

    broken, checkpoint = _one_broken_trial(experiment, tmp_path, double_embed_dim)
    assert str(checkpoint) in _refused_analysis(broken, capsys)


@pytest.mark.slow  # embeds clips with a tiny TimeSformer and loads the sentence model
def test_the_best_trial_of_each_variant_is_scored_and_fine_tuning_is_paired_against_the_linear_probe(
        experiment, tmp_path):
    import torch

    from analysis.__main__ import main
    from trainables.checkpoint import read_config, read_decode, save_checkpoint
    from trainables.config import TrainConfig
    from trainables.model import build_variant_model

    frame = pd.read_parquet(experiment / "results.parquet")
    hybrid = frame.iloc[1]
    config = read_config(hybrid.checkpoint_path).to_dict()
    probe_config = TrainConfig.from_dict({**config, "variant": "linear-probe"})
    torch.manual_seed(0)
    probe_model = build_variant_model(probe_config, read_decode(hybrid.checkpoint_path))
    probe = save_checkpoint(tmp_path / "probe" / "checkpoint_000000", probe_model, probe_config)
    exp = tmp_path / "exp"
    exp.mkdir()
    rows = [{**hybrid.to_dict(), "config/variant": "hybrid"},
            {**hybrid.to_dict(), "trial_id": "p0", "checkpoint_path": str(probe), "best_val_ooo_acc": 0.45,
             "config/variant": "linear-probe"},
            {**hybrid.to_dict(), "trial_id": "h9", "best_val_ooo_acc": 0.3, "config/variant": "hybrid"}]
    pd.DataFrame(rows).to_parquet(exp / "results.parquet", index=False)
    assert main([str(exp), "--out", str(tmp_path / "out"), "--n-boot", "50", "--n-splits", "5",
                 "--cache-dir", str(tmp_path / "cache")]) == 0
    metrics = pd.read_parquet(tmp_path / "out" / "metrics.parquet")
    # top-1 overall plus the best of the other variant; the worse hybrid is not scored
    assert {"base", "hybrid t1", "linear-probe p0", "language"} <= set(metrics.model)
    assert "hybrid h9" not in set(metrics.model)
    paired = metrics[metrics.metric.str.startswith("diff_vs_linear_probe_")]
    # the four paired metrics and the four social-affective probes
    assert set(paired.model) == {"hybrid t1"} and len(paired) == 8
    # an untrained probe is the base's geometry: its paired difference from the base is 0
    acc = metrics[(metrics.metric == "ooo_acc_three_way") & (metrics.ci_over == "videos")].set_index("model")["value"]
    assert acc["linear-probe p0"] == pytest.approx(acc["base"], abs=1e-9)
    diff = paired[paired.metric == "diff_vs_linear_probe_ooo_acc_three_way"].value.iloc[0]
    assert diff == pytest.approx(acc["hybrid t1"] - acc["linear-probe p0"])


@pytest.mark.parametrize("damaged", ["head.safetensors", "adapter/adapter_model.safetensors"])
def test_a_garbage_safetensors_file_exits_2_naming_it_and_writes_no_report(experiment, tmp_path, capsys, damaged):
    broken, checkpoint = _one_broken_trial(
        experiment, tmp_path, lambda c: (c / damaged).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!" * 3))
    assert f"{checkpoint / damaged}: not a readable checkpoint file" in _refused_analysis(broken, capsys)
    assert not (broken / "analysis" / "report.md").exists() and not (broken / "analysis" / "metrics.parquet").exists()
