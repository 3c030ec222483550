"""The training loop: config parsing, metrics, determinism, resume, and the loop under Ray Train.

The Ray cases run 2 CPU workers with DDP (gloo), on Train V1 inside a Tuner (the sweep's path) and on Train V2
with a plain TorchTrainer.fit(). Each runs in its own Python process, because Ray reads RAY_TRAIN_V2_ENABLED when
ray.train is first imported; each process shuts its Ray down.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.triplet_pairs import pair_counts, similarity_from_counts
from trainables.config import TrainConfig, config_help
from trainables.embed import embed_clips, load_trained
from trainables.loop import METRICS, train


def write_prepared(folder: Path, n_train: int = 12, n_val: int = 8, seed: int = 0) -> Path:
    """A hand-made prepared folder (random clips, random triplets) in the data.prepared format."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    n = n_train + n_val
    np.save(folder / "clips.npy", rng.integers(0, 256, (n, 8, 3, 64, 64), dtype=np.uint8))
    np.save(folder / "video_ids.npy", np.arange(n, dtype=np.int64) * 2)
    for split, rows in (("train", np.arange(n_train)), ("val", np.arange(n_train, n))):
        triplets = np.array([rng.choice(rows, 3, replace=False) for _ in range(6 * len(rows))], dtype=np.int64)
        similarity, counts = _similarity(triplets - rows[0], len(rows))
        for name, array in ((f"triplets_{split}", triplets), (f"rows_{split}", rows),
                            (f"human_{split}_similarity", similarity), (f"human_{split}_counts", counts)):
            np.save(folder / f"{name}.npy", array)
    (folder / "meta.json").write_text(json.dumps({"kind": "hand-made"}))
    return folder


def _similarity(triplets: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    together, shown = pair_counts(triplets, m)
    return similarity_from_counts(together, shown), shown.astype(np.int64)


@pytest.fixture(scope="module")
def handmade_prepared(tmp_path_factory) -> Path:
    return write_prepared(tmp_path_factory.mktemp("prepared") / "folder")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs torch on one thread (conftest's one_torch_thread)."""


def _quick(prepared: Path, **overrides) -> dict:
    return {"prepared_dir": str(prepared), "epochs": 2, "batch_size": 4, "steps_per_epoch": 3, "rsa_subset": 4,
            **overrides}


# ---------------------------------------------------------------- config

def test_config_round_trips_through_the_flat_dict_and_accepts_numpy_scalars():
    config = TrainConfig.from_dict({"lora_r": np.int64(4), "lr": np.float32(0.5), "epochs": 3.0,
                                    "variant": "rsa-only", "prepared_dir": "x"})
    assert (config.model.lora_r, config.optim.epochs, config.loss.variant) == (4, 3, "rsa-only")
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert json.loads(config.to_json()) == config.to_dict()


@pytest.mark.parametrize("flat, message", [
    ({"lora_rank": 4}, "'lora_rank'"), ({"lora_r": 2.5}, "'lora_r'.*2.5"), ({"variant": "mixed"}, "variant.*mixed"),
    ({"sampling": "greedy"}, "sampling.*greedy"), ({"lora_targets": "qkv,fc9"}, "lora_targets.*fc9"),
    ({"lora_dropout": 1.0}, "lora_dropout.*1.0"), ({"gradient_checkpointing": 1}, "gradient_checkpointing"),
    ({"lr": 0.0}, "lr.*0.0"), ({"precision": "fp8"}, "precision.*fp8"), ({"steps_per_epoch": -1}, "steps_per_epoch"),
])
def test_bad_settings_name_the_key_and_the_value(flat, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(flat)


def test_every_setting_has_help_text_and_the_sweep_keys_exist():
    help_text = config_help()
    assert all(help_text.values())
    sweep_keys = {"backbone", "lora_r", "lora_alpha", "lora_dropout", "lora_targets",
                  "head_dropout", "variant", "margin", "alpha", "beta_start", "beta_end", "beta_step", "sampling",
                  "rsa_subset", "batch_size", "lr", "weight_decay", "epochs", "steps_per_epoch", "seed",
                  "prepared_dir", "gradient_checkpointing", "precision"}
    assert sweep_keys <= set(help_text)


# ---------------------------------------------------------------- loop without Ray

@pytest.mark.parametrize("variant, sampling", [("hybrid", "uniform"), ("triplet-only", "coverage"),
                                               ("rsa-only", "consensus"), ("budget-matched", "hard-negative")])
def test_every_variant_reports_the_contract_metrics_each_epoch(handmade_prepared, variant, sampling):
    history = train(_quick(handmade_prepared, variant=variant, sampling=sampling))
    assert [m["epoch"] for m in history] == [1, 2]
    for metrics in history:
        assert set(metrics) == set(METRICS)
        assert all(np.isfinite(v) for v in metrics.values())
        assert 0 <= metrics["val_ooo_acc"] <= 1 and -1 <= metrics["val_rsa"] <= 1


def test_same_seed_same_metrics_other_seed_other_metrics(handmade_prepared):
    first = train(_quick(handmade_prepared, epochs=1))
    again = train(_quick(handmade_prepared, epochs=1))
    other = train(_quick(handmade_prepared, epochs=1, seed=1))
    drop_time = lambda h: [{k: v for k, v in m.items() if k != "time_epoch_s"} for m in h]  # noqa: E731
    assert drop_time(first) == drop_time(again)
    assert drop_time(first) != drop_time(other)


def test_resuming_from_a_mid_run_checkpoint_reproduces_the_uninterrupted_run(handmade_prepared, tmp_path):
    config = _quick(handmade_prepared, epochs=3, sampling="hard-negative", variant="budget-matched")
    full = train(config, checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_001", "epoch_002", "epoch_003"]
    resumed = train({**config, "resume_from": str(tmp_path / "epoch_001")})
    assert [m["epoch"] for m in resumed] == [2, 3]
    for a, b in zip(full[1:], resumed):
        assert {k: v for k, v in a.items() if k != "time_epoch_s"} == {k: v for k, v in b.items()
                                                                        if k != "time_epoch_s"}
    saved = torch.load(tmp_path / "epoch_001" / "train_state.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["optimizer"]["state"]


def test_the_clip_settings_are_the_prepared_folders_not_the_trials(handmade_prepared):
    with pytest.raises(ValueError, match="'image_size' .*112.*the prepared folder's"):
        train(_quick(handmade_prepared, image_size=112))
    assert all(key not in config_help() for key in ("num_frames", "image_size", "frame_sampling", "resize"))


def test_a_missing_prepared_folder_is_named(tmp_path):
    with pytest.raises(ValueError, match="prepared_dir .*nowhere"):
        train({"prepared_dir": str(tmp_path / "nowhere")})


# ---------------------------------------------------------------- the loop under Ray Train

REPO = Path(__file__).resolve().parents[1]
# Each worker saves its trained adapter+head weights, so the test can compare the two workers.
_SCRIPT = r'''
import json, os, sys
import numpy as np, ray, ray.train, torch
from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer
from trainables.loop import METRICS, run_ray_worker

def worker(config):
    module = run_ray_worker(config["train"])
    rank = ray.train.get_context().get_world_rank()
    weights = torch.cat([p.detach().flatten() for p in module.parameters() if p.requires_grad]).numpy()
    np.save(os.path.join(config["out"], f"weights_rank{rank}.npy"), weights)

mode, out, train_config = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
try:
    scaling = ScalingConfig(num_workers=2, use_gpu=False,
                            **({} if ray.train.is_v2_enabled() else {"trainer_resources": {"CPU": 0}}))
    trainer = TorchTrainer(worker, train_loop_config={"train": train_config, "out": out},
                           scaling_config=scaling, run_config=RunConfig(storage_path=out, name=mode))
    if mode == "tune":
        from ray import tune
        grid = tune.Tuner(trainer).fit()
        result, columns = grid[0], list(grid.get_dataframe().columns)
    else:
        result = trainer.fit()
        columns = list(result.metrics)
    summary = {"v2": ray.train.is_v2_enabled(), "error": repr(result.error), "columns": columns,
               "metrics": {k: result.metrics.get(k) for k in METRICS}, "checkpoint": result.checkpoint.path}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f)
finally:
    ray.shutdown()
'''


def _run_ray(mode: str, v2: bool, prepared: Path, out: Path) -> dict:
    config = {"prepared_dir": str(prepared), "epochs": 2, "batch_size": 3, "steps_per_epoch": 2,
              "rsa_subset": 3, "sampling": "hard-negative"}
    env = {**os.environ, "RAY_TRAIN_V2_ENABLED": "1" if v2 else "0", "PYTHONPATH": str(REPO),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, mode, str(out), json.dumps(config)], env=env,
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "summary.json").read_text())


def _check_two_workers(summary: dict, out: Path, v2: bool) -> None:
    assert summary["v2"] is v2 and summary["error"] == "None"
    assert summary["metrics"]["epoch"] == 2
    assert all(isinstance(summary["metrics"][k], (int, float)) for k in METRICS)
    assert set(METRICS) <= set(summary["columns"])
    rank0, rank1 = np.load(out / "weights_rank0.npy"), np.load(out / "weights_rank1.npy")
    assert np.array_equal(rank0, rank1)  # DDP kept the two workers' weights identical
    model, config = load_trained(summary["checkpoint"])
    trained = np.concatenate([p.detach().flatten().numpy() for p in model.parameters() if p.requires_grad])
    assert np.allclose(trained, rank0)  # the reported checkpoint holds the trained weights


@pytest.mark.slow
def test_two_worker_ddp_inside_a_tuner_on_train_v1(handmade_prepared, tmp_path):
    summary = _run_ray("tune", False, handmade_prepared, tmp_path)
    _check_two_workers(summary, tmp_path, v2=False)


@pytest.mark.slow
def test_two_worker_ddp_with_plain_fit_on_train_v2(handmade_prepared, tmp_path):
    summary = _run_ray("fit", True, handmade_prepared, tmp_path)
    _check_two_workers(summary, tmp_path, v2=True)


# ---------------------------------------------------------------- on data from study (synthetic) and learning

@pytest.mark.slow
def test_trains_on_the_synthetic_pipeline_and_embeds_the_held_out_test_clips(synthetic_dir, tmp_path):
    from data.clips import DecodeSettings, load_clips
    from data.judgments import load_judgments
    from data.prepared import prepare_dataset

    prepared = prepare_dataset(synthetic_dir, decode=DecodeSettings(num_frames=8, image_size=64),
                               out_root=tmp_path / "prepared")
    judgments = load_judgments(synthetic_dir)
    assert not set(np.load(prepared / "video_ids.npy").tolist()) & set(judgments.test_videos.tolist())
    history = train(_quick(prepared, epochs=1, steps_per_epoch=2), checkpoint_dir=tmp_path / "ckpt")
    assert set(history[0]) == set(METRICS) and np.isfinite(history[0]["train_loss"])
    model, _ = load_trained(tmp_path / "ckpt" / "epoch_001")
    names = [judgments.video_names[v] for v in judgments.test_videos]
    clips = load_clips(synthetic_dir, names, DecodeSettings(num_frames=8, image_size=64), cache_dir=tmp_path / "c")
    embeddings = embed_clips(model, clips)
    assert embeddings.shape == (len(names), 128)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)


# Held-out learning, measured on the test videos, which data.prepared keeps out of training, in the default
# synthetic world (SyntheticConfig(): full nuisance variety, the evaluation collection) and in a second world
# (another seed, other population weights of the simulated participants), both decoded as the default run
# decodes them (4 frames, 32 px) and fine-tuned from the pretrained backbone the default run uses
# (study.pretrain; built once per test session). docs/trainer.md reports these runs.
WORLDS = {"default": {}, "second": {"seed": 1, "social_weights": (0.6, 1.2, 0.8, 1.2, 0.8, 1.0, 1.0)}}
LEARNING_RUN = {"epochs": 4, "steps_per_epoch": 30, "batch_size": 16,
                "rsa_subset": 16, "lr": 1e-3, "lora_r": 4, "lora_alpha": 8.0}
LEARNING_SEEDS = (0, 1)
UNTRAINED_SEEDS = (0, 1, 2, 3, 4)


# Measured (docs/trainer.md, third round): from the backbone pretrained as video models are (study.pretrain),
# fine-tuning raises held-out accuracy well past the bar in both worlds, and the RSA term raises held-out RSA over
# triplet-only's for both seeds in both. With the optimiser step removed the accuracy test fails (checked).

@pytest.fixture(scope="module")
def held_out(request, tmp_path_factory) -> dict:
    """Test-video (3-way odd-one-out accuracy, Spearman RSA with the true similarity) per model and seed, for the
    world named by the test's indirect parameter."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # module-scoped, so set up before the autouse one-thread fixture applies
    try:
        scores = _held_out_scores(tmp_path_factory.mktemp(f"learning-{request.param}"), WORLDS[request.param])
        print(f"held-out scores, {request.param} world: {scores}")  # shown with -s; docs/trainer.md quotes them
        return scores
    finally:
        torch.set_num_threads(threads)


def _held_out_scores(root: Path, world: dict, overrides: dict | None = None,
                     variants: tuple = ("hybrid", "triplet-only")) -> dict:
    """world: SyntheticConfig fields; overrides: laid over LEARNING_RUN (docs/trainer.md's lever search)."""
    from data.clips import DecodeSettings
    from data.judgments import load_judgments
    from data.prepared import prepare_dataset
    from study.pretrain import ensure_pretrained
    from study.synthetic import SyntheticConfig, generate_benchmark
    from trainables.embed import backbone_features
    from trainables.model import build_model

    data_dir = generate_benchmark(root / "benchmark", SyntheticConfig(**world))
    decode = DecodeSettings(num_frames=4, image_size=32)
    prepared = prepare_dataset(data_dir, decode=decode, out_root=root / "prepared")
    run = {**LEARNING_RUN, **(overrides or {}), "backbone": str(ensure_pretrained()), "prepared_dir": str(prepared)}
    score, n_triplets, clips = held_out_scorer(data_dir, load_judgments(data_dir), decode, root / "clips")
    scores = {"n_triplets": n_triplets, "untrained": []}
    # The base: the pretrained backbone's own CLS features, and the untrained model (fresh head and adapters).
    base_config = TrainConfig.from_dict({**run, "seed": 0})
    scores["base_features"] = score(None, backbone_features(base_config, clips))
    for seed in UNTRAINED_SEEDS:
        torch.manual_seed(seed)
        scores["untrained"].append(score(build_model(TrainConfig.from_dict({**run, "seed": seed}).model, decode)))
    for variant in variants:
        scores[variant] = []
        for seed in LEARNING_SEEDS:
            out = root / f"{variant}-{seed}"
            train({**run, "variant": variant, "seed": seed}, checkpoint_dir=out)
            scores[variant].append(score(load_trained(out / f"epoch_{run['epochs']:03d}")[0]))
    return scores


def held_out_scorer(data_dir: Path, judgments, decode, cache_dir: Path):
    """(score, n_triplets, clips): score(model) or score(None, embeddings) = (3-way accuracy on the human
    triplets within the test videos, Spearman RSA of the cosine RDM with 1 - the true similarity)."""
    from metrics.compare import compare_rdms
    from metrics.odd_one_out import per_triplet_correct
    from metrics.rdm import model_rdm
    from data.clips import load_clips

    test = np.sort(judgments.test_videos)
    clips = load_clips(data_dir, [judgments.video_names[v] for v in test], decode, cache_dir=cache_dir)
    position = np.full(judgments.n_videos, -1)
    position[test] = np.arange(len(test))
    triplets = position[judgments.within(test).triplets]
    true = np.load(data_dir / "ground_truth" / "true_similarity.npy")[np.ix_(test, test)]

    def score(model, embeddings=None) -> tuple[float, float]:
        rdm = model_rdm(embed_clips(model, clips) if model is not None else embeddings)
        return (float(per_triplet_correct(1 - rdm, triplets).mean()),
                float(compare_rdms(rdm, 1 - true, method="spearman")))

    return score, len(triplets), clips


@pytest.mark.slow
@pytest.mark.parametrize("held_out", ["default", "second"], indirect=True)
def test_hybrid_training_raises_held_out_odd_one_out_accuracy_beyond_seed_and_sampling_noise(held_out):
    # Bar: the best base (the pretrained backbone's CLS features, and 5 untrained seeds: head and adapter init),
    # plus a one-sided 99% binomial bound on the difference of two accuracies over the same number of test
    # triplets (variance <= 0.25/n each). Figures measured: docs/trainer.md.
    bases = [held_out["base_features"][0], *(acc for acc, _ in held_out["untrained"])]
    bar = max(bases) + 2.33 * np.sqrt(2 * 0.25 / held_out["n_triplets"])
    assert held_out["n_triplets"] >= 600
    for seed, (accuracy, _) in zip(LEARNING_SEEDS, held_out["hybrid"]):
        assert accuracy > bar, (seed, accuracy, bar, bases)


@pytest.mark.slow
@pytest.mark.parametrize("held_out", ["default", "second"], indirect=True)
def test_the_rsa_term_raises_held_out_rsa_over_triplet_only_on_the_same_budget(held_out):
    # Paired by seed (same init, triplet order, steps and lr): the hybrid's test-video RSA with the true
    # similarity is above triplet-only's. Figures measured: docs/trainer.md.
    for seed, (_, hybrid), (_, triplet_only) in zip(LEARNING_SEEDS, held_out["hybrid"], held_out["triplet-only"]):
        assert hybrid > triplet_only, (seed, hybrid, triplet_only)
