"""Summarise a `--space paper` sweep analysed with `--top-k` covering every trial: held-out figures per loss
variant and seed, with their 95% intervals over test videos, and the ordering of the variants' means.

    python -m study.sweep --space paper --smoke --set backbone=synthetic-pretrained --set epochs=4 \\
        --set steps_per_epoch=30 --set batch_size=16 --set rsa_subset=16 --set "seed=[0, 1, 2]" \\
        --name paper-ablation --top-k 12
    python -m benchmarks.paper_ablation runs/paper-ablation
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from common.errors import cli_entry

METRICS = ("ooo_acc_three_way", "rsa_spearman", "explained_variance", "diff_vs_base_ooo_acc_three_way",
           "diff_vs_base_explained_variance")


def variant_table(experiment_dir: str | Path) -> pd.DataFrame:
    """One row per trial: variant, seed, and each metric as 'value [low, high]' plus the bare value."""
    folder = Path(experiment_dir)
    trials = pd.read_parquet(folder / "results.parquet")[["trial_id", "config/variant", "config/seed"]]
    metrics = pd.read_parquet(folder / "analysis" / "metrics.parquet")
    metrics = metrics[metrics["ci_over"].str.startswith("videos") & metrics["metric"].isin(METRICS)]
    metrics = metrics.assign(trial_id=metrics["model"].str.split(" ").str[-1])  # "<variant> <trial_id>"
    rows = []
    for trial in trials.itertuples(index=False):
        mine = metrics[metrics["trial_id"] == trial.trial_id].set_index("metric")
        if mine.empty:
            continue
        row = {"variant": trial[1], "seed": int(trial[2])}
        for m in METRICS:
            r = mine.loc[m]
            row[m] = float(r["value"])
            row[f"{m} [95% CI]"] = f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["variant", "seed"])


def markdown(table: pd.DataFrame) -> str:
    cols = ["variant", "seed", *(f"{m} [95% CI]" for m in METRICS)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table[cols].itertuples(index=False)]
    means = table.groupby("variant")[list(METRICS)].agg(["mean", "min", "max"])
    lines += ["", "| variant | " + " | ".join(f"{m} mean (min-max)" for m in METRICS) + " |",
              "|" + "---|" * (len(METRICS) + 1)]
    for variant, r in means.iterrows():
        cells = [f"{r[(m, 'mean')]:.3f} ({r[(m, 'min')]:.3f}-{r[(m, 'max')]:.3f})" for m in METRICS]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    order = means[("ooo_acc_three_way", "mean")].sort_values(ascending=False).index
    lines += ["", "ordering by mean held-out 3-way accuracy: " + " > ".join(order)]
    return "\n".join(lines)


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m benchmarks.paper_ablation EXPERIMENT_DIR", file=sys.stderr)
        return 2
    print(markdown(variant_table(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
