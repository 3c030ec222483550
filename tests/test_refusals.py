"""Bad input that used to pass the checks and fail late (after Ray started, or never): every flag's NaN, inf,
negative or out-of-range value, a --name that escapes the storage folder, an unreachable Ray address, data
whose parts are empty, cut short, undecodable, non-numeric, escaping videos/ or naming one video twice.
Each is one `error:` line naming the flag and value or the file and row, exit 2, before Ray and torch are
imported, nothing written."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import study.sweep as sweep
from sweep_helpers import refused
from data.judgments import load_judgments
from common.errors import ConfigError
from data.splits import paper_split

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data(synthetic_dir, tmp_path) -> Path:
    """A private copy of the small synthetic benchmark, to break one file at a time."""
    return Path(shutil.copytree(synthetic_dir, tmp_path / "data"))


@pytest.mark.parametrize("flag, value, says", [
    ("--seed", "-1", "--seed -1: must be a whole number in 0..4294967295"),
    ("--seed", str(2**32), f"--seed {2**32}: must be a whole number in 0..4294967295"),
    ("--seed", "100000000000000000000000", "--seed 100000000000000000000000: must be"),
    ("--gpus-per-worker", "nan", "--gpus-per-worker nan: must be a finite number >= 0"),
    ("--gpus-per-worker", "-1", "--gpus-per-worker -1.0: must be a finite number >= 0"),
    ("--cpus-per-worker", "nan", "--cpus-per-worker nan: must be a finite number > 0"),
    ("--cpus-per-worker", "inf", "--cpus-per-worker inf: must be a finite number > 0"),
    ("--cpus-per-worker", "0", "--cpus-per-worker 0.0: must be a finite number > 0"),
    ("--max-failures", "-1", "--max-failures -1: must be a whole number >= 0"),
    ("--num-samples", "0", "--num-samples 0: must be a whole number >= 1"),
    ("--max-concurrent", "-3", "--max-concurrent -3: must be a whole number >= 1"),
    ("--workers-per-trial", "0", "--workers-per-trial 0: must be a whole number >= 1"),
    ("--top-k", "0", "--top-k 0: must be a whole number >= 1"),
    ("--name", "../../x", "--name '../../x': must be a plain folder name"),
    ("--name", "/abs/path", "--name '/abs/path': must be a plain folder name"),
    ("--name", "a/b", "--name 'a/b': must be a plain folder name"),
    ("--name", "..", "--name '..': must be a plain folder name"),
])
def test_every_flag_is_checked_before_anything_starts(flag, value, says, tmp_path, capsys):
    store = tmp_path / "store"
    assert says in refused(capsys, ["--storage-path", str(store), flag, value, "--no-dashboard"])
    assert not store.exists() and list(tmp_path.iterdir()) == []


def test_a_config_file_cannot_slip_a_bad_value_past_the_flags(tmp_path, capsys):
    config = tmp_path / "sweep.yaml"
    config.write_text("sweep:\n  seed: 1.5\n  cpus_per_worker: .nan\n")
    assert "--seed 1.5: must be a whole number" in refused(capsys, ["--config", str(config)])


def test_an_unreachable_ray_address_is_refused_within_15_seconds(tmp_path, capsys):
    start = time.monotonic()
    line = refused(capsys, ["--storage-path", str(tmp_path / "s"), "--ray-address", "127.0.0.1:1"])
    assert time.monotonic() - start < 15
    assert "--ray-address 127.0.0.1:1: nothing answers at 127.0.0.1:1" in line
    assert "--ray-address 'nonsense'" in refused(capsys, ["--ray-address", "nonsense"])


def test_a_refused_command_imports_neither_ray_nor_torch(tmp_path):
    code = ("import sys\nfrom study.sweep.__main__ import main\nsys.argv[1:] = ['--seed', '-1']\n"
            "try:\n    main()\nexcept SystemExit as stop:\n    print(stop.code, 'ray' in sys.modules, "
            "'torch' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["2", "False", "False"], out.stderr


# ------------------------------------------------------------------------------------------------ data
def _datarefused(capsys, data: Path, tmp_path: Path) -> str:
    store = tmp_path / "store"
    line = refused(capsys, ["--data", str(data), "--storage-path", str(store), "--name", "x", "--no-dashboard"])
    assert not store.exists()
    return line


def _rewrite(path: Path, edit) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame)
    frame.to_csv(path, index=False)


def test_video_names_must_stay_inside_videos_and_be_unique(data, tmp_path, capsys):
    mapping = data / "video_mapping.csv"
    original = mapping.read_text()
    for name in ("../outside.mp4", "/etc/passwd", "a/../../b.mp4"):
        _rewrite(mapping, lambda f: f.loc.__setitem__((2, "video_name"), name))
        line = _datarefused(capsys, data, tmp_path)
        assert f"{mapping}: row 3, column video_name: {name!r} is not a file name inside videos/" in line
        mapping.write_text(original)
    _rewrite(mapping, lambda f: f.loc.__setitem__((4, "video_name"), f.loc[1, "video_name"]))
    assert f"{mapping}: rows 2 and 5 both name video" in _datarefused(capsys, data, tmp_path)


def test_a_row_cut_short_and_bytes_that_are_not_utf8_name_the_file_and_row(data, tmp_path, capsys):
    triplets = data / "all_triplets.csv"
    lines = triplets.read_text().splitlines()
    triplets.write_text("\n".join(lines[:6] + [lines[6][: len(lines[6]) // 2]]) + "\n")
    assert f"{triplets}: row 6 has" in _datarefused(capsys, data, tmp_path)
    triplets.write_text("\n".join(lines) + "\n")
    captions = data / "captions.csv"
    text = captions.read_text().splitlines()
    text[3] = text[3] + " caf\u00e9"
    captions.write_bytes("\n".join(text).encode("latin-1") + b"\n")
    assert f"{captions}: row 3: byte 0xe9 is not UTF-8 text" in _datarefused(capsys, data, tmp_path)


def test_a_rating_that_is_not_a_number_names_the_file_row_and_column(data, tmp_path, capsys):
    annotations = data / "annotations.csv"
    column = next(c for c in pd.read_csv(annotations).columns if c.startswith("rating-"))
    _rewrite(annotations, lambda f: f.loc.__setitem__((3, column), "high"))
    assert f"{annotations}: row 4, column {column}: 'high' is not a number" in _datarefused(capsys, data, tmp_path)


def test_all_catch_trials_and_an_empty_validation_or_test_set_are_refused(data, tmp_path, capsys):
    triplets = data / "all_triplets.csv"
    original = triplets.read_text()
    def every_row_a_catch_trial(frame):  # answered right: (a, a, b) with b chosen
        frame["stim2_name"], frame["choice"] = frame["stim1_name"], frame["stim3_name"]

    _rewrite(triplets, every_row_a_catch_trial)
    assert f"{triplets}: no valid triplet: all" in _datarefused(capsys, data, tmp_path)
    triplets.write_text(original)
    split = paper_split(load_judgments(data), seed=0)
    for part, ids in (("val", split.val), ("test", split.test)):
        frame = pd.read_csv(triplets)
        inside = np.isin(frame[["stim1_name", "stim2_name", "stim3_name"]].to_numpy(), ids).all(axis=1)
        frame[~inside].to_csv(triplets, index=False)
        assert f"{triplets}: no {part} triplet in the paper split (seed 0)" in _datarefused(capsys, data, tmp_path)
        triplets.write_text(original)


def test_study_judgments_refuses_a_negative_seed(data, capsys):
    from data.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main([str(data), "--seed", "-1"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --seed -1: must be a whole number in 0..4294967295"


def test_analysis_human_refuses_duplicate_names_and_all_catch_data_in_one_line(data, tmp_path, capsys):
    from analysis.human import main

    mapping = data / "video_mapping.csv"
    _rewrite(mapping, lambda f: f.loc.__setitem__((4, "video_name"), f.loc[1, "video_name"]))
    with pytest.raises(SystemExit) as stop:
        main([str(data), "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{mapping}: rows 2 and 5 both name video" in err[0]
    assert not (tmp_path / "out").exists() or json.dumps(sorted(os.listdir(tmp_path / "out"))) == "[]"


def test_a_full_disk_is_one_line_naming_the_file_and_exit_1(synthetic_dir, tmp_path, capsys, monkeypatch):
    import errno

    target = tmp_path / "store" / "x" / "sweep.json"

    def full(settings, plan):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr("study.sweep.tune.run_sweep", full)
    argv = ["--data", str(synthetic_dir), "--storage-path", str(tmp_path / "store"), "--name", "x", "--no-dashboard"]
    assert sweep.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: disk full writing {target}; free space there and --resume the experiment folder "
                   "(the files the sweep writes itself are whole or absent)"]


# ------------------------------------------------------------------------------------- every entry point
# Each command refuses bad input in one `error:` line, exit 2, before torch, transformers, Ray or
# sentence-transformers is imported (its time: benchmarks/refusal_timing.py). A child process runs the command as
# `python -m` would and says afterwards which of them were imported.
HEAVY = ("torch", "transformers", "ray", "sentence_transformers")
CHILD = ("import runpy, sys\nmodule, sys.argv = sys.argv[1], sys.argv[1:]\ntry:\n"
         "    runpy.run_module(module, run_name='__main__', alter_sys=True)\n    code = 0\n"
         "except SystemExit as stop:\n    code = stop.code\n"
         f"print(code, *sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
LONG = "x" * 300  # a name no file system takes


def _refusal(module: str, argv: list[str]) -> tuple[str, list[str]]:
    """Run `python -m MODULE ARGV` in a child; it must exit 2 with one `error:` line. Returns the line and the
    heavy modules it imported. HF_HUB_OFFLINE is left unset: the caption model's check is offline by default."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"} | {"PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", CHILD, module, *argv], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    code, *heavy = out.stdout.strip().splitlines()[-1].split()
    err = out.stderr.strip().splitlines()
    assert code == "2" and len(err) == 1 and err[0].startswith("error: "), (code, out.stderr[-2000:])
    return err[0], heavy


@pytest.mark.parametrize("module, argv, says", [
    ("analysis", ["{run}", "--language-model", "{tmp}/no-such-model"], "--language-model {tmp}/no-such-model: no "
                                                                        "such folder"),
    ("analysis", ["{run}", "--language-model", "no-such-org/no-such-model"],
     "--language-model no-such-org/no-such-model: no such folder, and not in the local Hugging Face cache"),
    ("analysis", ["{run}", "--n-boot", "1"], "--n-boot must be >= 2, got 1"),
    ("analysis", ["{run}", "--out", "{file}"], "--out {file}: exists and is not a folder"),
    ("analysis.human", ["{data}", "--language-model", "{tmp}/no-such-model"], "--language-model {tmp}/no-such-model"),
    ("analysis.human", ["{data}", "--language-model", "no-such-org/no-such-model"],
     "not in the local Hugging Face cache"),
    ("data", ["{data}", "--seed", "-1"], "--seed -1: must be a whole number in 0..4294967295"),
    ("data", ["{data}", "--min-catch-accuracy", "nan"], "--min-catch-accuracy nan: must be a finite number"),
    ("study.synthetic", ["--out", "{tmp}/" + LONG], "is 300 bytes; at most 233 fit"),
    ("study.pretrain", ["--seed", "-1"], "--seed -1: must be a whole number in 0..4294967295"),
    ("study.pretrain", ["--root", "{file}"], "--root {file}: exists and is not a folder"),
    ("study.ladder", ["--backbone", "{tmp}/no-such-model"], "--backbone {tmp}/no-such-model: no save_pretrained"),
    ("study.ladder", ["--json", "{tmp}/" + LONG], "is 300 bytes; at most 233 fit"),
    ("study.next_triplets", ["{tmp}", "--n", "5", "--strategy", "uniform", "--out", "{tmp}/o.csv", "--seed", "-1"],
     "--seed -1: must be a whole number"),
    ("study.next_triplets", ["{tmp}", "--n", "5", "--strategy", "uniform", "--out", "{tmp}/" + LONG],
     "is 300 bytes; at most 233 fit"),
    ("study.sweep", ["--data", "{data}", "--storage-path", "{tmp}/store", "--no-dashboard", "--set",
                     "backbone={tmp}/no-such-model"], "backbone '{tmp}/no-such-model': no folder with config.json"),
    ("benchmarks", ["--out", "{file}", "--report-only"], "--out {file}: exists and is not a folder"),
    ("benchmarks", ["--repeats", "0"], "--repeats must be an integer >= 1, got 0"),
])
def test_every_entry_point_refuses_in_one_line_before_torch_ray_or_a_model(module, argv, says, synthetic_dir,
                                                                         tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.parquet").write_bytes(b"")  # read only past the flags' checks
    (tmp_path / "a-file").write_text("")
    names = {"run": run, "tmp": tmp_path, "file": tmp_path / "a-file", "data": synthetic_dir}
    line, heavy = _refusal(module, [a.format(**names) for a in argv])
    assert says.format(**names) in line and heavy == []


def test_a_caption_model_in_the_local_cache_or_a_folder_is_accepted_without_the_network(tmp_path, monkeypatch):
    from analysis.language import check_language_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "hub"))
    repo = tmp_path / "hub" / "models--sentence-transformers--tiny-model"  # the hub cache's own layout
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    (repo / "snapshots" / ("0" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("0" * 40) / "modules.json").write_text("[]")
    check_language_model("tiny-model")  # a bare name is sentence-transformers/<name>, as the library reads it
    check_language_model("sentence-transformers/tiny-model")
    check_language_model(None)  # the bundled model
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match="holds no sentence-transformers model"):
        check_language_model(tmp_path / "folder")
    (tmp_path / "folder" / "config.json").write_text("{}")
    check_language_model(tmp_path / "folder")
    with pytest.raises(ConfigError, match="other-model: no such folder, and not in the local Hugging Face cache"):
        check_language_model("other-model")


def test_online_the_hub_is_asked_once_and_for_a_bounded_time(tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    from analysis import language

    asked = []

    def no_answer(self, repo, timeout=None):
        asked.append((repo, timeout))
        raise TimeoutError("no answer")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_answer)
    with pytest.raises(ConfigError, match=f"the hub did not answer within {language.HUB_TIMEOUT_S} s"):
        language.check_language_model("org/model")
    assert asked == [("org/model", language.HUB_TIMEOUT_S)]

    def not_found(self, repo, timeout=None):
        raise RepositoryNotFoundError.__new__(RepositoryNotFoundError)  # its __init__ wants a real HTTP response

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", not_found)
    with pytest.raises(ConfigError, match="org/model: no such folder, and no such model on the hub"):
        language.check_language_model("org/model")
