"""PNG figures for the report (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.ranking import rank_column, search_rows
from analysis.scorers import SCORERS
from common.atomic import atomic_path

BAR_METRICS = tuple((s.name, *s.plot) for s in SCORERS if s.plot)  # (metric, panel title, chance)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metric_bars(metrics: pd.DataFrame, path: Path) -> Path:
    """One panel per headline metric: a bar per model with its 95% interval, chance, and the noise ceiling."""
    plt = _plt()
    from analysis.report import model_order, shown_rows

    models = [m for m in model_order(metrics) if not m.startswith("noise_ceiling")]
    fig, axes = plt.subplots(1, len(BAR_METRICS), figsize=(4.2 * len(BAR_METRICS), 4.2))
    for ax, (metric, title, chance) in zip(axes, BAR_METRICS):
        sel = shown_rows(metrics)
        sel = sel[(sel.metric == metric) & ~sel.ci_over.isin(["lower..upper"])]
        sel = sel.set_index("model").reindex(models)
        x = np.arange(len(models))
        err = np.abs(np.vstack([sel.value - sel.ci_low, sel.ci_high - sel.value]))
        ax.bar(x, sel.value, yerr=np.nan_to_num(err), capsize=4, color=plt.cm.tab10(x % 10), zorder=2)
        ceiling = metrics[(metrics.model == "noise_ceiling") & (metrics.metric == metric)]
        if len(ceiling):
            c = ceiling.iloc[0]
            low, high = (c.ci_low, c.ci_high) if np.isfinite(c.ci_high) else (c.value, c.value)
            ax.axhspan(low, max(high, low + 0.004), color="0.85", zorder=0, label="noise ceiling (lower..upper)")
        ax.axhline(chance, color="k", ls="--", lw=1, label="chance", zorder=3)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.18 * (high - low))  # headroom: the legend must not cover a ceiling at the top
        ax.set_xticks(x, models, rotation=25, ha="right")
        ax.set_title(title)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def similarity_matrices(human_similarity: np.ndarray, model_rdms: dict[str, np.ndarray], path: Path) -> Path:
    """Human and model similarity side by side, rows/cols in one order (average-linkage clustering of the
    human matrix, unseen pairs filled with the mean); each panel rank-scaled so colours compare."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    plt = _plt()
    human = np.where(np.isnan(human_similarity), np.nanmean(human_similarity), human_similarity)
    np.fill_diagonal(human, 1.0)
    order = leaves_list(linkage(squareform(1.0 - human, checks=False), "average"))
    panels = {"human": human_similarity, **{k: 1.0 - v for k, v in model_rdms.items()}}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 1.2, 3.9), layout="constrained")
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.75")
    for k, (ax, (name, sim)) in enumerate(zip(np.atleast_1d(axes), panels.items())):
        shown = _percentile_scale(sim[np.ix_(order, order)])
        image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name if name != "human" else "human (grey: never judged)", fontsize=10)
        ax.set_xlabel("test video (clustered order)")
        if k == 0:
            ax.set_ylabel("test video (clustered order)")
    fig.colorbar(image, ax=axes, shrink=0.8, label="similarity (percentile within panel)")
    return _save(fig, path)


def _percentile_scale(sim: np.ndarray) -> np.ndarray:
    from scipy import stats

    out = np.full(sim.shape, np.nan)
    ok = np.isfinite(sim) & ~np.eye(len(sim), dtype=bool)
    out[ok] = (stats.rankdata(sim[ok]) - 0.5) / ok.sum()
    return np.ma.masked_invalid(out)


def variance_partition_bars(partitions: dict[str, dict], path: Path) -> Path:
    """Unique-video, shared and unique-language variance of the human similarity, with 95% intervals."""
    plt = _plt()
    parts = (("unique_video", "unique to video model"), ("shared", "shared"),
             ("unique_language", "unique to language model"))
    models = list(partitions)
    fig, ax = plt.subplots(figsize=(2.2 + 1.8 * len(models), 4))
    width = 0.8 / len(parts)
    for k, (key, label) in enumerate(parts):
        est = [partitions[m][key] for m in models]
        x = np.arange(len(models)) + (k - 1) * width
        err = np.abs(np.array([[e.value - e.ci_low, e.ci_high - e.value] for e in est]).T)
        ax.bar(x, [e.value for e in est], width, yerr=np.nan_to_num(err), capsize=3, label=label)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(models)), [f"{textwrap.fill(m, 18)}\nvs language" for m in models])
    ax.set_ylabel("share of human-similarity variance (R²)")
    ax.set_title("Variance partitioning: video model vs caption language", pad=28)
    ax.legend(fontsize=8, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def probe_bars(probes: dict[str, pd.DataFrame], path: Path) -> Path:
    """Held-out R² of a ridge probe per rating, one bar per model, with 95% intervals."""
    plt = _plt()
    models = list(probes)
    attributes = list(probes[models[0]]["attribute"])
    fig, ax = plt.subplots(figsize=(2.0 + 0.45 * len(attributes) * max(2, len(models)) / 2, 4.4))
    width = 0.8 / len(models)
    for k, m in enumerate(models):
        t = probes[m].set_index("attribute").reindex(attributes)
        x = np.arange(len(attributes)) + (k - (len(models) - 1) / 2) * width
        err = np.abs(np.vstack([t.r2 - t.ci_low, t.ci_high - t.r2]))
        ax.bar(x, t.r2, width, yerr=np.nan_to_num(err), capsize=2, label=m)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(attributes)), [a.replace("_", " ") for a in attributes], rotation=30, ha="right")
    ax.set_ylabel("test R² (ridge probe)")
    # Held-out R^2 is unbounded below; intervals that run past -1 are cut at the frame.
    ax.set_ylim(max(-1.0, ax.get_ylim()[0]), 1.0)
    ax.set_title("Linear probes of social-affective ratings (axis cut at R² = -1)", pad=28)
    ax.legend(fontsize=8, ncols=len(models), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def sweep_history(results: pd.DataFrame, path: Path, metric: str | None = None) -> Path:
    """Optimisation history (each search trial's score in start order, running best) and Optuna's fANOVA
    importance of each hyperparameter for that score. metric: default the sweep's objective
    (analysis.ranking.rank_column); replicate rows are not search trials and are left out."""
    plt = _plt()
    metric = metric or rank_column(results)
    done = search_rows(results).dropna(subset=[metric])
    order = done.sort_values("started_at") if "started_at" in done else done
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(np.arange(1, len(order) + 1), order[metric], "o", label="trial")
    ax1.plot(np.arange(1, len(order) + 1), order[metric].cummax(), "-", label="best so far")
    ax1.set_xlabel("trial (in start order)" if "started_at" in done else "trial (results table order)")
    ax1.xaxis.get_major_locator().set_params(integer=True)
    ax1.set_ylabel(metric.replace("_", " "))
    ax1.set_title("Optimisation history")
    ax1.legend(fontsize=8)
    importance = parameter_importance(done, metric)
    if importance:
        names = list(importance)[::-1]
        ax2.barh(names, [importance[n] for n in names])
        ax2.set_xlabel("importance (Optuna fANOVA)")
    else:
        ax2.text(0.5, 0.5, "too few trials or no varied parameter", ha="center", va="center")
        ax2.set_axis_off()
    ax2.set_title("Hyperparameter importance")
    fig.tight_layout()
    return _save(fig, path)


def parameter_importance(results: pd.DataFrame, metric: str) -> dict[str, float]:
    """Optuna's importance evaluator on a study rebuilt from the results table (varied config/ columns)."""
    import optuna

    params = [c for c in results.columns if c.startswith("config/") and results[c].nunique(dropna=True) > 1]
    if len(results) < 3 or not params:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {c[len("config/"):]: _distribution(results[c]) for c in params}
    study = optuna.create_study(direction="maximize")
    for _, r in results.iterrows():
        values = {c[len("config/"):]: _plain(r[c]) for c in params}
        study.add_trial(optuna.trial.create_trial(params=values, distributions=distributions, value=float(r[metric])))
    return optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))


def _distribution(column: pd.Series):
    import optuna

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        low, high = float(column.min()), float(column.max())
        return optuna.distributions.FloatDistribution(low, high, log=low > 0 and high / low > 100)
    return optuna.distributions.CategoricalDistribution(sorted(map(_plain, column.dropna().unique()), key=str))


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def experiment_plots(out: Path, metrics: pd.DataFrame, extras: dict, results: pd.DataFrame) -> list[Path]:
    """Every figure of `python -m analysis`, written into out; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    ev = extras["human"]
    human = np.full((len(ev.videos), len(ev.videos)), np.nan)
    human[ev.pairs.i, ev.pairs.j] = human[ev.pairs.j, ev.pairs.i] = ev.pairs.similarity()
    figures = [metric_bars(metrics, out / "metrics.png"),
               similarity_matrices(human, extras["rdms"], out / "similarity_matrices.png"),
               variance_partition_bars(extras["partitions"], out / "variance_partitioning.png"),
               probe_bars(extras["probes"], out / "probes.png")]
    figures.append(sweep_history(results, out / "sweep_history.png"))
    return figures


def _save(fig, path: Path) -> Path:
    """The figure as a PNG, written whole or not at all; the figure is closed either way."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
    finally:
        _plt().close(fig)
    return Path(path)
