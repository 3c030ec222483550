"""The one rule that ranks a sweep's trials, asked by the experiment (which trials to score), the report (what
it says they were ranked by) and the plots (which objective the history and importance show).

Trials rank by the sweep's own selection metric: results.parquet names it (`selection_metric`, e.g. `val_rsa`
for the `paper` and `backbones` spaces) and the column ranked is its best value over the trial's epochs
(`best_<metric>`), as ASHA, Optuna and the checkpoints did. Tables written before that column existed rank
by 3-way accuracy (`best_val_ooo_acc`, else `val_ooo_acc`). Only search rows rank: a replicate
(`stage == "replicate"`) repeats a chosen configuration and is never selected on.
"""
from __future__ import annotations

import pandas as pd

LEGACY_COLUMNS = ("best_val_ooo_acc", "val_ooo_acc")
SEARCH, REPLICATE = "search", "replicate"


def rank_column(frame: pd.DataFrame) -> str | None:
    """The results column trials rank by (higher is better); None when the table has none of it."""
    if "selection_metric" in frame.columns and frame["selection_metric"].notna().any():
        column = f"best_{frame['selection_metric'].dropna().iloc[0]}"
        return column if column in frame.columns else None
    return next((c for c in LEGACY_COLUMNS if c in frame.columns), None)


def search_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The search stage's rows (every row of a table written before the replication stage)."""
    if "stage" not in frame.columns:
        return frame
    return frame[frame["stage"].eq(SEARCH)]


def ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """The search rows that have a rank value, best first. Stable: ties keep the table order (trial_id), so the
    same folder always gives the same trials."""
    column = rank_column(frame)
    if column is None:
        return frame.iloc[:0]
    rows = search_rows(frame)
    return rows[rows[column].notna()].sort_values(column, ascending=False, kind="stable")
