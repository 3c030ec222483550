"""`python -m data DATA_DIR`: a one-screen summary of a data folder (judgments read and validated, catch
trials, the paper split); exit 2 on bad input."""
from __future__ import annotations

import argparse
from pathlib import Path

from common.checks import check_folder, check_number, check_seed
from common.errors import cli_entry
from data.judgments import DEFAULT_MIN_CATCH_ACCURACY, Judgments, data_fingerprint, load_judgments
from data.splits import Split, SplitTriplets, paper_split, split_triplets


def _summary_lines(data_dir: Path, j: Judgments, split: Split, parts: SplitTriplets) -> list[str]:
    c = j.catch
    return [
        f"rows read            {c.n_rows:>8,}",
        f"catch trials         {c.n_catch_trials:>8,}  (dropped)",
        f"participants         {len(c.participants):>8,}",
        f"excluded             {len(c.excluded):>8,}  (catch accuracy < {c.min_catch_accuracy:g}; "
        f"{c.n_excluded_rows:,} rows)",
        f"valid triplets       {len(j):>8,}",
        f"videos               {j.n_videos:>8,}",
        f"paper split videos   train {len(split.train)}, val {len(split.val)}, test {len(split.test)}",
        f"paper split triplets train {len(parts.train):,}, val {len(parts.val):,}, test {len(parts.test):,}, "
        f"mixed dropped {parts.n_mixed_dropped:,}",
        f"data fingerprint     {data_fingerprint(data_dir)}",
    ]


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data", description="One-screen summary of a data folder: "
                                     "the judgments read and validated, catch trials, the paper split.")
    parser.add_argument("data_dir", type=Path, help="folder with all_triplets.csv, video_mapping.csv, test.csv")
    parser.add_argument("--min-catch-accuracy", type=float, default=DEFAULT_MIN_CATCH_ACCURACY,
                        help="exclude participants whose catch-trial accuracy is below this")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation draw")
    args = parser.parse_args(argv)
    check_number("--min-catch-accuracy", args.min_catch_accuracy, 0, 1)  # before the judgments are read
    check_seed("--seed", args.seed)
    check_folder("", args.data_dir)
    j = load_judgments(args.data_dir, min_catch_accuracy=args.min_catch_accuracy)
    split = paper_split(j, seed=args.seed)
    print("\n".join(_summary_lines(args.data_dir, j, split, split_triplets(j, split))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
