"""Every command: a complete --help, and a missing file or folder as one `error:` line naming it, exit 2."""
from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

import study.sweep

COMMANDS = ["study.sweep", "analysis.__main__", "analysis.human", "analysis.timing", "study.synthetic",
            "data.__main__", "benchmarks.__main__"]


@pytest.mark.parametrize("module", COMMANDS)
def test_help_prints_a_description_that_is_not_cut_mid_sentence(module, capsys):
    with pytest.raises(SystemExit) as stop:
        importlib.import_module(module).main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n")[1].strip()  # argparse: usage, blank line, description
    assert description[-1] in ".:)`" and not description.endswith("-"), description
    assert "caption-\n" not in out


def test_analysis_help_keeps_its_whole_first_sentence(capsys):
    from analysis.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert ("the best K trials and the caption-language baseline on the held-out test videos; write "
            "metrics.parquet, report.md and PNG plots.") in out


def _one_line(capsys, main, argv) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    err = [line for line in err if not line.startswith("[")]  # Optuna's or Ray's own INFO log lines
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("missing, message", [
    ("captions.csv", "captions.csv: no captions file (needed for the language baseline)"),
    ("annotations.csv", "annotations.csv: no annotations file (needed for the linear probes)"),
    ("all_triplets.csv", "all_triplets.csv: file not found"),
])
def test_human_analysis_names_the_missing_file(synthetic_dir, tmp_path, capsys, missing, message):
    from analysis.human import main

    data = tmp_path / "data"
    data.mkdir()
    for csv in synthetic_dir.glob("*.csv"):
        shutil.copy(csv, data)
    (data / missing).unlink()
    line = _one_line(capsys, main, [str(data), "--n-boot", "10", "--n-splits", "2"])
    assert line == f"error: {data / message}"


def test_a_missing_folder_is_one_line_for_both_analysis_commands(tmp_path, capsys):
    from analysis.__main__ import main as experiment_main
    from analysis.human import main as human_main

    missing = tmp_path / "nowhere"
    assert f"{missing}: no such folder" in _one_line(capsys, human_main, [str(missing)])
    assert f"{missing}: no such folder" in _one_line(capsys, experiment_main, [str(missing)])
    Path(missing).mkdir()
    assert f"{missing / 'results.parquet'}: no results table" in _one_line(capsys, experiment_main, [str(missing)])


def test_file_errors_names_the_file_of_an_os_error():
    from common.errors import DataError, file_errors

    with pytest.raises(DataError, match=r"^/no/such/file\.csv: no such file or directory$"):
        with file_errors():
            open("/no/such/file.csv").close()


def test_the_sweep_filters_only_the_named_notices_here_and_for_its_workers(monkeypatch):
    import subprocess
    import sys
    import warnings

    monkeypatch.delenv("PYTHONWARNINGS", raising=False)
    monkeypatch.delenv("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", raising=False)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        study.sweep.quiet_warnings()
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning)
        warnings.warn("something the user must fix", FutureWarning)
    assert [str(w.message) for w in seen] == ["something the user must fix"]
    import os

    assert os.environ["RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS"] == "0"
    # A worker process gets the filter from its environment (Ray passes it on through runtime_env).
    code = ("import warnings; warnings.warn('`is_gradient_checkpointing` is deprecated', FutureWarning); "
            "warnings.warn('a real problem', FutureWarning)")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)).stderr
    assert "is_gradient_checkpointing" not in err and "a real problem" in err


@pytest.mark.parametrize("module, argv, named", [
    ("analysis.timing", ["{missing}"], "{missing}/video_mapping.csv: file not found"),
    ("data.__main__", ["{missing}"], "{missing}: no such folder"),
    ("analysis.human", ["{missing}"], "{missing}: no such folder"),
    ("analysis.__main__", ["{missing}"], "{missing}: no such folder"),
    ("study.sweep", ["--data", "{missing}", "--no-dashboard"], "--data {missing}: no such folder"),
    ("study.sweep", ["--config", "{missing}/sweep.yaml"], "--config {missing}/sweep.yaml: no such file"),
    ("study.synthetic", ["--tiny", "--out", "{blocked}/out"], "--out {blocked}/out: cannot be written ({blocked} is "
                                                              "not a folder)"),
])
def test_every_command_names_a_missing_file_or_folder_in_one_line(module, argv, named, tmp_path, capsys):
    (tmp_path / "blocked").write_text("a file where a folder should be")
    fill = {"missing": tmp_path / "missing", "blocked": tmp_path / "blocked"}
    line = _one_line(capsys, importlib.import_module(module).main, [a.format(**fill) for a in argv])
    assert named.format(**fill) in line
