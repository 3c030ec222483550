"""The sweep's preflight: every bad input it can see fails in one line naming the file (and row) or setting,
exit 2, before Ray starts and before anything is written."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray

from common.errors import ConfigError, DataError
from study.preflight import check_video, preflight
import study.sweep as sweep


@pytest.fixture
def data(synthetic_dir, tmp_path) -> Path:
    """A private copy of the small synthetic benchmark, to break one file at a time."""
    return Path(shutil.copytree(synthetic_dir, tmp_path / "data"))


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SOCIAL_ALIGN_CACHE", str(root))
    return root


def _names(data: Path, file: str) -> list[str]:
    return list(pd.read_csv(data / file)["video_name"])


def _fails(capsys, data: Path, cache: Path, store: Path, *extra: str) -> str:
    """Run the sweep command; assert exit 2, one `error:` line, no Ray, nothing written; return the line."""
    argv = ["--data", str(data), "--storage-path", str(store), "--name", "x", "--set", "steps_per_epoch=2",
            "--no-dashboard", *extra]
    with pytest.raises(SystemExit) as stop:
        sweep.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    assert not ray.is_initialized()
    assert not store.exists() and not cache.exists()  # no experiment folder, no prepared data
    return err[0]


def test_a_missing_test_video_fails_before_any_trial_naming_the_file_and_its_row(data, cache, tmp_path, capsys):
    test_video = _names(data, "test.csv")[0]
    (data / "videos" / test_video).unlink()
    row = _names(data, "video_mapping.csv").index(test_video) + 1
    line = _fails(capsys, data, cache, tmp_path / "runs")
    assert f"{data / 'videos' / test_video}: video file not found (video_mapping.csv row {row})" in line


def test_a_video_that_does_not_open_fails_naming_it(data, cache, tmp_path, capsys):
    video = data / "videos" / _names(data, "train.csv")[0]
    video.write_bytes(b"not an mp4 at all" * 64)
    line = _fails(capsys, data, cache, tmp_path / "runs")
    assert f"{video}: not a readable video" in line


@pytest.mark.parametrize("file, damage, message", [
    ("captions.csv", None, "captions.csv: no captions file"),
    ("annotations.csv", None, "annotations.csv: no annotations file"),
    ("annotations.csv", "drop_first_row", "annotations.csv: no ratings for 1 video(s)"),
    ("captions.csv", "drop_first_video", "captions.csv: no caption for 1 video(s)"),
    ("all_triplets.csv", "bad_choice", "all_triplets.csv: row 1, column choice"),
    ("video_mapping.csv", None, "video_mapping.csv: file not found"),
])
def test_judgments_captions_and_annotations_are_checked_before_any_trial(data, cache, tmp_path, capsys, file,
                                                                         damage, message):
    path = data / file
    frame = pd.read_csv(path, dtype=str)
    if damage is None:
        path.unlink()
    elif damage == "drop_first_row":
        frame.iloc[1:].to_csv(path, index=False)
    elif damage == "drop_first_video":
        frame[frame["video_name"] != frame["video_name"].iloc[0]].to_csv(path, index=False)
    else:
        frame.loc[0, "choice"] = "x"
        frame.to_csv(path, index=False)
    assert message in _fails(capsys, data, cache, tmp_path / "runs")


def test_a_missing_backbone_folder_and_an_unwritable_storage_fail_naming_the_setting(data, cache, tmp_path,
                                                                                     capsys):
    line = _fails(capsys, data, cache, tmp_path / "runs", "--set", f"backbone={tmp_path / 'no-such-model'}")
    assert f"backbone '{tmp_path / 'no-such-model'}': no folder with config.json" in line
    (tmp_path / "file").write_text("")
    line = _fails(capsys, data, cache, tmp_path / "file" / "runs")
    assert line.startswith(f"error: --storage-path {tmp_path / 'file' / 'runs'}: not writable")


def test_without_the_analysis_only_training_videos_are_needed(data, tmp_path):
    """--no-analysis: the test videos, captions and annotations are not read, so they are not required."""
    for name in _names(data, "test.csv"):
        (data / "videos" / name).unlink()
    captions = (data / "captions.csv").read_bytes()
    (data / "captions.csv").unlink()
    report = preflight(data, analysis=False, storage=str(tmp_path / "runs"))
    n_all = len(_names(data, "video_mapping.csv"))
    assert report.n_videos == n_all - len(set(_names(data, "test.csv"))) and not report.analysis_files
    with pytest.raises(DataError, match="captions.csv: no captions file"):
        preflight(data, analysis=True)
    (data / "captions.csv").write_bytes(captions)  # the tables come first; then the test videos are needed too
    with pytest.raises(DataError, match="video file not found"):
        preflight(data, analysis=True)
    assert not (tmp_path / "runs").exists()


def test_the_random_split_checks_every_video_of_its_own_split(data):
    report = preflight(data, split="random", seed=3, analysis=True)
    assert report.n_videos == len(_names(data, "video_mapping.csv"))


def test_a_file_without_a_video_stream_is_refused(tmp_path):
    import av

    audio = tmp_path / "audio.mp4"
    with av.open(str(audio), "w", format="mp4") as container:  # one second of silence, sound only
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(DataError, match="no video stream"):
        check_video(audio)


def test_storage_check_writes_nothing_and_refuses_a_file_in_the_way(tmp_path):
    from study.preflight import check_writable

    check_writable(str(tmp_path / "a" / "b"))
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="not writable"):
        check_writable(str(tmp_path / "f" / "runs"))
