"""Named spaces and how the command line and config files change them (no Ray, no training)."""
from __future__ import annotations

import pytest

import search_spaces
from search_spaces import Choice, Float, Grid, Int, SearchSpace
from common.errors import ConfigError
import study.sweep as sweep
from trainables.config import VARIANTS, TrainConfig


def test_registry_lists_the_spaces_and_rejects_unknown_names():
    assert search_spaces.names() == ["smoke", "paper", "default", "backbones"]
    assert search_spaces.get("paper").name == "paper"
    with pytest.raises(ValueError, match="unknown search space 'nope'.*smoke, paper, default, backbones"):
        search_spaces.get("nope")


@pytest.mark.parametrize("name", ["smoke", "paper", "default", "backbones"])
def test_every_declared_key_is_a_known_setting(name):
    space = search_spaces.get(name)
    known = sweep.known_keys()
    declared = set(space.fixed) | set(space.params)
    assert declared <= set(known), declared - set(known)


def test_paper_space_is_the_papers_configuration_times_the_four_variants():
    space = search_spaces.get("paper")
    assert space.is_grid and not space.asha
    # the paper's four variants; the linear probe (ours) and the language-distillation control (v2) are not v1's
    assert space.params == {"variant": Grid(("hybrid", "triplet-only", "rsa-only", "budget-matched"))}
    assert set(space.params["variant"].values) <= set(VARIANTS)
    fixed = space.fixed
    assert (fixed["augment"], fixed["eval_views"]) == ("none", "none")  # the authors used neither
    assert (fixed["lora_r"], fixed["lora_alpha"], fixed["lora_dropout"]) == (8, 16.0, 0.1)
    assert (fixed["margin"], fixed["alpha"], fixed["beta_start"], fixed["beta_end"]) == (0.2, 0.7, 0.3, 0.7)
    assert (fixed["lr"], fixed["batch_size"]) == (1e-4, 4)


def test_default_space_evaluates_the_papers_point_first_and_that_point_is_inside_its_ranges():
    space = search_spaces.get("default")
    point = space.points_to_evaluate[0]
    resolved = sweep.resolve_trial_config({**space.fixed, **point})
    paper = search_spaces.PAPER_CONFIG
    for key in ("lora_r", "lora_alpha", "lora_dropout", "margin", "alpha", "beta_start", "beta_end", "lr",
                "batch_size"):
        assert resolved[key] == paper[key], key
    for key, value in point.items():
        param = space.params[key]
        if isinstance(param, (Float, Int)):
            assert param.low <= value <= param.high, key
        else:
            assert value in param.values, key
    assert isinstance(space.params["lora_r"], Int) and space.params["lora_r"].log
    assert isinstance(space.params["sampling"], Choice)


def test_lora_alpha_ratio_resolves_to_lora_alpha_and_sweep_only_keys_never_reach_the_trainer():
    flat = sweep.resolve_trial_config({"lora_r": 16, "lora_alpha_ratio": 0.5, "_crash_at_epoch": 1,
                                       "_prepare": {"data_dir": None}, "lr": 1e-3})
    assert flat == {"lora_r": 16, "lora_alpha": 8.0, "lr": 1e-3}
    TrainConfig.from_dict(flat)  # the trainer accepts every key that remains


@pytest.mark.parametrize("text, expected", [
    ("1e-4", 1e-4), ("8", 8), ("true", True), ("tiny", "tiny"), ("[2, 4]", [2, 4]),
    ("{low: 1, high: 8, log: true}", {"low": 1, "high": 8, "log": True}), ("{low: 1e-5, high: 1e-3}",
                                                                          {"low": 1e-5, "high": 1e-3}),
])
def test_command_line_values_parse_as_numbers_lists_and_ranges(text, expected):
    assert sweep.parse_value(text) == expected


def test_overrides_fix_widen_and_replace_parameters():
    settings = sweep.SweepSettings(space="smoke", overrides={
        "lr": 3e-3, "lora_r": {"low": 2, "high": 16, "log": True}, "alpha": {"choice": [0.5, 0.9]},
        "margin": {"low": 0.1, "high": 0.4}, "sampling": ["uniform", "consensus"]})
    space = sweep.build_space(settings)
    assert space.fixed["lr"] == 3e-3 and "lr" not in space.params
    assert space.params["lora_r"] == Int(2, 16, log=True)
    assert space.params["alpha"] == Choice((0.5, 0.9))
    assert space.params["margin"] == Float(0.1, 0.4)
    assert space.params["sampling"] == Choice(("uniform", "consensus"))
    # The point to evaluate keeps only what is still searched (lr is fixed now).
    assert "lr" not in space.points_to_evaluate[0] and "alpha" in space.points_to_evaluate[0]


def test_smoke_sizes_lay_over_the_paper_grid_and_a_list_extends_the_grid():
    space = sweep.build_space(sweep.SweepSettings(space="paper", smoke=True, overrides={"seed": [0, 1]}))
    assert space.fixed["backbone"] == "tiny" and space.fixed["image_size"] == 32
    assert space.params["seed"] == Grid((0, 1)) and len(space.params["variant"].values) == 4


@pytest.mark.parametrize("overrides, message", [
    ({"lora_rank": 4}, "unknown parameter 'lora_rank'"),
    ({"lr": -1.0}, "lr must be > 0, got -1.0"),
    ({"sampling": {"choice": ["uniform", "sideways"]}}, "sampling must be one of"),
    ({"lr": {"low": 1e-2, "high": 1e-4}}, "parameter 'lr': Float range needs low < high"),
    ({"lr": {"from": 1}}, "parameter 'lr': cannot read"),
    ({"image_size": [32, 64]}, "parameter 'image_size' must be fixed"),
    ({"epochs": {"low": 1, "high": 3}}, "'epochs' must be fixed when ASHA is on"),
    ({"backbone": "/nonexistent/timesformer"}, "backbone '/nonexistent/timesformer': no folder with config.json"),
])
def test_bad_overrides_raise_config_errors_naming_the_setting(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        sweep.build_space(sweep.SweepSettings(space="smoke", overrides=overrides))


def test_unknown_space_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown search space 'fancy'"):
        sweep.build_space(sweep.SweepSettings(space="fancy"))


def test_yaml_and_toml_config_files_set_params_and_sweep_settings(tmp_path):
    (tmp_path / "s.yaml").write_text("sweep:\n  num_samples: 3\n  space: smoke\nparams:\n  lr: 1e-3\n"
                                     "  lora_r: {low: 2, high: 8}\n")
    (tmp_path / "s.toml").write_text("[sweep]\nnum_samples = 5\n[params]\nlr = 2e-3\nalpha = [0.5, 0.7]\n")
    args = sweep.build_parser().parse_args(["--config", str(tmp_path / "s.yaml"), "--set", "lr=5e-4"])
    settings = sweep.settings_from_args(args)
    assert settings.num_samples == 3 and settings.overrides == {"lr": 5e-4, "lora_r": {"low": 2, "high": 8}}
    args = sweep.build_parser().parse_args(["--config", str(tmp_path / "s.toml"), "--num-samples", "7"])
    settings = sweep.settings_from_args(args)
    assert settings.num_samples == 7 and settings.overrides == {"lr": 2e-3, "alpha": [0.5, 0.7]}


@pytest.mark.parametrize("text, message", [
    ("params:\n  lr: [1e-3\n", "cannot parse"),
    ("knobs:\n  lr: 1\n", "top level must hold only 'params' and 'sweep'"),
    ("sweep:\n  num_sample: 3\n", r"unknown sweep setting\(s\) \['num_sample'\]"),
])
def test_bad_config_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"--config {path}: {message}"):
        sweep.load_config_file(str(path))


def test_a_space_cannot_fix_and_search_the_same_key_or_mix_grids_with_ranges():
    with pytest.raises(ValueError, match=r"\['lr'\] are both fixed and searched"):
        SearchSpace("x", "x", fixed={"lr": 1e-3}, params={"lr": Float(1e-4, 1e-2)})
    with pytest.raises(ValueError, match="grid space cannot also hold sampled ranges"):
        SearchSpace("x", "x", params={"variant": Grid(("hybrid",)), "lr": Float(1e-4, 1e-2)})
