"""How long `python -m study.sweep` takes to refuse bad input, as a ratio against the preflight's own time
(study.preflight on the same data, in process), and how long every other entry point takes to refuse a bad
flag or input (a bad storage URI and a non-Ray --ray-address included, and a caption model that is neither a
folder nor in the local Hugging Face cache). A refusal is a whole command: Python starting, the imports the
checks need, the checks, the `error:` line. Every command imports Ray, torch, transformers and
sentence-transformers only past its checks (tests/test_refusals.py), so a bad flag, name or data file costs
about a second; the sweep refuses a backbone folder that is not there before its data checks, without torch
(its whole backbone check, which imports torch, comes last). The children run with
HF_HUB_OFFLINE unset, as a user's would: the caption model's check then never asks the hub.

    python -m benchmarks.refusal_timing [--repeats 5] [--work-dir DIR]

Each repeat times the preflight and then every refusal (interleaved, the machine being shared).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.common import spread, timed
from study.preflight import check_backbone, preflight
from study.synthetic import ensure_benchmark
from common.errors import cli_entry

REPO = Path(__file__).resolve().parents[1]


def bad_rating_copy(data: Path, work: Path) -> Path:
    """The benchmark's tables with one rating that is not a number; its videos linked, not copied."""
    copy = work / "bad-rating"
    if copy.exists():
        shutil.rmtree(copy)
    copy.mkdir(parents=True)
    for item in data.iterdir():
        (copy / item.name).symlink_to(item) if item.is_dir() else shutil.copy(item, copy / item.name)
    frame = pd.read_csv(copy / "annotations.csv", dtype=str, keep_default_na=False)
    frame.loc[3, next(c for c in frame.columns if c.startswith("rating-"))] = "high"
    frame.to_csv(copy / "annotations.csv", index=False)
    return copy


def refusals(data: Path, bad_data: Path, store: Path) -> dict[str, list[str]]:
    base = ["--data", str(data), "--storage-path", str(store), "--no-dashboard"]
    return {"flag (--seed -1)": [*base, "--seed", "-1"],
            "name (--name ../x)": [*base, "--name", "../x"],
            "data (a rating 'high')": ["--data", str(bad_data), "--storage-path", str(store), "--no-dashboard"],
            "backbone (no such folder)": [*base, "--set", "backbone=/no/such/model"]}


def entry_refusals(data: Path, work: Path) -> dict[str, list[str]]:
    """One bad input per entry point (module, then its arguments), and the sweep's storage and Ray checks."""
    store = ["--data", str(data), "--storage-path"]
    return {"study.sweep --storage-path foo://bar/baz": ["study.sweep", *store, "foo://bar/baz", "--no-dashboard"],
            "study.sweep --ray-address (closed port)": ["study.sweep", "--ray-address", "127.0.0.1:1"],
            "study.sweep --set lr=Infinity": ["study.sweep", *store, str(work / "runs"), "--set", "lr=Infinity"],
            "study.sweep --resume (unsigned folder)": ["study.sweep", "--resume", str(_unsigned(work, data))],
            "analysis (no such folder)": ["analysis", str(work / "no-such-experiment")],
            "analysis --language-model (not in the cache)": ["analysis", str(_a_run(work)), "--language-model",
                                                             "no-such-org/no-such-model"],
            "analysis.human --language-model (no such folder)": ["analysis.human", str(data), "--language-model",
                                                                 str(work / "no-such-model")],
            "analysis.human (no such folder)": ["analysis.human", str(work / "no-such-data")],
            "data (no such folder)": ["data", str(work / "no-such-data")],
            "study.synthetic (--out is a file)": ["study.synthetic", "--out", str(_a_file(work))],
            "study.pretrain --seed -1": ["study.pretrain", "--seed", "-1"],
            "study.ladder --backbone (no such folder)": ["study.ladder", "--backbone", str(work / "no-such-model")],
            "study.next_triplets --seed -1": ["study.next_triplets", str(work / "no-such-run"), "--n", "5",
                                              "--strategy", "uniform", "--out", str(work / "next.csv"), "--seed",
                                              "-1"],
            "benchmarks --only nonsense": ["benchmarks", "--only", "nonsense"]}


def _a_file(work: Path) -> Path:
    (work / "a-file").write_text("")
    return work / "a-file"


def _a_run(work: Path) -> Path:
    """A folder shaped like a finished sweep's (its results table is read only past the flags' checks)."""
    (work / "a-run").mkdir(parents=True, exist_ok=True)
    (work / "a-run" / "results.parquet").write_bytes(b"")
    return work / "a-run"


def _unsigned(work: Path, data: Path) -> Path:
    """A folder shaped like a sweep's that this user's sweep did not sign (as if downloaded)."""
    folder = work / "downloaded"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweep.json").write_text(json.dumps({"settings": {"data": str(data)}}))
    (folder / "tuner.pkl").write_bytes(b"\x80\x05N.")
    return folder


def refuse(argv: list[str], module: str = "study.sweep") -> float:
    """Seconds for the command to exit 2 with one `error:` line (anything else fails the benchmark)."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"} | {"PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", module, *argv], cwd=REPO, env=env, capture_output=True,
                         text=True)
    seconds = time.perf_counter() - start
    lines = out.stderr.strip().splitlines()
    if out.returncode != 2 or len(lines) != 1 or not lines[0].startswith("error: "):
        raise RuntimeError(f"{argv}: expected one error line and exit 2, got {out.returncode}: {out.stderr[-500:]}")
    return seconds


def _preflight(data: Path, storage: Path) -> None:
    """The sweep's checks before Ray: the data and storage, then its backbone (the smoke space's 'tiny')."""
    preflight(data, storage=str(storage))
    check_backbone("tiny")


def measure(data: Path, work: Path, repeats: int) -> dict:
    store = work / "runs"
    commands = refusals(data, bad_rating_copy(data, work), store)
    preflight_s, times = [], {name: [] for name in commands}
    _preflight(data, store)  # first call warms the file cache, as a sweep's own first look would
    for _ in range(repeats):
        preflight_s.append(timed(lambda: _preflight(data, store)))
        for name, argv in commands.items():
            times[name].append(refuse(argv))
    entries = entry_refusals(data, work)
    entry_times = {name: [] for name in entries}
    for _ in range(repeats):
        for name, (module, *argv) in entries.items():
            entry_times[name].append(refuse(argv, module))
    median = spread(preflight_s)["median"]
    return {"data": str(data), "preflight_s": spread(preflight_s),
            "refusals": {name: {"seconds": spread(t), "ratio_to_preflight": spread([x / median for x in t])}
                         for name, t in times.items()},
            "entry_points": {name: {"seconds": spread(t)} for name, t in entry_times.items()}}


@cli_entry
def run(settings, work_dir: Path) -> dict:
    """The suite's entry (`python -m benchmarks --only refusals`): settings.repeats interleaved repeats."""
    return measure(Path(ensure_benchmark()), work_dir, settings.repeats)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.refusal_timing", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    p.add_argument("--work-dir", type=Path, default=None, help="where the bad copy and the storage folder go")
    args = p.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="refusal-"))
    print(json.dumps(measure(Path(ensure_benchmark()), work, args.repeats), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
