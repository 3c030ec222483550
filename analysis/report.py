"""Tables and the markdown report; files are written under a temporary name, then renamed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.ranking import rank_column
from analysis.scorers import SCORERS, SEEDS_AND_VIDEOS

# The main table's rows, in reading order (the registry's headline metrics); anything else follows alphabetically.
ORDER = tuple(s.name for s in SCORERS if s.headline)


def main_table(df: pd.DataFrame) -> str:
    """Markdown: one row per metric, one column per model, "value [ci_low, ci_high]" (intervals over videos, or
    over seeds and videos for a model trained on several seeds; for the noise ceiling "lower..upper").
    Replicated models lead; a replicate's own rows (`seed` set) stay in metrics.parquet only."""
    shown = shown_rows(df)
    cells = shown.assign(cell=[_cell(r) for r in shown.itertuples()])
    table = cells.pivot(index="metric", columns="model", values="cell").fillna("")
    order = [m for m in ORDER if m in table.index] + sorted(set(table.index) - set(ORDER))
    table = table.loc[order, [m for m in model_order(df) if m in table.columns]]
    return _markdown(table.reset_index())


def model_order(df: pd.DataFrame) -> list[str]:
    """The models in the order tables and plots show them: replicated models first, then the others, each in
    the order they were scored."""
    seeds = df.groupby("model", sort=False)["seeds"].max() if "seeds" in df.columns else pd.Series(dtype=float)
    return sorted(dict.fromkeys(df["model"]), key=lambda m: 0 if seeds.get(m, 1) > 1 else 1)  # sorted is stable


def shown_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows a table or a bar shows: one per (model, metric), its interval over videos (seeds and videos for
    a replicated model's pooled row) or a noise ceiling's bounds; never a single replicate's own rows."""
    if "seed" in df.columns:
        df = df[df["seed"].isna()]
    over = df["ci_over"]
    shown = df[over.isin(["videos", "lower..upper", "", SEEDS_AND_VIDEOS]) | over.str.startswith("videos (")
               | over.str.startswith(f"{SEEDS_AND_VIDEOS} (")]
    return shown.drop_duplicates(["model", "metric"])


def _cell(r) -> str:
    if r.ci_over == "lower..upper":
        return f"{r.ci_low:.3f}..{r.ci_high:.3f}"
    if np.isfinite(r.ci_low) and np.isfinite(r.ci_high):
        return f"{r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
    return f"{r.value:.3g}" if abs(r.value) < 1e-3 and r.value != 0 else f"{r.value:.3f}"


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(map(str, values)) + " |" for values in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def human_report(metrics: pd.DataFrame, participants: pd.DataFrame) -> str:
    q = participants
    lines = ["# Human judgments: noise ceilings and the caption-language baseline", "",
             "Held-out test videos; intervals: 95% bootstrap over videos; noise ceiling: lower..upper "
             "(see docs/analysis.md for which ceiling bounds which metric).", "", main_table(metrics), "",
             "## Participants", "",
             f"{len(q)} kept; triplets each: median {q.n_triplets.median():.0f} (min {q.n_triplets.min()}); "
             f"catch accuracy: min {q.catch_accuracy.min():.2f}; median response time "
             f"{q.median_rt_s.median():.1f} s; leave-one-out consistency: median {q.loo_consistency.median():.3f}, "
             f"lowest {q.loo_consistency.min():.3f} ({q.participant[q.loo_consistency.idxmin()]}).", ""]
    return "\n".join(lines)


def write_tables(out_dir: str | Path, metrics: pd.DataFrame, *, participants: pd.DataFrame | None = None,
                 report: str | None = None) -> Path:
    """metrics.parquet (+ participants.csv, report.md) under out_dir, each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _atomic(out / "metrics.parquet", lambda p: metrics.to_parquet(p, index=False))
    if participants is not None:
        _atomic(out / "participants.csv", lambda p: participants.to_csv(p, index=False))
    if report is not None:
        _atomic(out / "report.md", lambda p: Path(p).write_text(report + "\n"))
    return out


def _atomic(target: Path, write) -> None:
    from common.atomic import atomic_path

    with atomic_path(target) as tmp:
        write(tmp)


def experiment_report(metrics: pd.DataFrame, trials: pd.DataFrame, figures: list[Path]) -> str:
    """report.md of `python -m analysis`: what was scored, the main table, the trials, the plots."""
    column = rank_column(trials)
    families = trials["backbone_family"] if "backbone_family" in trials.columns else [None] * len(trials)
    chosen = ", ".join(f"{t} ({float(v):.3f}{f', {f}' if f else ''})"
                       for t, v, f in zip(trials["trial_id"], trials[column], families))
    lines = ["# Alignment of the best trials with human social judgments", "",
             f"Models: base backbone of each family (no fine-tuning), best trial(s) by {column} (backbone "
             f"family after the score): {chosen}; "
             "caption-language baseline. Scored on the held-out test videos.",
             "Intervals: 95% bootstrap over videos. `noise_ceiling` cells are lower..upper; "
             "`diff_vs_base_*` rows are paired bootstrap differences (p in the ci_over column of "
             "metrics.parquet). See docs/analysis.md.", *_replicate_note(metrics), "", main_table(metrics), ""]
    lines += [f"![{p.stem}]({p.name})" for p in figures]
    return "\n".join(lines)


def _replicate_note(metrics: pd.DataFrame) -> list[str]:
    """The sentence that says which columns are seed means and which single runs, where there are both."""
    if "seeds" not in metrics.columns or not (metrics["seeds"] > 1).any():
        return []
    seeds = sorted({int(k) for k in metrics.loc[metrics["seeds"] > 1, "seeds"]})
    return ["", f"Columns `(K seeds)` lead: the chosen configuration retrained from scratch on K = "
            f"{', '.join(map(str, seeds))} fresh seeds, never selected on, reported as the mean over seeds with a "
            "95% two-level bootstrap interval (seeds and test videos resampled together; every difference on the "
            "same resamples). Columns `(single run)` are the search's own trials, picked on validation from the "
            "same run, for reference; each seed's own rows are in metrics.parquet (`seed` column)."]
