"""The next triplets for a lab to put in front of participants, from a finished run and its data folder.

    python -m study.next_triplets RUN [RUN ...] --n N --strategy NAME --out FILE [--data DIR] [--seed S]

RUN: a checkpoint folder, a training run's folder of epoch_* checkpoints (its last), or a sweep's folder (its best
trial, then that trial's replicates). 'disagreement' needs two or more models (replicate seeds). FILE gets
all_triplets.csv's columns with the answers blank; FILE's stem + .summary.json says why (the strategy's scores).
Bad input is one `error:` line, exit 2, nothing written, before torch is imported."""
from __future__ import annotations

import argparse
import sys

from common.errors import ConfigError, cli_entry
from study.budget.next_triplets import check_request, next_triplets


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as every refusal of the project
        raise ConfigError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m study.next_triplets", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN", help="checkpoint, training-run or sweep folder(s)")
    parser.add_argument("--n", required=True, help="how many triplets (a positive whole number)")
    parser.add_argument("--strategy", required=True, help="uniform, coverage, uncertainty or disagreement")
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--data", default=None, help="the data folder (default: the one the run trained on)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the candidates and tie-breaks")
    return parser


@cli_entry
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    request = check_request(args.runs, args.data, args.n, args.strategy, args.out, args.seed)
    summary = next_triplets(request)
    picked, every = summary["score_of_picked"], summary["score_of_candidates"]
    print(f"wrote {request.out}: {request.n} triplets by {request.strategy} ({summary['why']}), out of "
          f"{summary['n_candidates']} new triads of training videos")
    print(f"  score of the picked: median {picked['median']:.4g} (min {picked['min']:.4g}); of all candidates: "
          f"median {every['median']:.4g} (max {every['max']:.4g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
