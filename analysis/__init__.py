"""Alignment metrics, reports and plots. Light on import (no torch, Ray or sentence-transformers): the
trainer imports `metrics.rdm`, `metrics.compare` and `metrics.odd_one_out` for validation metrics."""
from __future__ import annotations


def run_analysis(experiment_dir, top_k: int = 1, **kwargs):
    """Score a finished sweep (see analysis.experiment.run_analysis); imported lazily."""
    from analysis.experiment import run_analysis as run

    return run(experiment_dir, top_k, **kwargs)


def main_table(df) -> str:
    """Markdown main table of a metrics frame (see analysis.report.main_table)."""
    from analysis.report import main_table as table

    return table(df)


__all__ = ["run_analysis", "main_table"]
