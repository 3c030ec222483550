"""Score a finished sweep: the base model, the best K trials and the caption-language baseline on the
held-out test videos; write metrics.parquet, report.md and PNG plots.

    python -m analysis EXPERIMENT_DIR [--top-k K] [--per-family] [--out DIR] [--transfer DATA_DIR ...]
                                      [--attention N]

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
    p.add_argument("--transfer", action="append", default=[], metavar="DATA_DIR",
                   help="another judgments folder (with videos/) to score the same models on, zero-shot; repeatable")
    p.add_argument("--attention", type=int, default=0, metavar="N",
                   help="draw the attention rollout of the base and the trials for N test videos (attention.png) "
                        "and score attention_on_agents where the data has agent masks")
    return add_settings_arguments(p)


def _main(argv: list[str] | None = None) -> int:
    from analysis.cli import settings_from_args
    from common.checks import check_folder, check_output
    from common.errors import ConfigError
    from common.storage import is_uri

    args = build_parser().parse_args(argv)
    _check_experiment(args.experiment_dir)
    if args.top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {args.top_k}")
    if args.attention < 0:
        raise ConfigError(f"--attention must be >= 0, got {args.attention}")
    settings, captions = settings_from_args(args)
    out = args.out or f"{args.experiment_dir}/analysis"
    if not is_uri(out):
        check_output("--out", out, folder=True)
    for folder in args.transfer:
        check_folder("--transfer", folder)
    # Every flag is checked: from here pandas, the analysis and (past the transfer folders' checks) the models.
    from analysis.experiment import run_analysis
    from analysis.report import main_table

    sections = _sections(args, captions)  # checks the transfer folders before any model loads
    metrics = run_analysis(args.experiment_dir, args.top_k, per_family=args.per_family, out_dir=out,
                           settings=settings, captions=captions, sections=sections)
    _print_tables(metrics, main_table)
    print(f"\nreport: {out}/report.md")
    return 0


def _check_experiment(experiment_dir: str) -> None:
    """A local experiment folder and its results table (a URI's is read, and checked, by the analysis)."""
    from common.errors import ConfigError
    from common.storage import is_uri

    if is_uri(experiment_dir):
        return
    if not Path(experiment_dir).is_dir():
        raise ConfigError(f"{experiment_dir}: no such folder (give a sweep's experiment folder)")
    if not Path(experiment_dir, "results.parquet").is_file():
        raise ConfigError(f"{experiment_dir}/results.parquet: no results table (is {experiment_dir} a finished "
                          "sweep's folder?)")


def _sections(args, captions):
    """The transfer and attention sections (analysis.sections), or None; each transfer folder checked here."""
    if not args.transfer and not args.attention:
        return None
    from analysis.sections import Sections
    from analysis.transfer import check_transfer_folder
    from common.errors import ConfigError

    names = [check_transfer_folder(folder) for folder in args.transfer]
    if len(set(names)) < len(names):
        raise ConfigError(f"--transfer folders must have different names (rows are named by them), got {names}")
    return Sections(tuple(args.transfer), args.attention, captions.language_model, captions.combine,
                    captions.cache_dir)


def _print_tables(metrics, main_table) -> None:
    """The main table, then one table per transfer set."""
    if "transfer_set" not in metrics.columns:
        print(main_table(metrics))
        return
    for name, rows in metrics.groupby("transfer_set", sort=False):
        print(f"\n## zero-shot transfer: {name}\n" if name else "", end="")
        print(main_table(rows.drop(columns="transfer_set")))


def main(argv: list[str] | None = None) -> int:
    import warnings

    from common.errors import cli_entry

    # PEFT reads transformers' deprecated `is_gradient_checkpointing` when it loads a trial's adapter: a
    # FutureWarning about PEFT's code that a user of this command cannot act on. Every other warning shows.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

    return cli_entry(_main)(argv)


if __name__ == "__main__":
    raise SystemExit(main())
