"""Score a finished sweep: the base model, the best K trials and the caption-language baseline on the
held-out test videos; write metrics.parquet, report.md and PNG plots.

    python -m analysis EXPERIMENT_DIR [--top-k K] [--per-family] [--out DIR]

EXPERIMENT_DIR is a sweep's folder (runs/NAME); the data folder, its test videos, captions.csv and
annotations.csv are found through the trials' prepared folders."""
from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from analysis.cli import add_settings_arguments

    p = argparse.ArgumentParser(prog="python -m analysis", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment_dir", help="a sweep's folder, local or a URI (file://, s3://, gs://): "
                                           "results.parquet, best.json, Tune files")
    p.add_argument("--top-k", type=int, default=1, help="best trials to score, by the sweep's objective (its "
                                                        "selection metric, best over epochs)")
    p.add_argument("--per-family", action="store_true",
                   help="the best --top-k trials of each backbone family, side by side, each against its "
                        "family's base")
    p.add_argument("--out", default=None, help="output folder or URI (default EXPERIMENT_DIR/analysis)")
    return add_settings_arguments(p)


def _main(argv: list[str] | None = None) -> int:
    from analysis.cli import settings_from_args
    from analysis.experiment import run_analysis
    from analysis.report import main_table
    from common.errors import ConfigError
    from common.storage import is_uri

    args = build_parser().parse_args(argv)
    if not is_uri(args.experiment_dir) and not Path(args.experiment_dir).is_dir():
        raise ConfigError(f"{args.experiment_dir}: no such folder (give a sweep's experiment folder)")
    if args.top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {args.top_k}")
    settings, captions = settings_from_args(args)
    out = args.out or f"{args.experiment_dir}/analysis"
    metrics = run_analysis(args.experiment_dir, args.top_k, per_family=args.per_family, out_dir=out,
                           settings=settings, captions=captions)
    print(main_table(metrics))
    print(f"\nreport: {out}/report.md")
    return 0


def main(argv: list[str] | None = None) -> int:
    import warnings

    from common.errors import cli_entry

    # PEFT reads transformers' deprecated `is_gradient_checkpointing` when it loads a trial's adapter: a
    # FutureWarning about PEFT's code that a user of this command cannot act on. Every other warning shows.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

    return cli_entry(_main)(argv)


if __name__ == "__main__":
    raise SystemExit(main())
