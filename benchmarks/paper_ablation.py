"""Summarise a `--space paper` sweep run with its replication stage: each loss variant's selected configuration
retrained on K seeds, its held-out figures as the mean over seeds with 95% intervals from the two-level
bootstrap (seeds and test videos resampled together), its gain over the base, every difference between two
variants on the same resamples, and whether the ordering of the variants is resolved, beside the paper's figures.

    python -m study.sweep --space paper --smoke --set backbone=synthetic-pretrained --set epochs=4 \\
        --set steps_per_epoch=30 --set batch_size=16 --set rsa_subset=16 --replicates 3 --name paper-ablation
    python -m benchmarks.paper_ablation runs/paper-ablation

A sweep without replicates (an older one, or `--replicates 0`) is refused: single runs cannot order variants
whose seed-to-seed spread is as large as their differences.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from analysis.scorers import SEEDS_AND_VIDEOS
from common.errors import ConfigError, cli_entry

METRICS = ("ooo_acc_three_way", "ooo_acc_paper", "rsa_spearman", "explained_variance",
           "diff_vs_base_ooo_acc_three_way", "diff_vs_base_explained_variance")
ORDER_METRIC = "ooo_acc_three_way"
# Garcia & Isik (2025), odd-one-out accuracy of the fine-tuned video model on their held-out videos (the paper's
# rule; our ooo_acc_paper column is scored the same way, in another world: compare orderings, not levels).
PAPER = {"hybrid": "74.46%", "triplet-only": "70.65%", "rsa-only": "63.86%", "budget-matched": "not reported"}


def _cell(r) -> str:
    return f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"


def _variants(folder: Path, models: pd.Series) -> pd.Series:
    """Each model row's loss variant, read from its search trial's config ('<variant> ID ...' names the trial)."""
    trials = pd.read_parquet(folder / "results.parquet")
    variant = dict(zip(trials["trial_id"], trials["config/variant"]))
    return models.str.split(" ").str[1].map(variant)


def pooled(folder: Path) -> pd.DataFrame:
    """The seed-pooled rows of the replicated models (mean over seeds, two-level interval), with `variant`."""
    metrics = pd.read_parquet(folder / "analysis" / "metrics.parquet")
    rows = metrics[metrics["seed"].isna() & metrics["ci_over"].fillna("").str.startswith(SEEDS_AND_VIDEOS)]
    return rows.assign(variant=_variants(folder, rows["model"]))


def variant_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: its seeds, each metric as 'mean [low, high]', the bare mean of ORDER_METRIC and
    the paper's figure; best first by that mean."""
    out = []
    for variant, mine in rows.groupby("variant"):
        by = mine.set_index("metric")
        out.append({"variant": variant, "seeds": int(by["seeds"].max()), "mean": float(by.loc[ORDER_METRIC, "value"]),
                    **{m: _cell(by.loc[m]) for m in METRICS if m in by.index}, "paper": PAPER.get(variant, "")})
    return pd.DataFrame(out).sort_values("mean", ascending=False, kind="stable").reset_index(drop=True)


def differences(rows: pd.DataFrame, metric: str = ORDER_METRIC) -> pd.DataFrame:
    """Every between-variant difference of `metric` (diff_vs_<other variant>_<metric>, paired on the same
    resamples), with whether its interval excludes 0."""
    out = []
    for variant, mine in rows.groupby("variant"):
        for other in rows["variant"].unique():
            hit = mine[mine["metric"] == f"diff_vs_{other}_{metric}"]
            for r in hit.to_dict("records"):
                out.append({"variant": variant, "versus": other, "difference": _cell(r),
                            "resolved": r["ci_low"] > 0 or r["ci_high"] < 0, "value": r["value"]})
    return pd.DataFrame(out)


def ordering(table: pd.DataFrame, diffs: pd.DataFrame) -> str:
    """The variants by mean ORDER_METRIC, each step marked '>' where the difference's interval excludes 0 and
    '~' (not resolved) where it does not."""
    text = table["variant"].iloc[0]
    for upper, lower in zip(table["variant"], table["variant"].iloc[1:]):
        step = diffs[(diffs["variant"] == upper) & (diffs["versus"] == lower)]
        text += (" > " if len(step) and bool(step["resolved"].iloc[0]) else " ~ ") + lower
    return text


def markdown_table(frame: pd.DataFrame, cols: list[str]) -> list[str]:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in frame[cols].itertuples(index=False)]


def markdown(folder: str | Path) -> str:
    folder = Path(folder)
    rows = pooled(folder)
    if rows.empty:
        raise ConfigError(f"{folder}/analysis/metrics.parquet: no replicated model (run the sweep with "
                          "--replicates K >= 2, then python -m analysis on it)")
    table, diffs = variant_table(rows), differences(rows)
    seeds = sorted(set(table["seeds"]))
    lines = [f"Each variant's selected configuration x {'-'.join(map(str, seeds))} seeds; "
             "mean over seeds [95% interval, seeds x test videos]:", ""]
    lines += markdown_table(table, ["variant", "seeds", *[m for m in METRICS if m in table.columns], "paper"])
    rank = {v: k for k, v in enumerate(table["variant"])}  # each pair once: the higher mean minus the lower
    shown = diffs[diffs["variant"].map(rank) < diffs["versus"].map(rank)]
    lines += ["", f"Paired differences of {ORDER_METRIC} between variants (higher mean minus lower, same "
                  "resamples; resolved = interval excludes 0):", ""]
    lines += markdown_table(shown.sort_values("value", ascending=False), ["variant", "versus", "difference", "resolved"])
    lines += ["", f"ordering by mean held-out {ORDER_METRIC} ('>' resolved, '~' not): {ordering(table, diffs)}",
              "the paper's ordering (its rule, real videos): hybrid > triplet-only > rsa-only"]
    return "\n".join(lines)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise ConfigError("usage: python -m benchmarks.paper_ablation EXPERIMENT_DIR")
    if not (Path(args[0]) / "analysis" / "metrics.parquet").is_file():
        raise ConfigError(f"{args[0]}: no analysis/metrics.parquet (run python -m analysis {args[0]} first)")
    print(markdown(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
