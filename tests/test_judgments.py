"""Human judgments: real-data facts, catch trials, similarity against a naive loop, splits, bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import ConfigError, DataError
from data.__main__ import main as judgments_main
from data.splits import Split, paper_split, random_split, similarity_matrix, split_triplets
from data.judgments import data_fingerprint, load_judgments

REPO = Path(__file__).resolve().parents[1]
HEADER = "participation,task,trial,stim1_name,stim2_name,stim3_name,choice,response_time,catch_trial_flag"


@pytest.fixture(scope="module")
def real(real_data_dir):
    return load_judgments(real_data_dir, min_catch_accuracy=0.0)


def write_folder(root: Path, rows: list[str], n_videos: int = 6, test_ids=(4, 5)) -> Path:
    """A tiny data folder in the public layout; `rows` are the all_triplets.csv lines after the header."""
    root.mkdir(parents=True, exist_ok=True)
    names = [f"v{i}.mp4" for i in range(n_videos)]
    pd.DataFrame({"index": range(n_videos), "video_name": names}).to_csv(root / "video_mapping.csv", index=False)
    pd.DataFrame({"index": list(test_ids), "video_name": [names[i] for i in test_ids]}).to_csv(
        root / "test.csv", index=False)
    (root / "all_triplets.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    return root


def row(who: str, a, b, c, choice, rt="1.5") -> str:
    return f"{who},set1,0,{a},{b},{c},{choice},{rt},False"


# ---------------------------------------------------------------- real data

def test_real_data_facts(real):
    c = real.catch
    assert c.n_rows == 49_484
    assert c.n_catch_trials == 2_358
    assert len(real) == 47_126 == c.n_kept
    assert len(c.participants) == 215 and c.excluded == () and c.n_excluded_rows == 0
    assert real.n_videos == 250 and len(real.test_videos) == 50
    train_pool = np.setdiff1d(np.arange(250), real.test_videos)
    assert len(real.within(train_pool)) == 24_096
    assert len(real.within(real.test_videos)) == 368
    # No repeated video survives, and the odd one out is the participant's choice.
    t = real.triplets
    assert t.dtype == np.int64 and (t[:, 0] != t[:, 1]).all() and (t[:, 1] != t[:, 2]).all()


def test_real_triplets_are_ordered_kept_then_choice(real_data_dir, real):
    raw = pd.read_csv(real_data_dir / "all_triplets.csv")
    stims = raw[["stim1_name", "stim2_name", "stim3_name"]].to_numpy()
    valid = raw[(stims[:, 0] != stims[:, 1]) & (stims[:, 0] != stims[:, 2]) & (stims[:, 1] != stims[:, 2])]
    assert np.array_equal(real.triplets[:, 2], valid["choice"].to_numpy())
    assert np.array_equal(np.sort(real.triplets, axis=1), np.sort(valid.iloc[:, 3:6].to_numpy(), axis=1))
    assert np.array_equal(np.asarray(real.participants)[real.participant], valid["participation"].to_numpy())


def test_real_default_threshold_excludes_nobody(real_data_dir):
    # Every real participant passes all catch trials (documented in docs/data.md).
    j = load_judgments(real_data_dir)
    assert j.catch.excluded == () and len(j) == 47_126
    assert np.nanmin(j.catch.catch_accuracy) == 1.0


# ---------------------------------------------------------------- catch trials

def test_catch_trials_scored_and_failing_participant_excluded(tmp_path):
    rows = [row("good", 0, 1, 2, 2), row("good", 3, 3, 1, 1), row("good", 0, 0, 2, 2),   # 2/2 catch passed
            row("bad", 0, 1, 3, 0), row("bad", 3, 3, 1, 3), row("bad", 2, 0, 0, 2),      # 1/2 passed
            row("none", 1, 2, 3, 1)]                                                        # saw no catch
    folder = write_folder(tmp_path / "d", rows)
    j = load_judgments(folder, min_catch_accuracy=0.75)
    c = j.catch
    assert (c.n_rows, c.n_catch_trials, c.excluded, c.n_excluded_rows, c.n_kept) == (7, 4, ("bad",), 1, 2)
    assert np.allclose(c.catch_accuracy, [1.0, 0.5, np.nan], equal_nan=True)
    assert j.participants == ("good", "none")
    assert j.triplets.tolist() == [[0, 1, 2], [2, 3, 1]]
    assert np.array_equal(j.participant, [0, 1])
    assert len(load_judgments(folder, min_catch_accuracy=0.5)) == 3


# ---------------------------------------------------------------- similarity

def naive_similarity(triplets, n):
    together, counts = np.zeros((n, n)), np.zeros((n, n), dtype=np.int64)
    for a, b, odd in triplets:
        together[a, b] += 1
        together[b, a] += 1
        for i, k in ((a, b), (a, odd), (b, odd)):
            counts[i, k] += 1
            counts[k, i] += 1
    sim = np.full((n, n), np.nan)
    for i in range(n):
        for k in range(n):
            if i != k and counts[i, k]:
                sim[i, k] = together[i, k] / counts[i, k]
    return sim, counts


def test_similarity_matches_naive_loop():
    rng = np.random.default_rng(3)
    triplets = np.array([rng.choice(12, 3, replace=False) for _ in range(300)])
    got = similarity_matrix(triplets, n_videos=14)  # ids 12, 13 never shown
    sim, counts = naive_similarity(triplets, 14)
    assert np.array_equal(got.counts, counts) and got.counts.dtype == np.int64
    assert np.allclose(got.similarity, sim, equal_nan=True)
    assert np.isnan(got.similarity[12]).all() and np.isnan(np.diag(got.similarity)).all()


def test_similarity_with_videos_follows_their_order():
    rng = np.random.default_rng(4)
    triplets = np.array([rng.choice(10, 3, replace=False) for _ in range(200)])
    videos = np.array([7, 2, 5, 0, 9])
    got = similarity_matrix(triplets, videos=videos)
    inside = triplets[np.isin(triplets, videos).all(axis=1)]
    sim, counts = naive_similarity(inside, 10)
    assert np.array_equal(got.counts, counts[np.ix_(videos, videos)])
    assert np.allclose(got.similarity, sim[np.ix_(videos, videos)], equal_nan=True)


def test_similarity_on_real_data_matches_naive(real):
    got = similarity_matrix(real.triplets, n_videos=real.n_videos)
    sim, counts = naive_similarity(real.triplets[:3000], real.n_videos)
    part = similarity_matrix(real.triplets[:3000], n_videos=real.n_videos)
    assert np.array_equal(part.counts, counts) and np.allclose(part.similarity, sim, equal_nan=True)
    assert got.counts.sum() == 6 * len(real)  # three pairs per triplet, both triangles


# ---------------------------------------------------------------- splits

def test_paper_split_is_seeded_and_disjoint(real):
    a, b, c = paper_split(real, seed=1), paper_split(real, seed=1), paper_split(real, seed=2)
    assert np.array_equal(a.val, b.val) and not np.array_equal(a.val, c.val)
    assert np.array_equal(a.test, real.test_videos)
    assert (len(a.train), len(a.val), len(a.test)) == (160, 40, 50)
    assert len(np.union1d(np.union1d(a.train, a.val), a.test)) == 250


def test_split_triplets_never_leak_test_videos(real):
    split = random_split(real, test_fraction=0.3, val_fraction=0.25, seed=5)
    parts = split_triplets(real, split)
    assert not np.isin(parts.train.triplets, split.test).any()
    assert not np.isin(parts.val.triplets, split.test).any()
    assert np.isin(parts.test.triplets, split.test).all()
    assert len(parts.train) + len(parts.val) + len(parts.test) + parts.n_mixed_dropped == len(real)
    paper = split_triplets(real, paper_split(real))
    assert len(paper.test) == 368 and len(paper.train) + len(paper.val) <= 24_096


@pytest.mark.parametrize("train, val, test, message", [
    ([0, 1, 2], [2, 3, 4], [5, 6, 7], "share"),
    ([0, 1, 2], [3, 4], [5, 6, 7], "'val' has 2"),
])
def test_bad_split_is_refused(train, val, test, message):
    with pytest.raises(ConfigError, match=message):
        Split(np.array(train), np.array(val), np.array(test))


def test_split_too_small_for_fraction(tmp_path):
    folder = write_folder(tmp_path / "d", [row("p", 0, 1, 2, 2)], n_videos=8, test_ids=(5, 6, 7))
    with pytest.raises(ConfigError, match="'val' has 1"):
        paper_split(load_judgments(folder), val_fraction=0.2)
    with pytest.raises(ConfigError, match="val_fraction"):
        paper_split(load_judgments(folder), val_fraction=1.5)


# ---------------------------------------------------------------- bad input

BAD_ROWS = [
    ([row("p", 0, 1, 9, 0)], r"row 1, column stim3_name: video id 9 is not in video_mapping.csv"),
    ([row("p", 0, 1, 2, 0), row("p", 0, 1, 2, 3)], r"row 2: choice 3 is not one of the three videos"),
    ([row("p", 0, 1, 2, 0), row("p", 0, "x", 2, 0)], r"row 2, column stim2_name: 'x' is not an integer"),
    ([row("p", 0, 1, 2, "")], r"row 1, column choice: '' is not an integer"),
    ([row("p", 0, 1, 2, 0, rt="slow")], r"row 1, column response_time: 'slow' is not a number"),
    ([row("p", 0, 1, 2, 0), row("p", 0, 1, "inf", 0)], r"row 2, column stim3_name: 'inf' is not an integer"),
    ([row("", 0, 1, 2, 0)], r"row 1, column participation: empty"),
    ([], r"all_triplets.csv: no data rows"),
]


@pytest.mark.parametrize("rows, message", BAD_ROWS)
def test_bad_triplet_rows_name_file_and_row(tmp_path, rows, message):
    folder = write_folder(tmp_path / "d", rows)
    with pytest.raises(DataError, match=message):
        load_judgments(folder)


def test_missing_column_and_empty_file(tmp_path):
    folder = write_folder(tmp_path / "d", [row("p", 0, 1, 2, 0)])
    triplets = folder / "all_triplets.csv"
    pd.read_csv(triplets).drop(columns="choice").to_csv(triplets, index=False)
    with pytest.raises(DataError, match=r"all_triplets.csv: missing column\(s\) choice"):
        load_judgments(folder)
    triplets.write_bytes(b"")
    with pytest.raises(DataError, match=r"all_triplets.csv: file is empty"):
        load_judgments(folder)


def test_mapping_and_test_list_are_checked(tmp_path):
    folder = write_folder(tmp_path / "d", [row("p", 0, 1, 2, 0)])
    (folder / "test.csv").write_text("index,video_name\n4,v4.mp4\n5,other.mp4\n")
    with pytest.raises(DataError, match=r"test.csv: row 2: video 5 is named 'other.mp4' here but 'v5.mp4'"):
        load_judgments(folder)
    (folder / "test.csv").write_text("index,video_name\n4,v4.mp4\n7,v7.mp4\n")
    with pytest.raises(DataError, match=r"test.csv: row 2: video id 7 is not in video_mapping.csv"):
        load_judgments(folder)
    (folder / "video_mapping.csv").write_text("index,video_name\n0,a\n2,b\n")
    with pytest.raises(DataError, match=r"video_mapping.csv: row 2: video ids must run 0..1"):
        load_judgments(folder)
    (folder / "video_mapping.csv").unlink()
    with pytest.raises(DataError, match=r"video_mapping.csv: file not found"):
        load_judgments(folder)


def test_bad_threshold_is_a_config_error(tmp_path):
    folder = write_folder(tmp_path / "d", [row("p", 0, 1, 2, 0)])
    with pytest.raises(ConfigError, match="min_catch_accuracy"):
        load_judgments(folder, min_catch_accuracy=1.5)


def test_fingerprint_follows_judgment_bytes(tmp_path):
    folder = write_folder(tmp_path / "d", [row("p", 0, 1, 2, 0)])
    before = data_fingerprint(folder)
    (folder / "unrelated.txt").write_text("x")
    assert data_fingerprint(folder) == before and len(before) == 16
    write_folder(folder, [row("p", 0, 1, 2, 1)])
    assert data_fingerprint(folder) != before


# ---------------------------------------------------------------- command line

def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "data", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_summary(real_data_dir, capsys):
    assert judgments_main([str(real_data_dir), "--min-catch-accuracy", "0"]) == 0
    out = capsys.readouterr().out
    assert "47,126" in out and "2,358" in out and "test 50" in out and len(out.splitlines()) <= 24


def test_cli_exit_2_on_bad_input(tmp_path):
    bad = write_folder(tmp_path / "d", [row("p", 0, 1, 2, 5)])
    result = run_cli(bad)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {bad / 'all_triplets.csv'}: row 1: choice 5 is not one of the three videos (0, 1, 2)"]


def test_default_threshold_removes_exactly_the_synthetic_random_responders(synthetic_dir):
    truth = json.loads((synthetic_dir / "ground_truth" / "noise_ceiling.json").read_text())
    j = load_judgments(synthetic_dir)
    assert len(j.participants) == truth["n_attentive_participants"] < len(j.catch.participants)
    assert len(j) == truth["n_attentive_regular_triplets"]
    assert j.catch.n_excluded_rows > 0 and len(j.catch.excluded) == len(j.catch.participants) - len(j.participants)


def test_cli_bad_setting_exits_2_with_one_line(real_data_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        judgments_main([str(real_data_dir), "--min-catch-accuracy", "2"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: --min-catch-accuracy 2.0: must be a finite number in [0, 1]"]
