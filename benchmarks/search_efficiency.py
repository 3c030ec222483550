"""4. Search efficiency on the synthetic benchmark: Optuna (TPE) + ASHA versus random search without early
stopping, at the same number of trials; best validation odd-one-out accuracy reached against trial-epochs
spent, over several seeds, with a plot.

Both sides run the same Tune function trainable (the trainer's loop in the trial process, one CPU each) over
the `smoke` space's searched parameters, through the same `OptunaSearch` wrapper: only the sampler (TPE vs
random) and the scheduler (ASHA vs none) differ. A callback records every reported epoch in arrival order,
which is what "trial-epochs spent" counts.

Then, per seed, the best configuration each search found (highest validation accuracy of any of its trials) and
the space's first point (the paper's configuration, `points_to_evaluate`) are trained again with
`trainables.loop.train` on the same seed and scored on the held-out test videos, with paired 95% intervals over
test videos (analysis.suite.paired_rows): whether the search's pick beats the paper's point where it counts.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import study.sweep.train_v1  # noqa: F401 - first: ray.train reads RAY_TRAIN_V2_ENABLED when imported

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

import search_spaces
from benchmarks.common import BenchSettings, spread
from benchmarks.steps import SWEEP_DEFAULT, benchmark_data
from common.atomic import atomic_path
from data.clips import DECODE_KEYS, DecodeSettings
from data.prepared import prepare_dataset
from study.pretrain import resolve_backbone
from study.sweep import resolve_trial_config
from study.sweep.tune import tune_domain

METRIC = "val_ooo_acc"
METHODS = ("optuna_asha", "random_full")


def run(settings: BenchSettings, work_dir: Path, plot_path: Path | None = None) -> dict:
    # Full size: the 24 trials per search (TPE leaves its random start-up after 10), 3 seeds, and the
    # smoke space's own budget (4 epochs of 30 steps), so the best configurations are the default run's kind.
    size = dict(trials=2, epochs=2, steps=1, seeds=1) if settings.quick else dict(trials=24, epochs=4, steps=30,
                                                                                     seeds=3)
    fixed = _fixed(settings, work_dir, size)
    ray.init(address="local", num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"RAY_TRAIN_V2_ENABLED": "0"}})
    try:
        runs = {method: [_search(method, settings.seed + k, fixed, size, work_dir) for k in range(size["seeds"])]
                for method in METHODS}
    finally:
        ray.shutdown()
    result = {"name": "search_efficiency", "space": "smoke", "size": size, "runs": runs, **summary(runs),
              "held_out": held_out_comparison(runs, fixed, work_dir)}
    if plot_path is not None:
        result["plot"] = str(plot_curves(runs, plot_path))
    return result


def _fixed(settings: BenchSettings, work_dir: Path, size: dict) -> dict:
    shape = SWEEP_DEFAULT
    decode = DecodeSettings(num_frames=shape.num_frames, image_size=shape.image_size)
    prepared = prepare_dataset(benchmark_data(work_dir, settings.quick), decode=decode,
                               out_root=work_dir / "prepared")
    fixed = dict(search_spaces.get("smoke").fixed)
    # The smoke space names the synthetic pretrained backbone; trials get its save_pretrained folder.
    fixed["backbone"] = resolve_backbone(fixed["backbone"])
    fixed = {k: v for k, v in fixed.items() if k not in DECODE_KEYS}  # the prepared folder's: trials read them there
    return {**fixed, "prepared_dir": str(prepared), "epochs": size["epochs"],
            "steps_per_epoch": size["steps"], "seed": settings.seed}


def _search(method: str, seed: int, fixed: dict, size: dict, work_dir: Path) -> dict:
    """One search; returns the (trial, epoch, metric) reports in arrival order and the wall time."""
    space = search_spaces.get("smoke")
    if space.is_grid:
        raise ValueError(f"search efficiency needs a sampled space, not a grid: {space.name!r}")
    params = {key: tune_domain(param) for key, param in space.params.items()}
    sampler = optuna.samplers.TPESampler(seed=seed) if method == "optuna_asha" else \
        optuna.samplers.RandomSampler(seed=seed)
    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=size["epochs"], grace_period=1,
                              reduction_factor=3) if method == "optuna_asha" else None
    arrivals = _Arrivals(tuple(space.params))
    tuner = tune.Tuner(_trial, param_space={**fixed, **params},
                       tune_config=tune.TuneConfig(metric=METRIC, mode="max", num_samples=size["trials"],
                                                   search_alg=OptunaSearch(sampler=sampler), scheduler=scheduler,
                                                   reuse_actors=True),  # same for both: no start-up per trial
                       run_config=tune.RunConfig(name=f"{method}-{seed}-{uuid.uuid4().hex[:6]}", verbose=0,
                                                 storage_path=str(work_dir / "ray-results"), callbacks=[arrivals]))
    start = time.perf_counter()
    grid = tuner.fit()
    errors = [str(r.error) for r in grid if r.error is not None]
    if errors:
        raise RuntimeError(f"{method} seed {seed}: {len(errors)} trial(s) failed, first: {errors[0][:300]}")
    return {"seed": seed, "wall_s": time.perf_counter() - start, "reports": arrivals.rows,
            "trials": len(grid), "configs": arrivals.configs}


class _Arrivals(tune.Callback):
    """Every (trial id, epoch, metric) report, in the order the driver received them."""

    def __init__(self, searched: tuple[str, ...]):
        self.rows: list[tuple[str, int, float]] = []
        self.searched = searched
        self.configs: dict[str, dict] = {}  # the searched parameters of each trial

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.rows.append((trial.trial_id, int(result["epoch"]), float(result[METRIC])))
        if trial.trial_id not in self.configs:
            self.configs[trial.trial_id] = {k: trial.config[k] for k in self.searched}


def _trial(config: dict) -> None:
    """The trainer's loop in this trial process; each epoch's metrics go to Tune (no checkpoints needed)."""
    from trainables.config import TrainConfig
    from trainables.loop import Worker, run

    cfg = TrainConfig.from_dict(resolve_trial_config(config))
    run(cfg, Worker(), lambda metrics, write, worker: tune.report(metrics), resume_dir=None)


def best_config(one: dict) -> dict:
    """The searched parameters of the trial that reported the highest validation accuracy in one search."""
    best = max(one["reports"], key=lambda r: r[2])
    return one["configs"][best[0]]


def held_out_comparison(runs: dict, fixed: dict, work_dir: Path) -> list[dict]:
    """Per seed: each search's best configuration and the paper's point, trained with the same seed and budget,
    scored on the test videos; rows of analysis.suite (value, 95% interval over test videos) for each model and
    for each search's pick minus the paper's point (paired)."""
    from analysis.suite import EvalSet, SuiteSettings, model_rows, paired_rows
    from data.clips import load_clips
    from data.judgments import load_judgments
    from data.prepared import read_meta
    from trainables.embed import embed_clips, load_trained
    from trainables.loop import train

    data_dir = Path(read_meta(fixed["prepared_dir"]).data_dir)
    j = load_judgments(data_dir)
    test = np.sort(j.test_videos)
    clips = load_clips(data_dir, [j.video_names[v] for v in test], read_meta(fixed["prepared_dir"]).decode,
                       cache_dir=work_dir / "test-clips")
    ev = EvalSet.build(j.triplets, j.participant, j.n_videos, test)
    settings = SuiteSettings(n_boot=1000, n_perm=10)
    paper_point = dict(search_spaces.get("smoke").points_to_evaluate[0])
    out = []
    for k in range(len(runs["optuna_asha"])):
        seed = runs["optuna_asha"][k]["seed"]
        picks = {"paper point": paper_point, **{m: best_config(runs[m][k]) for m in METHODS}}
        embedded, samples, rows = {}, {}, []
        for name, params in picks.items():
            folder = work_dir / "held-out" / f"{seed}-{name.replace(' ', '-')}"
            train({**fixed, **params, "seed": seed}, checkpoint_dir=folder)
            embedded[name] = embed_clips(load_trained(folder / f"epoch_{fixed['epochs']:03d}")[0], clips)
            rows += model_rows(name, embedded[name], ev, settings, samples=samples)
        for m in METHODS:
            rows += paired_rows(m, "paper point", embedded[m], embedded["paper point"], ev, settings, samples)
        keep = [r for r in rows if str(r.get("ci_over", "")).startswith("videos") and
                r["metric"] in ("ooo_acc_three_way", "explained_variance", "diff_vs_paper point_ooo_acc_three_way",
                                "diff_vs_paper point_explained_variance")]
        out.append({"seed": seed, "configs": picks, "n_test_triplets": int(len(ev.triplets)),
                    "rows": [{key: (float(v) if isinstance(v, (np.floating, float)) else v) for key, v in r.items()}
                             for r in keep]})
    return out


def best_so_far(reports: list) -> tuple[np.ndarray, np.ndarray]:
    """x = trial-epochs spent (1, 2, ...), y = best metric reported up to then."""
    values = np.array([r[2] for r in reports], dtype=float)
    return np.arange(1, len(values) + 1), np.maximum.accumulate(values)


def summary(runs: dict) -> dict:
    """Per seed: budget and final best of each side, and random search's best at ASHA's (smaller) budget."""
    per_seed = []
    for asha, rand in zip(runs["optuna_asha"], runs["random_full"]):
        xa, ya = best_so_far(asha["reports"])
        xr, yr = best_so_far(rand["reports"])
        budget = int(xa[-1])
        per_seed.append({"seed": asha["seed"], "asha_trial_epochs": budget, "random_trial_epochs": int(xr[-1]),
                         "asha_best": float(ya[-1]), "random_best": float(yr[-1]),
                         "random_best_at_asha_budget": float(yr[min(budget, len(yr)) - 1])})

    def across(key):
        return spread([s[key] for s in per_seed])

    return {"per_seed": per_seed, "epoch_ratio_asha_over_random": spread(
                [s["asha_trial_epochs"] / s["random_trial_epochs"] for s in per_seed]),
            "best_difference_asha_minus_random": spread([s["asha_best"] - s["random_best"] for s in per_seed]),
            "difference_at_equal_budget": spread([s["asha_best"] - s["random_best_at_asha_budget"]
                                                  for s in per_seed]),
            "asha_best": across("asha_best"), "random_best": across("random_best")}


def plot_curves(runs: dict, path: Path) -> Path:
    """Best validation accuracy so far against trial-epochs spent, one line per seed and method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = {"optuna_asha": "tab:blue", "random_full": "tab:orange"}
    styles = {"optuna_asha": "-", "random_full": "--"}  # dashed, so identical curves stay visible
    labels = {"optuna_asha": "Optuna TPE + ASHA", "random_full": "random search, no early stopping"}
    for method, seeds in runs.items():
        for k, one in enumerate(seeds):
            x, y = best_so_far(one["reports"])
            ax.step(x, y, where="post", color=colours[method], ls=styles[method], alpha=0.8, lw=1.5,
                    label=labels[method] if k == 0 else None)
            ax.plot(x[-1], y[-1], "o", color=colours[method], ms=5)
    ax.set_xlabel("trial-epochs spent (all trials together)")
    ax.set_ylabel("best validation odd-one-out accuracy so far")
    n = len(runs["optuna_asha"])
    ax.set_title(f"Search efficiency, {n} seed{'s' if n > 1 else ''}, same number of trials per search")
    ax.axhline(1 / 3, color="grey", lw=0.8, ls=":", label="chance (1/3)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return path
