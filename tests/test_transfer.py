"""`python -m analysis RUN --transfer DATA_DIR --attention N`: zero-shot transfer rows equal scoring that folder
directly, the out-of-distribution world scores, the attention grid and attention_on_agents are written, and a folder
a checkpoint cannot take is refused in one line before any model loads."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def experiment(synthetic_dir, tmp_path_factory):
    """A one-trial experiment folder in the trainer's checkpoint format (adapters moved off zero), the trial
    replicated on two more seeds (their adapters moved off zero by other draws)."""
    import torch

    from data.clips import DecodeSettings
    from data.prepared import prepare_dataset, read_meta
    from trainables.checkpoint import save_checkpoint
    from trainables.config import TrainConfig
    from trainables.model import build_model

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("transfer")
    prepared = prepare_dataset(synthetic_dir, val_fraction=0.25, decode=DecodeSettings(num_frames=4, image_size=32),
                               out_root=root / "prepared")
    rows = []
    for seed, trial, stage in ((0, "t0", "search"), (1, "r0", "replicate"), (2, "r1", "replicate")):
        config = TrainConfig.from_dict({"prepared_dir": str(prepared), "lora_r": 4, "seed": seed})
        torch.manual_seed(seed)
        model = build_model(config.model, read_meta(prepared).decode)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.3)
        checkpoint = save_checkpoint(root / "exp" / f"trial_{trial}" / "checkpoint_000000", model, config)
        rows.append({"trial_id": trial, "status": "TERMINATED", "checkpoint_path": str(checkpoint), "stage": stage,
                     "replicate_of": None if seed == 0 else "t0", "replicate_index": seed - 1,
                     "best_val_ooo_acc": 0.5, "val_ooo_acc": 0.5, "config/lr": 1e-3, "config/seed": seed})
    pd.DataFrame(rows).to_parquet(root / "exp" / "results.parquet", index=False)
    (root / "exp" / "best.json").write_text(json.dumps({"trial_id": "t0"}))
    return root / "exp"


@pytest.fixture(scope="module")
def ood_dir(tmp_path_factory):
    from study.synthetic import SyntheticConfig, generate_benchmark

    return generate_benchmark(tmp_path_factory.mktemp("ood") / "ood", SyntheticConfig.tiny(seed=1, domain="shapes"))


@pytest.mark.slow  # embeds two folders' clips with a tiny TimeSformer, rolls out attention, loads the sentence model
def test_transfer_rows_equal_the_folder_scored_directly_and_attention_is_scored(experiment, synthetic_dir, ood_dir,
                                                                                 tmp_path, capsys):
    """The training folder again, as a transfer set (its copy without agent masks: maps drawn, score absent), and
    the out-of-distribution world; the replicated trial's seed mean, per-seed rows and two-level intervals
    included."""
    from analysis.__main__ import main

    again = shutil.copytree(synthetic_dir, tmp_path / "again")
    (again / "ground_truth" / "agent_masks.npz").unlink()
    out = tmp_path / "report"
    assert main([str(experiment), "--out", str(out), "--n-boot", "50", "--n-splits", "5", "--cache-dir",
                 str(tmp_path / "cache"), "--transfer", str(again), "--transfer", str(ood_dir),
                 "--attention", "2"]) == 0
    metrics = pd.read_parquet(out / "metrics.parquet")
    assert set(metrics.transfer_set) == {"", "again", "ood"}
    scored = ["ooo_acc_three_way", "rsa_spearman", "diff_vs_base_ooo_acc_three_way", "diff_vs_base_rsa_spearman"]
    single, pooled = "hybrid t0 (single run)", "hybrid t0 (2 seeds)"
    main_rows, repeated = (metrics[(metrics.transfer_set == s) & metrics.metric.isin(scored)].assign(
        seed=lambda f: f.seed.fillna(-1)).set_index(["model", "metric", "seed", "ci_over"])[["value", "ci_low",
                                                                                             "ci_high"]]
        for s in ("", "again"))
    assert {"base", single, pooled} <= set(main_rows.index.get_level_values("model"))
    assert {1, 2} <= set(main_rows.loc[pooled].index.get_level_values("seed"))  # the per-seed rows
    assert main_rows.index.get_level_values("ci_over").str.startswith("seeds x videos").sum() >= 4
    pd.testing.assert_frame_equal(repeated.sort_index(), main_rows.sort_index(), atol=1e-6, rtol=0)
    ood = metrics[(metrics.transfer_set == "ood") & (metrics.metric == "ooo_acc_three_way")]
    assert {"base", single, pooled, "language"} <= set(ood.model)
    mean = ood[(ood.model == pooled) & ood.seed.isna()]
    assert len(mean) == 1 and mean.seeds.iloc[0] == 2 and mean.ci_over.iloc[0].startswith("seeds x videos")
    assert np.isclose(mean.value.iloc[0], ood[(ood.model == pooled) & ood.seed.notna()].value.mean())
    for world in ("", "ood"):
        share = metrics[(metrics.transfer_set == world) & (metrics.metric == "attention_on_agents")]
        assert set(share.model) == {"base", single, "uniform"}
        assert ((share.ci_low <= share.value) & (share.value <= share.ci_high) & (share.value > 0)).all()
        diff = metrics[(metrics.transfer_set == world) & (metrics.metric == "diff_vs_base_attention_on_agents")]
        value = share.set_index("model").value
        assert np.isclose(diff.value.iloc[0], value[single] - value["base"])
    assert not ((metrics.transfer_set == "again") & metrics.metric.str.contains("attention")).any()
    report = (out / "report.md").read_text()
    assert "No attention_on_agents:" in report and (out / "attention_again.png").is_file()
    assert "## Zero-shot transfer: ood" in report and "![attention](attention.png)" in report
    assert (out / "attention.png").stat().st_size > 10_000 and (out / "attention_ood.png").is_file()
    assert "zero-shot transfer: ood" in capsys.readouterr().out


def test_a_transfer_folder_without_videos_is_refused_before_any_model_loads(experiment, real_data_dir, tmp_path,
                                                                             capsys):
    from analysis.__main__ import main

    with pytest.raises(SystemExit) as exit_:
        main([str(experiment), "--out", str(tmp_path / "report"), "--transfer", str(real_data_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "cannot be scored zero-shot" in err[0]
    assert not (tmp_path / "report").exists()
