"""`backbone` as a sweep axis: the backbones space, its --smoke run of the four families end to end, the family in
results.parquet and in the analysis (best trial of each family side by side), and the frame-count error before
Ray starts."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import ray

import search_spaces
import study.sweep as sweep
from search_spaces import Grid
from study.sweep.overrides import expand_families
from study.sweep.settings import SweepSettings
from trainables.backbones import families

SHORT = ["--set", "steps_per_epoch=2", "--set", "epochs=1", "--no-dashboard", "--replicates", "0"]


@pytest.fixture(autouse=True)
def no_ray_left():
    yield
    ray.shutdown()


def test_the_backbones_space_compares_every_registered_family_and_smoke_lays_their_tiny_presets(monkeypatch):
    space = search_spaces.get("backbones")
    assert space.params["backbone"] == Grid((search_spaces.EVERY_FAMILY,))  # no list of its own to keep
    assert expand_families(space).params["backbone"] == Grid((  # the v2 paper's four, in the registry's order
        "facebook/timesformer-base-finetuned-k400", "MCG-NJU/videomae-base", "facebook/vjepa2-vitl-fpc64-256",
        "openai/clip-vit-base-patch32"))
    # A family added to trainables.backbones' registry joins the comparison, hub id and tiny preset, with no
    # other line anywhere.
    added = {**families(), "new": SimpleNamespace(hub_ids=("org/new-video-model",), tiny_preset="new-tiny")}
    monkeypatch.setattr("trainables.backbones.families", lambda: added)
    assert expand_families(space).params["backbone"].values[-1] == "org/new-video-model"
    assert expand_families(dataclasses.replace(space, params={"backbone": Grid(
        (search_spaces.EVERY_FAMILY_TINY,))})).params["backbone"].values[-1] == "new-tiny"
    monkeypatch.undo()
    smoke = sweep.build_space(SweepSettings(space="backbones", smoke=True))
    assert smoke.params["backbone"] == Grid(("tiny", "videomae-tiny", "vjepa2-tiny", "clip-tiny"))
    assert sweep.space_backbones(smoke) == ("tiny", "videomae-tiny", "vjepa2-tiny", "clip-tiny")
    assert smoke.fixed["num_frames"] == 4 and "backbone" not in smoke.fixed


def test_a_frame_count_the_backbone_cannot_take_is_one_error_line_before_ray(synthetic_dir, cache, tmp_path,
                                                                              capsys):
    from data.clips import DecodeSettings
    from trainables.config import ModelConfig
    from trainables.model import load_backbone

    folder = tmp_path / "videomae"
    load_backbone(ModelConfig(backbone="videomae-tiny"), DecodeSettings(num_frames=4, image_size=32)).save_pretrained(
        folder)
    capsys.readouterr()  # save_pretrained's progress bar
    with pytest.raises(SystemExit) as stop:
        sweep.main(["--space", "smoke", "--data", str(synthetic_dir), "--storage-path", str(tmp_path / "runs"),
                    "--set", f"backbone={folder}", "--set", "num_frames=3", *SHORT, "--no-analysis"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1
    assert err[0].startswith("error: ") and "num_frames 3 does not fit backbone" in err[0]
    assert not ray.is_initialized() and not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def backbones_sweep(synthetic_dir, cache, tmp_path_factory):
    """`--space backbones --smoke`: the four families' tiny presets, one epoch of one step each, on a local Ray."""
    root = tmp_path_factory.mktemp("backbones")
    assert sweep.main(["--space", "backbones", "--smoke", "--data", str(synthetic_dir), "--storage-path", str(root),
                       "--name", "bb", "--set", "steps_per_epoch=1", "--set", "epochs=1", "--no-dashboard",
                       "--no-analysis", "--replicates", "0"]) == 0
    ray.shutdown()
    return root / "bb"


@pytest.mark.slow  # four one-epoch trials on a local Ray
def test_backbones_smoke_runs_the_four_families_and_each_checkpoint_reloads(backbones_sweep):
    from trainables.checkpoint import read_preprocessing
    from trainables.embed import embed_clips, load_trained

    frame = pd.read_parquet(backbones_sweep / "results.parquet")
    assert sorted(frame["backbone_family"]) == sorted(families())
    assert (frame["status"] == "TERMINATED").all() and frame["checkpoint_path"].notna().all()
    clips = np.random.default_rng(0).integers(0, 256, (3, 4, 3, 32, 32), dtype=np.uint8)
    for row in frame.itertuples():
        assert read_preprocessing(row.checkpoint_path)["family"] == row.backbone_family
        first, second = (embed_clips(load_trained(row.checkpoint_path)[0], clips) for _ in range(2))
        np.testing.assert_array_equal(first, second)


def test_the_sweeps_own_analysis_goes_per_family_where_the_backbone_was_searched(backbones_sweep):
    from study.sweep.results import several_families

    frame = pd.read_parquet(backbones_sweep / "results.parquet")
    assert several_families(frame)
    assert not several_families(frame.assign(backbone_family="timesformer"))     # one family: the plain table
    assert not several_families(frame.drop(columns="backbone_family"))            # a table from before families


@pytest.mark.slow  # embeds every video with eight models and loads the sentence model
def test_the_analysis_scores_the_best_trial_of_each_family_against_its_own_base(backbones_sweep):
    from analysis.experiment import run_analysis
    from analysis.suite import SuiteSettings

    frame = pd.read_parquet(backbones_sweep / "results.parquet")
    metrics = run_analysis(backbones_sweep, per_family=True, plots=False,
                           settings=SuiteSettings(n_boot=20, n_perm=20, n_splits=4))
    trials = {f"hybrid {t.trial_id} ({t.backbone_family})" for t in frame.itertuples()}  # variant id (family)
    assert trials | {f"base ({f})" for f in families()} <= set(metrics.model)
    paired = metrics[metrics.metric == "diff_vs_base_explained_variance"]
    assert set(paired.model) == trials
    report = (backbones_sweep / "analysis" / "report.md").read_text()
    assert all(f"{t.trial_id} (" in report and t.backbone_family in report for t in frame.itertuples())
