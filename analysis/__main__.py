"""Score a finished sweep: the base model, the best K trials and the caption-language baseline on the
held-out test videos; write metrics.parquet, report.md and PNG plots.

    python -m analysis EXPERIMENT_DIR [--top-k K] [--per-family] [--out DIR]

EXPERIMENT_DIR is a sweep's folder (runs/NAME); the data folder, its test videos, captions.csv and
annotations.csv are found through the trials' prepared folders."""
from __future__ import annotations

import argparse
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment_dir", help="a sweep's folder, local or a URI (file://, s3://, gs://): "
                                           "results.parquet, best.json, Tune files")
    p.add_argument("--top-k", type=int, default=1, help="best trials to score, by validation odd-one-out acc.")
    p.add_argument("--per-family", action="store_true",
                   help="the best --top-k trials of each backbone family, side by side, each against its "
                        "family's base")
    p.add_argument("--out", default=None, help="output folder or URI (default EXPERIMENT_DIR/analysis)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples and permutations")
    p.add_argument("--n-splits", type=int, default=100, help="split-halves for the noise ceilings")
    p.add_argument("--rdm-method", default="cosine", help="model distance: cosine (default) or correlation")
    p.add_argument("--language-model", default=None, help="sentence-transformers name or folder "
                   "(default: the bundled all-MiniLM-L6-v2)")
    p.add_argument("--combine", default="mean", choices=("mean", "first", "concat"),
                   help="how a video's captions become one vector")
    p.add_argument("--cache-dir", type=Path, default=None, help="caption-embedding cache folder")
    return p


def _main(argv: list[str] | None = None) -> int:
    from analysis.experiment import run_analysis
    from analysis.report import main_table
    from analysis.suite import SuiteSettings
    from common.errors import ConfigError
    from common.storage import is_uri

    args = _parser().parse_args(argv)
    if not is_uri(args.experiment_dir) and not Path(args.experiment_dir).is_dir():
        raise ConfigError(f"{args.experiment_dir}: no such folder (give a sweep's experiment folder)")
    if args.top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {args.top_k}")
    try:
        settings = SuiteSettings(n_boot=args.n_boot, n_perm=args.n_boot, n_splits=args.n_splits,
                                 rdm_method=args.rdm_method)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    out = args.out or f"{args.experiment_dir}/analysis"
    metrics = run_analysis(args.experiment_dir, args.top_k, per_family=args.per_family, out_dir=out,
                           settings=settings, language_model=args.language_model, combine=args.combine,
                           cache_dir=args.cache_dir)
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
