"""The synthetic benchmark: same layout as the real data, honest ground truth, determinism, cache, CLI."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import study.synthetic as synthetic
import study.synthetic.folder as synthetic_folder
from metrics.odd_one_out import odd_one_out_accuracy, per_triplet_correct
from common.errors import ConfigError
from data.judgments import load_judgments
from data.splits import similarity_matrix
from study.synthetic import SyntheticConfig, ensure_benchmark, expected_ooo_accuracy, generate_benchmark
from data.clips import DecodeSettings, decode_clip, write_clip

TABLES = ("all_triplets.csv", "video_mapping.csv", "test.csv", "train.csv", "annotations.csv", "captions.csv")
TRUTH = ("latents.csv", "true_similarity.npy", "noise_ceiling.json", "config.json")


def _mini(**overrides) -> SyntheticConfig:
    """Smaller than tiny: for tests that generate their own folders."""
    base = dict(n_videos=12, test_fraction=0.25, n_participants=4, n_sets=2, trials_per_set=10,
                n_replications=4, num_frames=4, frame_size=32)
    return SyntheticConfig.tiny(**{**base, **overrides})


def _digests(folder: Path) -> dict[str, str]:
    files = [folder / name for name in TABLES] + [folder / "ground_truth" / name for name in TRUTH]
    files += sorted((folder / "videos").glob("*.mp4"))
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.mark.parametrize("name", TABLES)
def test_same_files_and_columns_as_the_real_data(synthetic_dir, real_data_dir, name):
    ours, real = pd.read_csv(synthetic_dir / name), pd.read_csv(real_data_dir / name, nrows=5)
    assert list(ours.columns) == list(real.columns)
    assert len(ours) > 0


def test_loader_reads_it_drops_catch_trials_and_the_random_responder(synthetic_dir):
    config = SyntheticConfig.tiny()
    j = load_judgments(synthetic_dir)
    assert j.catch.n_catch_trials == config.n_participants * config.n_sets
    assert j.catch.n_rows == config.n_participants * config.n_sets * (config.trials_per_set + 1)
    assert len(j.catch.excluded) == config.n_random_participants
    assert len(j) == (config.n_participants - config.n_random_participants) * config.n_sets * config.trials_per_set
    assert len(j.video_names) == config.n_videos and len(j.test_videos) == config.n_test
    names = pd.read_csv(synthetic_dir / "video_mapping.csv")["video_name"]
    assert all((synthetic_dir / "videos" / n).stat().st_size > 0 for n in names)


def test_catch_trials_repeat_one_video_and_say_false_like_the_real_file(synthetic_dir):
    rows = pd.read_csv(synthetic_dir / "all_triplets.csv")
    s = rows[["stim1_name", "stim2_name", "stim3_name"]].to_numpy()
    distinct = np.array([len(set(r)) for r in s])
    assert set(distinct) == {2, 3} and not rows["catch_trial_flag"].any()
    per_set = rows.assign(catch=distinct == 2).groupby(["participation", "task"])["catch"].sum()
    assert (per_set == 1).all()


def test_ground_truth_files(synthetic_dir):
    truth = synthetic_dir / "ground_truth"
    sim = np.load(truth / "true_similarity.npy")
    latents = pd.read_csv(truth / "latents.csv")
    assert sim.shape == (42, 42) and np.allclose(sim, sim.T) and np.allclose(np.diag(sim), 1)
    assert list(latents["video_name"]) == list(pd.read_csv(synthetic_dir / "video_mapping.csv")["video_name"])
    z = latents[list(synthetic.SOCIAL_LATENTS)].to_numpy()
    np.testing.assert_allclose(sim, synthetic.true_similarity(z, SyntheticConfig.tiny().social_weights), atol=1e-5)
    ceiling = json.loads((truth / "noise_ceiling.json").read_text())
    assert 1 / 3 < ceiling["ooo_accuracy_three_way"] <= ceiling["ooo_accuracy_three_way_best_possible"] < 1
    assert 0.5 < ceiling["ooo_accuracy_paper"] < 1 and 0 < ceiling["split_half_reliability"] < 1
    assert abs(ceiling["pixel_similarity_spearman"]) < 0.2, "raw pixels must not give away the human similarity"


def test_expected_accuracy_matches_the_sampled_choices(synthetic_dir):
    """The expectation comes from choice probabilities; the loaded (sampled) choices must agree with it."""
    ceiling = json.loads((synthetic_dir / "ground_truth" / "noise_ceiling.json").read_text())
    sim = np.load(synthetic_dir / "ground_truth" / "true_similarity.npy")
    j = load_judgments(synthetic_dir)
    for rule in ("three_way", "paper"):
        sampled = odd_one_out_accuracy(sim, j.triplets, rule=rule)
        assert abs(sampled - ceiling[f"ooo_accuracy_{rule}"]) < 0.035, rule


def test_expected_accuracy_against_a_naive_enumeration():
    rng = np.random.default_rng(3)
    sim = rng.random((6, 6))
    sim = (sim + sim.T) / 2
    stims = np.array([[0, 1, 2], [3, 4, 5], [5, 0, 3]])
    probs = rng.dirichlet(np.ones(3), size=3)
    naive = {"three_way": 0.0, "paper": 0.0}
    for t, p in zip(stims, probs):
        for k in range(3):  # position k chosen as odd one out: order [kept, kept, odd]
            ordered = np.array([[*np.delete(t, k), t[k]]])
            for rule in naive:
                naive[rule] += p[k] * per_triplet_correct(sim, ordered, rule=rule)[0] / len(stims)
    got = expected_ooo_accuracy(sim, stims, probs)
    assert got["three_way"] == pytest.approx(naive["three_way"]) and got["paper"] == pytest.approx(naive["paper"])


def test_split_half_reliability_agrees_with_the_data_s_own_halves(synthetic_dir):
    """The Monte Carlo truth vs the generated data split by participants (one sample, so a loose band)."""
    ceiling = json.loads((synthetic_dir / "ground_truth" / "noise_ceiling.json").read_text())
    j = load_judgments(synthetic_dir)
    rng, corrected = np.random.default_rng(0), []
    for _ in range(20):
        half = rng.permutation(len(j.participants)) < len(j.participants) // 2
        a, b = (similarity_matrix(j.triplets[h[j.participant]], j.n_videos) for h in (half, ~half))
        both = np.triu((a.counts > 0) & (b.counts > 0), k=1)
        r = spearmanr(a.similarity[both], b.similarity[both]).statistic
        corrected.append(2 * r / (1 + r))
    assert abs(np.mean(corrected) - ceiling["split_half_reliability"]) < 0.1


def test_same_config_same_files_and_clips_that_decode_to_the_same_pixels(tmp_path, monkeypatch):
    # Tables and ground truth are byte-identical, and every clip decodes (decord, the path a user's real mp4s take,
    # resizing while decoding included) to the same pixels in both generations: lossless H.264 (qp 0, yuv444p),
    # whose only loss, the RGB -> YUV rounding, is deterministic (at most 2 levels from the rendered frames).
    rendered = {}

    def recording(path, frames, **kwargs):
        rendered[Path(path).name] = np.array(frames)
        return write_clip(path, frames, **kwargs)

    monkeypatch.setattr(synthetic_folder, "write_clip", recording)
    first = generate_benchmark(tmp_path / "a", _mini(frame_size=64))
    second = generate_benchmark(tmp_path / "b", _mini(frame_size=64))
    a, b = _digests(first), _digests(second)
    assert {k: v for k, v in a.items() if not k.endswith(".mp4")} == {k: v for k, v in b.items()
                                                                       if not k.endswith(".mp4")}
    assert sorted(k for k in a if k.endswith(".mp4")) == sorted(k for k in b if k.endswith(".mp4"))
    native = DecodeSettings(num_frames=4, image_size=64)  # the clips' own frame count and size
    small = DecodeSettings(num_frames=2, image_size=32)  # resized by decord while decoding
    for clip in sorted((first / "videos").glob("*.mp4")):
        decoded = decode_clip(clip, native)
        assert np.array_equal(decoded, decode_clip(second / "videos" / clip.name, native)), clip.name
        assert np.array_equal(decode_clip(clip, small), decode_clip(second / "videos" / clip.name, small))
        gap = np.abs(decoded.transpose(0, 2, 3, 1).astype(int) - rendered[clip.name])
        assert gap.max() <= 2, (clip.name, gap.max())
    other = _digests(generate_benchmark(tmp_path / "c", _mini(seed=1)))
    assert other["all_triplets.csv"] != a["all_triplets.csv"]
    assert other["true_similarity.npy"] != a["true_similarity.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"], "no temporary folders left behind"


def test_the_clip_encoding_names_the_cached_benchmark(monkeypatch):
    """A cached world written with another encoding is not reused: the encoding is part of the folder's key."""
    key = SyntheticConfig().key()
    monkeypatch.setattr("study.synthetic.config.CLIP_ENCODING", "x264-crf12")
    assert SyntheticConfig().key() != key


def test_nuisance_strength_shrinks_only_the_nuisance_factors(tmp_path):
    """0 puts every video in one neutral scene, 0.5 halves the spread; latents and judgments stay the same."""
    def read(strength):
        folder = generate_benchmark(tmp_path / str(strength), _mini(nuisance_strength=strength))
        return pd.read_csv(folder / "ground_truth" / "latents.csv"), pd.read_csv(folder / "all_triplets.csv")

    (full, judged), (half, judged_half), (none, judged_none) = read(1.0), read(0.5), read(0.0)
    nuisance = [c for c in full.columns if c.startswith("nuisance_")]
    assert (none[nuisance].nunique() == 1).all(), "strength 0 leaves some nuisance factor varying"
    for column in ("nuisance_bg_r", "nuisance_scale", "nuisance_offset_x", "nuisance_axis_angle"):
        assert half[column].std() == pytest.approx(0.5 * full[column].std(), rel=1e-3), column
    social = list(synthetic.SOCIAL_LATENTS)
    assert full[social].equals(half[social]) and full[social].equals(none[social])
    assert judged.equals(judged_half) and judged.equals(judged_none)


def test_ensure_benchmark_generates_once_and_keys_by_config(tmp_path, monkeypatch):
    calls = []
    real = synthetic_folder.write_all
    monkeypatch.setattr(synthetic_folder, "write_all", lambda out, cfg: calls.append(out) or real(out, cfg))
    monkeypatch.setenv("SOCIAL_ALIGN_CACHE", str(tmp_path))
    first = ensure_benchmark(config=_mini())
    assert first.parent == tmp_path / "synthetic" and ensure_benchmark(config=_mini()) == first
    assert len(calls) == 1
    other = ensure_benchmark(root=tmp_path / "elsewhere", config=_mini(temperature=0.2))
    assert other != first and len(calls) == 2
    assert sorted(p.name for p in first.parent.iterdir()) == [first.name], "no temporary folders left behind"


def test_ensure_benchmark_keeps_a_folder_another_process_finished_first(tmp_path, monkeypatch):
    """Two processes race: the loser's rename fails, and it returns the winner's folder untouched."""
    real = synthetic_folder.write_all

    def race(out, cfg):
        real(out, cfg)
        real(out.parent / f"synthetic-{cfg.key()}", cfg)  # the other process renames its folder in meanwhile

    monkeypatch.setattr(synthetic_folder, "write_all", race)
    target = ensure_benchmark(root=tmp_path, config=_mini())
    assert (target / "ground_truth" / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="mine.*not empty"):
        generate_benchmark(tmp_path / "mine", _mini())
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["thesis.tex"]


@pytest.mark.parametrize("kwargs, message", [
    ({"n_videos": 3}, r"n_videos .*>= 9.*3"),
    ({"temperature": 0}, r"temperature .*0"),
    ({"lapse_rate": 1.5}, r"lapse_rate .*1\.5"),
    ({"frame_size": 33}, r"frame_size must be even.*33"),
    ({"n_random_participants": 14}, r"n_random_participants .*14"),
    ({"social_weights": (1, 2)}, r"social_weights .*\(1\.0, 2\.0\)"),
    ({"n_videos": 10}, r"test_fraction=0\.2 leaves 2 test"),
    ({"nuisance_strength": 1.5}, r"nuisance_strength .*1\.5"),
    ({"main_includes_test": False}, r"main_includes_test=False needs n_eval_participants >= 1"),
    ({"main_includes_test": "no"}, r"main_includes_test must be true or false, got 'no'"),
])
def test_bad_config_names_the_setting_and_value(kwargs, message):
    with pytest.raises(ConfigError, match=rf"SyntheticConfig\.{message}"):
        SyntheticConfig.tiny(**kwargs)


@pytest.mark.parametrize("argv, message", [
    (["--n-videos", "3"], "error: --n-videos must be an integer >= 9, got 3"),
    (["--temperature", "warm"], "invalid float value: 'warm'"),
    (["--social-weights", "1,x"], "expected comma-separated numbers"),
])
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        synthetic.main(["--out", str(tmp_path / "out"), "--tiny", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_writes_a_benchmark(tmp_path, capsys):
    argv = ["--out", str(tmp_path / "out"), "--tiny", "--n-videos", "12", "--test-fraction", "0.25",
            "--n-participants", "3", "--n-sets", "1", "--n-replications", "2", "--num-frames", "2", "--seed", "7"]
    assert synthetic.main(argv) == 0
    assert "ooo_accuracy_three_way" in capsys.readouterr().out
    config = json.loads((tmp_path / "out" / "ground_truth" / "config.json").read_text())
    assert config["seed"] == 7 and config["n_videos"] == 12


def test_the_evaluation_collection_lies_within_the_test_and_the_prepared_validation_videos(tmp_path):
    from data.splits import paper_split, split_triplets

    config = _mini(n_videos=40, n_eval_participants=2, seed=5)
    folder = generate_benchmark(tmp_path / "bench", config)
    j = load_judgments(folder)
    truth = json.loads((folder / "ground_truth" / "noise_ceiling.json").read_text())
    split = paper_split(j, val_fraction=config.val_fraction, seed=config.split_seed)
    assert truth["eval_val_videos"] == split.val.tolist() and truth["eval_test_videos"] == j.test_videos.tolist()
    rows = pd.read_csv(folder / "all_triplets.csv")
    for part, videos in (("test", split.test), ("val", split.val)):
        mine = rows[rows["participation"].str.startswith(f"eval-{part}-")]
        assert mine["participation"].nunique() == 2
        assert np.isin(mine[["stim1_name", "stim2_name", "stim3_name"]].to_numpy(), videos).all()
    # every regular evaluation trial survives the loader and lands in its part (attentive people, catch kept)
    parts = split_triplets(j, split)
    per_person = config.n_sets * config.trials_per_set
    assert len(parts.test) >= 2 * per_person and len(parts.val) >= 2 * per_person
    assert truth["eval_test_n_regular_triplets"] == 2 * per_person


def test_a_main_collection_without_the_test_videos_leaves_them_to_the_evaluation_collection(tmp_path):
    config = _mini(n_videos=40, n_eval_participants=2, seed=5)
    apart = generate_benchmark(tmp_path / "apart", dataclasses.replace(config, main_includes_test=False))
    together = generate_benchmark(tmp_path / "together", config)

    def main_rows(folder: Path) -> pd.DataFrame:
        rows = pd.read_csv(folder / "all_triplets.csv")
        return rows[~rows["participation"].str.startswith("eval-")]

    stims = main_rows(apart)[["stim1_name", "stim2_name", "stim3_name"]].to_numpy()
    test = pd.read_csv(apart / "test.csv")["index"].to_numpy()
    assert not np.isin(stims, test).any()  # catch trials too
    assert np.isin(stims, np.setdiff1d(np.arange(40), test)).all()
    assert len(stims) == len(main_rows(together))  # the same people and trials, over other videos
    j = load_judgments(apart)
    within_test = j.within(j.test_videos)
    assert len(within_test) == 2 * config.n_sets * config.trials_per_set  # the evaluation collection's, only
    # the latents, scenes and clips are the same draw either way: only who judged what differs
    assert _digests(apart)["latents.csv"] == _digests(together)["latents.csv"]


def test_the_main_collection_over_every_video_is_the_rows_written_before_the_setting_existed(tmp_path):
    # judgments_among over every id reproduces simulate_judgments exactly, so older configs keep their bytes
    from study.synthetic.participants import judgments_among, simulate_judgments

    config, latents = _mini(n_videos=20), np.random.default_rng(3).random((20, 7))
    old, old_trials = simulate_judgments(np.random.default_rng(9), latents, config)
    new, new_trials = judgments_among(np.random.default_rng(9), latents, np.arange(20), config)
    pd.testing.assert_frame_equal(old, new)
    assert np.array_equal(old_trials["stims"], new_trials["stims"])
