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
    """A one-trial experiment folder in the trainer's checkpoint format (adapters moved off zero)."""
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
    config = TrainConfig.from_dict({"prepared_dir": str(prepared), "lora_r": 4})
    torch.manual_seed(0)
    model = build_model(config.model, read_meta(prepared).decode)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)
    checkpoint = save_checkpoint(root / "exp" / "trial_0" / "checkpoint_000000", model, config)
    pd.DataFrame([{"trial_id": "t0", "status": "TERMINATED", "checkpoint_path": str(checkpoint),
                   "best_val_ooo_acc": 0.5, "val_ooo_acc": 0.5, "config/lr": 1e-3}]
                 ).to_parquet(root / "exp" / "results.parquet", index=False)
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
    the out-of-distribution world."""
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
    main_rows, repeated = (metrics[(metrics.transfer_set == s) & metrics.metric.isin(scored)
                                & metrics.ci_over.str.startswith("videos")].set_index(["model", "metric", "ci_over"])
                        for s in ("", "again"))
    assert len(main_rows) >= 6
    pd.testing.assert_series_equal(repeated.value.sort_index(), main_rows.value.sort_index(), atol=1e-6, rtol=0)
    ood = metrics[(metrics.transfer_set == "ood") & (metrics.metric == "ooo_acc_three_way")]
    assert {"base", "hybrid t0", "language"} <= set(ood.model)
    for world in ("", "ood"):
        share = metrics[(metrics.transfer_set == world) & (metrics.metric == "attention_on_agents")]
        assert set(share.model) == {"base", "hybrid t0", "uniform"}
        assert ((share.ci_low <= share.value) & (share.value <= share.ci_high) & (share.value > 0)).all()
        diff = metrics[(metrics.transfer_set == world) & (metrics.metric == "diff_vs_base_attention_on_agents")]
        value = share.set_index("model").value
        assert np.isclose(diff.value.iloc[0], value["hybrid t0"] - value["base"])
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
