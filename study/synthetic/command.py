"""Synthetic social-video benchmark: the embedded default data, whose right answer is known.

    python -m study.synthetic --out DIR [--tiny] [--<setting> VALUE ...]"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd

from common.checks import as_flags, check_output
from common.errors import ConfigError, cli_entry
from study.synthetic.config import SyntheticConfig
from study.synthetic.folder import generate_benchmark


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m study.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write (missing, empty, or older benchmark)")
    parser.add_argument("--tiny", action="store_true", help="start from SyntheticConfig.tiny() (the test size)")
    for f in dataclasses.fields(SyntheticConfig):
        kind = {"social_weights": _parse_weights, "main_includes_test": _parse_bool}.get(f.name, type(f.default))
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=None,
                            help=f"{f.metadata['help']} (default {f.default})")
    return parser


def _parse_weights(text: str) -> tuple:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    out, tiny = check_output("--out", args.pop("out"), folder=True), args.pop("tiny")
    overrides = {k: v for k, v in args.items() if v is not None}
    try:
        config = SyntheticConfig.tiny(**overrides) if tiny else SyntheticConfig(**overrides)
    except ConfigError as err:
        raise ConfigError(as_flags(str(err), "SyntheticConfig")) from None
    folder = generate_benchmark(out, config)
    ceiling = json.loads((folder / "ground_truth" / "noise_ceiling.json").read_text())
    print(f"wrote {folder}: {config.n_videos} videos, {len(pd.read_csv(folder / 'all_triplets.csv'))} trials")
    for key in ("ooo_accuracy_three_way", "ooo_accuracy_paper", "split_half_reliability",
                "pixel_similarity_spearman"):
        print(f"  {key}: {ceiling[key]:.3f}")
    return 0
