"""The prepared folder: layout, no test clips, triplets as rows, similarity, reuse and invalidation, bad input."""
from __future__ import annotations

import errno
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.clips import DecodeSettings, write_clip
from common.errors import ConfigError, DataError
from data.judgments import load_judgments
from data.splits import paper_split, random_split, similarity_matrix, split_triplets
from data.prepared import prepare_dataset

N_VIDEOS, TEST_IDS = 12, (9, 10, 11)
DECODE = DecodeSettings(num_frames=4, image_size=32)
LEVEL = 20  # video i is a flat grey of i * LEVEL, so a decoded row tells which video it came from


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """12 flat-grey clips and every triplet of them once, judged at random by two participants."""
    root = tmp_path_factory.mktemp("tiny")
    names = [f"clip{i:02d}.mp4" for i in range(N_VIDEOS)]
    for i, name in enumerate(names):
        write_clip(root / "videos" / name, np.full((6, 32, 32, 3), i * LEVEL, dtype=np.uint8))
    pd.DataFrame({"index": range(N_VIDEOS), "video_name": names}).to_csv(root / "video_mapping.csv", index=False)
    pd.DataFrame({"index": TEST_IDS, "video_name": [names[i] for i in TEST_IDS]}).to_csv(
        root / "test.csv", index=False)
    triads = np.array(list(itertools.combinations(range(N_VIDEOS), 3)) + [(4, 4, 7)])  # last: a catch trial
    rng = np.random.default_rng(0)
    choice = triads[np.arange(len(triads)), rng.integers(0, 3, len(triads))]
    choice[-1] = 7  # the catch trial answered right
    pd.DataFrame({"participation": np.where(np.arange(len(triads)) % 2, "p1", "p2"), "task": "set1", "trial": 0,
                  "stim1_name": triads[:, 0], "stim2_name": triads[:, 1], "stim3_name": triads[:, 2],
                  "choice": choice, "response_time": 2.0, "catch_trial_flag": False}).to_csv(
        root / "all_triplets.csv", index=False)
    return root


def prepare(data_dir, out_root, **kwargs) -> Path:
    return prepare_dataset(data_dir, val_fraction=0.34, decode=DECODE, out_root=out_root, **kwargs)


def load(folder: Path) -> dict:
    return {p.stem: np.load(p) for p in folder.glob("*.npy")}


def test_prepared_folder_holds_no_test_clip(data_dir, tmp_path):
    folder = prepare(data_dir, tmp_path)
    arrays, meta = load(folder), json.loads((folder / "meta.json").read_text())
    j = load_judgments(data_dir)
    split = paper_split(j, val_fraction=0.34)
    assert np.array_equal(arrays["video_ids"], np.concatenate([split.train, split.val]))
    assert not np.isin(arrays["video_ids"], TEST_IDS).any()
    clips = arrays["clips"]
    assert clips.dtype == np.uint8 and clips.shape == (9, 4, 3, 32, 32)
    # Each row's pixels are its own video's grey; no row looks like a test video.
    greys = clips.reshape(len(clips), -1).mean(axis=1) / LEVEL
    assert np.allclose(greys, arrays["video_ids"], atol=0.2)
    assert meta["video_names"] == [f"clip{i:02d}.mp4" for i in arrays["video_ids"]]
    assert meta["n_videos"] == {"train": 6, "val": 3, "test": 3} and meta["catch"]["n_catch_trials"] == 1


def test_triplets_are_rows_and_similarity_follows_rows(data_dir, tmp_path):
    arrays = load(prepare(data_dir, tmp_path))
    j = load_judgments(data_dir)
    parts = split_triplets(j, paper_split(j, val_fraction=0.34))
    for name, part in (("train", parts.train), ("val", parts.val)):
        rows, triplets = arrays[f"rows_{name}"], arrays[f"triplets_{name}"]
        assert triplets.dtype == np.int64 and np.isin(triplets, rows).all()
        assert np.array_equal(arrays["video_ids"][triplets], part.triplets)  # [kept_a, kept_b, odd] kept
        human = similarity_matrix(part.triplets, videos=arrays["video_ids"][rows])
        assert np.array_equal(arrays[f"human_{name}_counts"], human.counts)
        assert np.allclose(arrays[f"human_{name}_similarity"], human.similarity, equal_nan=True)
    assert len(arrays["triplets_train"]) == 20 and len(arrays["triplets_val"]) == 1  # C(6,3), C(3,3)


def test_clips_are_copied_where_hard_links_fail(data_dir, tmp_path, monkeypatch):
    linked = np.load(prepare(data_dir, tmp_path / "linked") / "clips.npy")

    def no_link(*args, **kwargs):
        raise OSError("cross-device link")

    monkeypatch.setattr("data.prepared.os.link", no_link)
    copied = prepare(data_dir, tmp_path / "copied") / "clips.npy"
    assert copied.stat().st_nlink == 1 and np.array_equal(np.load(copied), linked)


def test_folder_is_reused_and_rebuilt_when_inputs_change(data_dir, tmp_path):
    first = prepare(data_dir, tmp_path)
    stamp = (first / "meta.json").stat().st_mtime_ns
    assert prepare(data_dir, tmp_path) == first and (first / "meta.json").stat().st_mtime_ns == stamp
    assert prepare(data_dir, tmp_path, seed=1) != first
    assert prepare_dataset(data_dir, val_fraction=0.34, decode=DecodeSettings(num_frames=2, image_size=32),
                           out_root=tmp_path) != first
    # A damaged folder (no meta.json) is not trusted: it is rebuilt in place.
    (first / "meta.json").unlink()
    assert prepare(data_dir, tmp_path) == first and (first / "meta.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_random_split_keeps_its_test_videos_out(data_dir, tmp_path):
    folder = prepare(data_dir, tmp_path, split="random", seed=3, test_fraction=0.25)
    meta, ids = json.loads((folder / "meta.json").read_text()), np.load(folder / "video_ids.npy")
    expected = random_split(load_judgments(data_dir), test_fraction=0.25, val_fraction=0.34, seed=3)
    assert meta["test_video_ids"] == expected.test.tolist() and not np.isin(ids, expected.test).any()
    assert np.array_equal(ids, np.concatenate([expected.train, expected.val]))


def test_default_out_root_honours_env(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SOCIAL_ALIGN_CACHE", str(tmp_path / "cache"))
    folder = prepare_dataset(data_dir, val_fraction=0.34, decode=DECODE)
    assert folder.parent == tmp_path / "cache" and folder.name.startswith("prepared-")


def test_missing_training_video_fails_cleanly_but_test_video_is_not_needed(data_dir, tmp_path):
    copy = tmp_path / "copy"
    for name in ("all_triplets.csv", "video_mapping.csv", "test.csv"):
        (copy / "videos").mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((data_dir / name).read_bytes())
    for video in (data_dir / "videos").iterdir():
        if video.name not in ("clip03.mp4", "clip10.mp4"):  # clip03 trains, clip10 is a test video
            (copy / "videos" / video.name).hardlink_to(video)
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"videos/clip03.mp4: video file not found"):
        prepare(copy, out)
    assert not out.exists() or not list(out.glob("prepared-*"))
    (copy / "videos" / "clip03.mp4").hardlink_to(data_dir / "videos" / "clip03.mp4")
    assert (prepare(copy, out) / "meta.json").is_file()


def test_corrupt_training_video_leaves_nothing_behind(data_dir, tmp_path):
    copy = tmp_path / "copy"
    (copy / "videos").mkdir(parents=True)
    for name in ("all_triplets.csv", "video_mapping.csv", "test.csv"):
        (copy / name).write_bytes((data_dir / name).read_bytes())
    for video in (data_dir / "videos").iterdir():
        corrupt = video.name == "clip05.mp4"
        (copy / "videos" / video.name).write_bytes(b"not a video" if corrupt else video.read_bytes())
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"clip05.mp4: cannot decode video"):
        prepare(copy, out)
    assert not list(out.glob("prepared-*")) and not list(out.glob(".prepared-*"))


def test_bad_settings_are_config_errors(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="split must be one of paper, random; got 'authors'"):
        prepare(data_dir, tmp_path, split="authors")
    with pytest.raises(ConfigError, match="decode must be a data.clips.DecodeSettings"):
        prepare_dataset(data_dir, decode={"num_frames": 4}, out_root=tmp_path)
    with pytest.raises(ConfigError, match="'val' has 1 video"):
        prepare_dataset(data_dir, val_fraction=0.1, decode=DECODE, out_root=tmp_path)
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_synthetic_benchmark_prepares_without_test_videos(synthetic_dir, tmp_path):
    folder = prepare_dataset(synthetic_dir, decode=DECODE, out_root=tmp_path)
    meta, ids = json.loads((folder / "meta.json").read_text()), np.load(folder / "video_ids.npy")
    j = load_judgments(synthetic_dir)
    assert not np.isin(ids, j.test_videos).any() and len(ids) + len(j.test_videos) == j.n_videos
    assert meta["video_names"] == [j.video_names[i] for i in ids]
    assert np.load(folder / "clips.npy", mmap_mode="r").shape == (len(ids), 4, 3, 32, 32)
    assert meta["n_triplets"]["train"] == len(np.load(folder / "triplets_train.npy")) > 0


def test_trainer_side_reader_accepts_the_folder(data_dir, tmp_path):
    from data.prepared import load_prepared

    data = load_prepared(prepare(data_dir, tmp_path))
    assert isinstance(data.clips, np.memmap) and data.clips.shape[0] == len(data.video_ids)
    assert data.meta.n_triplets["train"] == len(data.triplets_train) and data.meta.decode == DECODE


def test_a_folder_whose_meta_misdescribes_its_clips_is_refused_naming_both(data_dir, tmp_path):
    """meta.json's decode is what a trial builds its model for: it must be the clips' frames and size."""
    from data.prepared import load_prepared

    folder = prepare(data_dir, tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "decode": {**meta["decode"], "image_size": 64}}))
    with pytest.raises(DataError, match=r"clips\.npy: clips of 4 frames of 32x32 px, .*meta\.json says 4 of 64x64"):
        load_prepared(folder)


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("where", ["clip cache", "copied clips", "arrays"])
def test_a_full_cache_disk_is_one_data_error_and_leaves_no_temporary_file(where, data_dir, tmp_path, monkeypatch):
    if where == "clip cache":  # the decoded clips' space is taken before the first write (no SIGBUS)
        monkeypatch.setattr("data.clips.os.posix_fallocate", _full)
    elif where == "copied clips":  # the clip cache fits, its copy into the folder does not
        monkeypatch.setattr("data.prepared.os.link", _full)
        monkeypatch.setattr("data.prepared.allocated_memmap", lambda path, shape: _full())
    else:
        monkeypatch.setattr("data.prepared.np.save", _full)
    with pytest.raises(DataError) as err:
        prepare(data_dir, tmp_path / "cache")
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{tmp_path / 'cache'}") and "disk full" in message
    assert "$SOCIAL_ALIGN_CACHE" in message and ("MiB" in message) == (where == "clip cache")
    left = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert not [name for name in left if ".tmp" in name or name.startswith(".")], left
    assert not list((tmp_path / "cache").glob("*prepared-*"))


def test_a_real_full_disk_under_the_cache_root_is_one_line_exit_2_not_sigbus(data_dir, small_disk):
    """On a 64 KiB tmpfs (the clips need 108 KiB): the cache used to die with SIGBUS (exit 135, no message,
    temporary files left). Run apart, so that a SIGBUS cannot take the test session with it."""
    script = ("from common.errors import cli_entry; from data.clips import DecodeSettings; "
              "from data.prepared import prepare_dataset; import sys; cli_entry(lambda: prepare_dataset("
              "sys.argv[1], val_fraction=0.34, decode=DecodeSettings(num_frames=4, image_size=32), "
              "out_root=sys.argv[2]) and None)()")
    done = subprocess.run([sys.executable, "-c", script, str(data_dir), str(small_disk / "cache")],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], timeout=120)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1, (done.returncode, done.stderr[-2000:])
    assert err[0].startswith(f"error: {small_disk / 'cache'}") and "disk full writing the cache" in err[0]
    assert not [p.name for p in small_disk.rglob("*") if p.is_file()]
