"""Values that passed the checks and failed late, or never: a --set value that its flag would refuse (NaN,
inf, a seed out of range), a 300-character --name, a preset's name shadowed by a folder in the working
directory, a backbone whose weights file was cut short, a name left holding only the lock of a stopped sweep,
and a sweep in which no trial reached a finite objective (exit 1, not 0)."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import study.sweep as sweep
from study.preflight import check_backbone
from study.sweep.lock import LOCK_FILE
from sweep_helpers import refused


@pytest.mark.parametrize("item, says", [
    ("lr=Infinity", "parameter 'lr': inf is not a finite number"),
    ("lr=.inf", "parameter 'lr': inf is not a finite number"),
    ("lr=NaN", "parameter 'lr': nan is not a finite number"),
    ("alpha=NaN", "parameter 'alpha': nan is not a finite number"),
    ("margin=NaN", "parameter 'margin': nan is not a finite number"),
    ("lr={low: 1e-4, high: .inf}", "parameter 'lr': inf is not a finite number"),
    ("alpha=[0.5, NaN]", "parameter 'alpha': nan is not a finite number"),
    ("seed=-1", "parameter 'seed': -1 must be a whole number in 0..4294967295 (as --seed)"),
    (f"seed={2**40}", f"parameter 'seed': {2**40} must be a whole number in 0..4294967295"),
    ("seed=1.5", "parameter 'seed': 1.5 must be a whole number"),
])
def test_a_set_value_passes_the_checks_of_its_flag(item, says, tmp_path, capsys):
    store = tmp_path / "store"
    assert says in refused(capsys, ["--storage-path", str(store), "--set", item, "--no-dashboard"])
    assert not store.exists()


def test_a_300_character_name_is_one_line(tmp_path, capsys):
    line = refused(capsys, ["--storage-path", str(tmp_path), "--name", "n" * 300, "--no-dashboard"])
    assert "(300 bytes): must be at most 255 bytes" in line and len(line) < 200


def test_a_preset_name_means_the_preset_whatever_folder_shares_it(tmp_path, monkeypatch):
    (tmp_path / "tiny").mkdir()  # a data folder called tiny, as `python -m study.synthetic --out tiny` makes
    monkeypatch.chdir(tmp_path)
    check_backbone("tiny")  # not "no folder with config.json there"


def test_a_truncated_weights_file_is_caught_by_the_preflight(tmp_path):
    from safetensors.numpy import save_file
    import numpy as np

    folder = tmp_path / "backbone"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "timesformer"}))
    save_file({"w": np.zeros(4096, np.float32)}, str(folder / "model.safetensors"))
    whole = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(sweep.ConfigError, match=r"model\.safetensors is not a whole safetensors file"):
        check_backbone(str(folder))


def test_a_name_left_holding_only_the_lock_runs_again(tmp_path, synthetic_dir, capsys):
    folder = tmp_path / "runs" / "again"
    folder.mkdir(parents=True)
    (folder / LOCK_FILE).write_text("12345\n")  # a sweep stopped during its data preparation
    (folder / "ray.log").write_text("")
    lock = sweep.claim_experiment(folder, create=True)  # taken over, not "already exists"
    lock.release()
    (folder / "trial_x").mkdir()  # a folder Tune wrote into stays refused
    with pytest.raises(sweep.ConfigError, match="already exists"):
        sweep.claim_experiment(folder, create=True)


def _outcome(tmp_path, status: str, value: float):
    frame = pd.DataFrame({"trial_id": ["a"], "status": [status], "stopped_early": [False],
                          "best_val_ooo_acc": [value]})
    best = {"metric": "val_ooo_acc", "trial_id": None} if math.isnan(value) else \
        {"metric": "val_ooo_acc", "trial_id": "a", "value": value, "checkpoint": None}
    return sweep.SweepOutcome(str(tmp_path), str(tmp_path / "r"), str(tmp_path / "b"), frame, best)


@pytest.mark.parametrize("status, value", [("ERROR", math.nan), ("TERMINATED", math.inf)])
def test_a_sweep_without_a_finite_objective_does_not_exit_0(tmp_path, synthetic_dir, capsys, monkeypatch,
                                                          status, value):
    monkeypatch.setattr("study.sweep.tune.run_sweep", lambda settings, plan: _outcome(tmp_path, status, value))
    monkeypatch.setattr("study.sweep.command.plan_sweep", lambda settings: None)
    assert sweep.main(["--data", str(synthetic_dir), "--storage-path", str(tmp_path), "--no-analysis"]) == 1
    err = capsys.readouterr().err
    assert "error: no trial reached a finite val_ooo_acc" in err


def test_ctrl_c_in_any_command_is_one_line_and_exit_130(capsys):
    from common.errors import cli_entry

    @cli_entry
    def command() -> int:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stop:
        command()
    assert stop.value.code == 130 and capsys.readouterr().err.strip().splitlines() == ["interrupted"]


def test_the_signer_leaves_a_full_disk_to_the_signing_when_the_sweep_stops(tmp_path, monkeypatch):
    import errno

    from study.sweep.signer import StateSigner, signing

    (tmp_path / "tuner.pkl").write_bytes(b"state")

    def full(folder, staging=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(folder))

    monkeypatch.setattr("study.sweep.signer.sign_folder", full)
    StateSigner().refresh(tmp_path)  # inside Tune's loop: no exception to break the loop
    with pytest.raises(OSError) as err, signing(str(tmp_path)):
        pass
    assert err.value.errno == errno.ENOSPC  # the command turns it into its one "disk full" line


def test_analysis_of_a_folder_whose_results_table_is_not_parquet_is_one_line(tmp_path, capsys):
    import analysis.__main__ as command

    (tmp_path / "results.parquet").write_text("trial_id,status\nx,TERMINATED\n")
    with pytest.raises(SystemExit) as stop:
        command.main([str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1
    assert err[0].startswith(f"error: {tmp_path}/results.parquet: not a parquet table")
