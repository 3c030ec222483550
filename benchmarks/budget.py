"""The judgment budget (issue 27), in the synthetic world, where the truth is known and the population answers any
triplet: (a) the data-efficiency curve: held-out 3-way accuracy and explained variance of the fine-tuned model, the
linear probe and the base against the training judgments used; (b) the collection campaign: each strategy's
held-out gain over the base against the judgments spent. Criteria and results: benchmarks/BUDGET.md.

Every training run takes the same number of optimiser steps whatever its budget (epochs of a full pass, capped,
until the steps are spent), so the curve measures data, not compute."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.budget_plots import plot_campaign, plot_curve
from benchmarks.budget_stats import boot_gain, curve_headline, interval, resamples
from benchmarks.common import BenchSettings
from data.budget import JudgmentBudget
from data.clips import DecodeSettings
from search_spaces import SYNTHETIC_CLIPS
from data.prepared import prepare_budget, prepare_dataset, read_meta
from study.budget.campaign import CampaignSettings, embed_rows, equal_steps, fine_tune, run_campaign
from study.budget.heldout import score, test_set
from study.budget.population import load_world
from study.budget.strategies import STRATEGIES
from study.synthetic import SyntheticConfig, ensure_benchmark

DECODE = DecodeSettings(**SYNTHETIC_CLIPS)
# A 120-video world with the nuisance dialled down to 0.3, where the random tiny preset learns in minutes on CPU
# (docs/trainer.md); the test videos are judged only by the evaluation collection (a held-out set).
WORLD = dict(n_videos=120, test_fraction=0.3, num_frames=8, frame_size=32, nuisance_strength=0.3,
             n_participants=40, n_random_participants=2, n_sets=6, trials_per_set=20, n_eval_participants=12,
             n_replications=20, n_captions=1, main_includes_test=False)
QUICK_WORLD = {**WORLD, "n_videos": 45, "n_participants": 8, "n_sets": 3, "trials_per_set": 15,
               "n_eval_participants": 4}
TRAIN = {"batch_size": 8, "steps_per_epoch": 10, "rsa_subset": 4,
         "lr": 1e-3, "lora_r": 4, "lora_alpha": 8.0}
TOTAL_STEPS = {False: 30, True: 2}
QUICK_TRAIN = {**TRAIN, "batch_size": 4, "steps_per_epoch": 2, "rsa_subset": 4}
FRACTIONS = {False: (0.1, 0.3, 1.0), True: (0.3, 1.0)}
SEEDS = {False: (0, 1), True: (0,)}
CAMPAIGN_SEEDS = {False: (0,), True: (0,)}
CAMPAIGN = {False: {"start_fraction": 0.1, "rounds": 2, "batch_share": 0.2},
            True: {"start_fraction": 0.3, "rounds": 1, "batch_share": 0.2}}
# `--size gpu`: the default world (400 videos, 200 test videos judged by the evaluation collection alone, 5,280
# test triplets) and the learning tests' training (tests/test_train.py LEARNING_RUN: 4 x 30 steps of 16 triplets)
# from the pretrained backbone (study.pretrain), which gains about +0.10 held-out accuracy with every judgment.
GPU_TRAIN = {"batch_size": 16, "steps_per_epoch": 30, "rsa_subset": 16,
             "lr": 1e-3, "lora_r": 4, "lora_alpha": 8.0}
GPU = {"world": {}, "train": GPU_TRAIN, "total_steps": 120, "fractions": (0.03, 0.1, 0.3, 0.6, 1.0),
       "seeds": (0, 1, 2), "campaign_seeds": (0, 1, 2),
       "campaign": {"start_fraction": 0.1, "rounds": 2, "batch_share": 0.2}}
# `--quick --size gpu`: the same world (so its caches are the GPU run's) with toy training, to check the path.
GPU_QUICK = {**GPU, "train": {**GPU_TRAIN, "batch_size": 4, "steps_per_epoch": 2, "rsa_subset": 4},
             "total_steps": 2, "fractions": (0.03, 1.0), "seeds": (0,), "campaign_seeds": (0,),
             "campaign": {"start_fraction": 0.1, "rounds": 1, "batch_share": 0.2}}
PAPER_JUDGMENTS = 49_484
_START = time.perf_counter()  # all_triplets.csv rows of the real study (the paper's "about 49,000")


def plan(settings: BenchSettings) -> dict:
    """The run's sizes: world, training, steps, budgets, seeds and campaign, by --size and --quick."""
    if settings.size == "gpu":
        from study.pretrain import ensure_pretrained

        chosen = GPU_QUICK if settings.quick else GPU
        return {**chosen, "train": {**chosen["train"], "backbone": str(ensure_pretrained())}}
    quick = settings.quick
    return {"world": QUICK_WORLD if quick else WORLD, "train": QUICK_TRAIN if quick else TRAIN,
            "total_steps": TOTAL_STEPS[quick], "fractions": FRACTIONS[quick], "seeds": SEEDS[quick],
            "campaign_seeds": CAMPAIGN_SEEDS[quick], "campaign": CAMPAIGN[quick]}


def run(settings: BenchSettings, work: Path, out: Path | None = None) -> dict:
    sizes = plan(settings)
    # Reused when already there (a world renders with PyAV; a --work-dir holding it needs no video writer).
    world_dir = ensure_benchmark(work / "synthetic", SyntheticConfig(**sizes["world"]))
    test = test_set(world_dir, DECODE, work / "clips")
    full = prepare_dataset(world_dir, decode=DECODE, out_root=work / "prepared")
    train = sizes["train"]
    base = score(_base_embeddings(full, train, test), test)
    curve = data_efficiency(full, test, sizes, work)
    campaign = campaign_runs(world_dir, full, test, sizes, work)
    result = {"name": "budget", "size": settings.size, "world": sizes["world"], "train": train,
              "total_steps": sizes["total_steps"], "seeds": list(sizes["seeds"]),
              "campaign_seeds": list(sizes["campaign_seeds"]), "n_test_triplets": len(test.triplets),
              "n_test_videos": len(test.videos), "base": _public(base), "curve": curve,
              "campaign": campaign, "paper_judgments": PAPER_JUDGMENTS}
    result["headline"] = headlines(result, base, np.random.default_rng(settings.seed))
    if out is not None:
        plot_curve(result, Path(out) / "budget_curve.png")
        plot_campaign(result, Path(out) / "budget_campaign.png")
    _drop_credit(result)
    return result


def _base_embeddings(full: Path, train: dict, test) -> np.ndarray:
    from trainables.config import TrainConfig
    from trainables.embed import backbone_features

    return backbone_features(TrainConfig.from_dict({**train, "prepared_dir": str(full)}), test.clips)


def data_efficiency(full: Path, test, sizes: dict, work: Path) -> list[dict]:
    """One row per (variant, fraction, seed): training triplets used and the held-out scores."""
    rows = []
    for fraction in sizes["fractions"]:
        for seed in sizes["seeds"]:
            folder = prepare_budget(full, JudgmentBudget(fraction, "triplets", seed))
            n = read_meta(folder).n_triplets["train"]
            for variant in ("hybrid", "linear-probe"):
                config = {**equal_steps(sizes["train"], n, sizes["total_steps"]), "variant": variant,
                          "judgment_fraction": fraction}
                checkpoint = fine_tune(full, config, seed, work)
                rows.append({"variant": variant, "fraction": fraction, "seed": seed, "n_train_triplets": n,
                             **score(embed_rows(checkpoint, test.clips), test)})
                _progress("curve", rows[-1])
    return rows


def campaign_runs(world_dir: Path, full: Path, test, sizes: dict, work: Path) -> list[dict]:
    world = load_world(world_dir)
    steps = sizes["campaign"]
    batch = max(1, round(steps["batch_share"] * read_meta(full).n_triplets["train"]))
    rows = []
    for seed in sizes["campaign_seeds"]:
        for name in STRATEGIES:
            settings = CampaignSettings(strategy=name, seed=seed, start_fraction=steps["start_fraction"], batch=batch,
                                        rounds=steps["rounds"], train=sizes["train"],
                                        total_steps=sizes["total_steps"], decode=DECODE)
            rows += run_campaign(world, settings, test, work)
            for row in rows[-(steps["rounds"] + 1):]:
                _progress("campaign", row)
    return rows


def headlines(result: dict, base: dict, rng: np.random.Generator) -> dict:
    """(a) gain curve and judgments to 90% of the full-data gain, per variant; (b) each strategy's gain per round,
    its paired difference from uniform at the same round, and whether it reaches uniform's full-data gain (the
    curve's hybrid at fraction 1) with at most half the judgments."""
    curve, out = result["curve"], {"curve": {}, "campaign": {}}
    for variant in ("hybrid", "linear-probe"):
        rows = [r for r in curve if r["variant"] == variant]
        fractions = sorted({r["fraction"] for r in rows})
        n = np.array([np.mean([r["n_train_triplets"] for r in rows if r["fraction"] == f]) for f in fractions])
        credits = [np.stack([r["credit"] for r in rows if r["fraction"] == f]) for f in fractions]
        out["curve"][variant] = {"n": n.tolist(), "fractions": fractions,
                                 **curve_headline(n, credits, base["credit"], rng),
                                 "accuracy": [float(c.mean()) for c in credits],
                                 "explained_variance": [_mean_range(rows, f, "explained_variance") for f in fractions]}
    full_gain = out["curve"]["hybrid"]["gain"][-1]
    n_full = out["curve"]["hybrid"]["n"][-1]
    out["campaign"] = campaign_headline(result["campaign"], base["credit"], full_gain, n_full, rng)
    return out


def campaign_headline(rows: list[dict], base: np.ndarray, full_gain: float, n_full: float,
                      rng: np.random.Generator) -> dict:
    out = {"uniform_full_data_gain": full_gain, "n_full": n_full}
    rounds = sorted({r["round"] for r in rows})
    seeds = sorted({r["seed"] for r in rows})
    draws = resamples(len(seeds), len(base), rng)
    by = {(r["strategy"], r["round"], r["seed"]): r for r in rows}
    for name in sorted({r["strategy"] for r in rows}):
        per_round = []
        for k in rounds:
            credit = np.stack([by[(name, k, s)]["credit"] for s in seeds])
            uniform = np.stack([by[("uniform", k, s)]["credit"] for s in seeds])
            gain = boot_gain(credit, base, draws)
            versus = gain - boot_gain(uniform, base, draws)
            n = float(np.mean([by[(name, k, s)]["n_train_triplets"] for s in seeds]))
            per_round.append({"round": k, "n": n, "gain": float((credit - base).mean()), "interval": interval(gain),
                              "minus_uniform": float((credit - uniform).mean()), "minus_uniform_interval":
                              interval(versus), "p_reaches_full_gain": float((gain >= full_gain).mean())})
        half = [p for p in per_round if p["n"] <= 0.5 * n_full]
        # Undefined (None) where uniform's full data gains nothing over the base: there is no gain to reach.
        out[name] = {"rounds": per_round, "reaches_full_gain_with_half": None if not full_gain > 0 else bool(
            half and max(p["gain"] for p in half) >= full_gain)}
    return out


def _progress(part: str, row: dict) -> None:
    """One line per scored model (the log keeps what a run cut short had measured)."""
    shown = {k: v for k, v in row.items() if k not in ("credit", "explained_variance")}
    print(f"[budget] {part} {shown} ev={row['explained_variance']:.4f} t={time.perf_counter() - _START:.0f}s",
          flush=True)


def _mean_range(rows, fraction, key) -> list[float]:
    v = [r[key] for r in rows if r["fraction"] == fraction]
    return [float(np.mean(v)), float(np.min(v)), float(np.max(v))]


def _public(scores: dict) -> dict:
    return {k: v for k, v in scores.items() if k != "credit"}


def _drop_credit(result: dict) -> None:
    for key in ("curve", "campaign"):
        result[key] = [_public(r) for r in result[key]]
