"""Time the metric suite on a data folder's full judgment file, all videos at once:

    python -m analysis.timing DATA_DIR [--n-boot 1000] [--n-splits 100]

Two random-embedding models (64 dims) stand in for base and fine-tuned; it scores noise ceilings, both
models' full rows (odd-one-out both rules with intervals over videos and participants, RSA three ways with
intervals, explained variance, permutation test), the paired differences and a variance partitioning.
Prints wall and CPU seconds of each part and the total.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def time_suite(data_dir: Path, n_boot: int = 1000, n_splits: int = 100) -> dict[str, tuple[float, float]]:
    """{part: (wall seconds, CPU seconds of this process)}; CPU time tells what the machine's other load
    did not take, where wall time alone would blame the suite for it."""
    from metrics.rdm import model_rdm
    from analysis.suite import EvalSet, SuiteSettings, human_ceiling_rows, model_rows, paired_rows
    from metrics.variance_partitioning import bootstrap_variance_partitioning
    from data.judgments import load_judgments

    j = load_judgments(data_dir)
    s = SuiteSettings(n_boot=n_boot, n_perm=n_boot, n_splits=n_splits)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(j.n_videos, 64)), rng.normal(size=(j.n_videos, 64))
    seconds, start = {}, time.perf_counter()
    steps = [("pair counts", lambda: EvalSet.build(j.triplets, j.participant, j.n_videos, np.arange(j.n_videos)))]
    ev = steps[0][1]()
    seconds["pair counts"] = time.perf_counter() - start
    kept: dict = {}
    steps = [("noise ceilings", lambda: human_ceiling_rows(ev, s)),
             ("model a", lambda: model_rows("a", a, ev, s, 0.5, samples=kept)),
             ("model b", lambda: model_rows("b", b, ev, s, 0.5, samples=kept)),
             ("paired a - b", lambda: paired_rows("a", "b", a, b, ev, s, kept)),
             ("variance partitioning", lambda: bootstrap_variance_partitioning(
                 model_rdm(a), model_rdm(b), ev.pairs, n_boot=n_boot))]
    cpu_start = time.process_time()
    for name, step in steps:
        t, c = time.perf_counter(), time.process_time()
        step()
        seconds[name] = (time.perf_counter() - t, time.process_time() - c)
    seconds["pair counts"] = (seconds["pair counts"], float("nan"))
    seconds["total"] = (time.perf_counter() - start, time.process_time() - cpu_start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    from common.errors import cli_entry

    return cli_entry(_main)(argv)


def _main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.timing", description=__doc__.splitlines()[0])
    p.add_argument("data_dir", type=Path)
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--n-splits", type=int, default=100)
    args = p.parse_args(argv)
    for name, (wall, cpu) in time_suite(args.data_dir, args.n_boot, args.n_splits).items():
        print(f"{name:>22}: {wall:6.2f} s wall, {cpu:6.2f} s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
