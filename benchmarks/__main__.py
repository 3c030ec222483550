"""`python -m benchmarks`: run the benchmark suite, write one JSON per measurement and RESULTS.md.

    python -m benchmarks                 # full suite (~30 min on 2 cores) -> benchmarks/results/*.json, RESULTS.md
    python -m benchmarks --quick --out DIR   # tiny sizes, seconds each: checks the scripts, not the speed
    python -m benchmarks --only data_path,step_efficiency
    python -m benchmarks --only budget --size gpu   # the budget benchmark at its GPU size (benchmarks/BUDGET.md)
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import report
from benchmarks.common import BenchSettings, machine, write_json
from common.checks import as_flags, check_output
from common.errors import ConfigError, cli_entry

HERE = Path(__file__).resolve().parent
# The numbering: 1 data path, 2 step, 5 analysis, 7 GPU, 3 Ray overhead, 4 search, 6 memory;
# 8 fused attention (issue 18).
# Benchmark -> its module in benchmarks/, imported when it runs (after main() has chosen Ray Train V1).
BENCHMARKS = {
    "data_path": "data_path", "step_efficiency": "step_efficiency", "analysis": "analysis_timing",
    "gpu": "gpu", "ray_overhead": "ray_overhead", "search_efficiency": "search_efficiency",
    "memory": "memory", "attention": "attention", "budget": "budget", "refusals": "refusal_timing",
}


def _module(name: str):
    return importlib.import_module(f"benchmarks.{BENCHMARKS[name]}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (for the tests); needs --out")
    p.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    p.add_argument("--out", type=Path, default=None,
                   help="folder for results/*.json, RESULTS.md and the plot (default: benchmarks/)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per side (default 7, quick 2)")
    p.add_argument("--report-only", action="store_true",
                   help="measure nothing: rewrite RESULTS.md and the plot from the JSON in --out/results")
    p.add_argument("--size", default="cpu", help="budget benchmark preset: cpu (default) or gpu (benchmarks/BUDGET.md)")
    p.add_argument("--work-dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    return p


def _selection(only: str) -> list[str]:
    names = [n.strip() for n in only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ConfigError(f"--only: unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    return names


@cli_entry
def main(argv: list[str] | None = None) -> int:
    # Ray's Train V1 path (Tuner(TorchTrainer)), chosen where the process starts, before ray.train is imported.
    os.environ["RAY_TRAIN_V2_ENABLED"] = "0"
    args = _parser().parse_args(argv)
    names = _selection(args.only)
    if args.quick and args.out is None:
        raise ConfigError("--quick needs --out DIR (quick figures must not replace benchmarks/RESULTS.md)")
    for flag, folder in (("--out", args.out), ("--work-dir", args.work_dir)):
        if folder is not None:
            check_output(flag, folder, folder=True)
    try:
        repeats = args.repeats if args.repeats is not None else (2 if args.quick else 7)
        settings = BenchSettings(quick=args.quick, repeats=repeats, size=args.size)
    except ValueError as err:
        raise ConfigError(as_flags(str(err), "BenchSettings")) from None
    out = args.out or HERE
    if args.report_only:
        return _rerender(out)
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        doc = run_all(names, settings, work, out, command.strip())
    _merge_earlier(doc, out / "results")
    write_json(out / "results" / "all.json", doc)
    report.write_results_md(doc, out / "RESULTS.md")
    print(f"wrote {out / 'results'}/*.json and {out / 'RESULTS.md'}")
    return 1 if any("error" in r for r in doc["results"].values()) else 0


def _rerender(out: Path) -> int:
    doc_path = out / "results" / "all.json"
    if not doc_path.is_file():
        raise ConfigError(f"--report-only: {doc_path} not found (run the suite first)")
    doc = json.loads(doc_path.read_text())
    _merge_earlier(doc, out / "results")
    search = doc["results"].get("search_efficiency", {})
    if "runs" in search:
        _module("search_efficiency").plot_curves(search["runs"], out / "search_efficiency.png")
    report.write_results_md(doc, out / "RESULTS.md")
    print(f"wrote {out / 'RESULTS.md'}")
    return 0


def _merge_earlier(doc: dict, folder: Path) -> None:
    """Results of benchmarks not run this time (--only) come from their JSON in the folder, marked as such, so
    RESULTS.md always shows every measurement there is, each with its own date and load."""
    for name in BENCHMARKS:
        path = folder / f"{name}.json"
        if name not in doc["results"] and path.is_file():
            doc["results"][name] = {**json.loads(path.read_text()), "from_earlier_run": True}


def run_all(names: list[str], settings: BenchSettings, work: Path, out: Path, command: str) -> dict:
    """Each benchmark in turn; one that fails is recorded with its error and the others still run."""
    doc = {"command": command, "settings": settings, "machine_before": machine(), "results": {}}
    for name in names:
        print(f"[benchmarks] {name} ...", flush=True)
        start = time.perf_counter()
        try:
            kwargs = {"plot_path": out / "search_efficiency.png"} if name == "search_efficiency" else \
                {"out": out} if name == "budget" else {}
            result = _module(name).run(settings, work, **kwargs)
        except Exception as err:  # noqa: BLE001 - one broken measurement must not lose the others
            traceback.print_exc()
            result = {"name": name, "error": f"{type(err).__name__}: {err}"}
        result["benchmark_wall_s"] = time.perf_counter() - start
        result["load_average_after"] = list(os.getloadavg())
        result["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        doc["results"][name] = result
        write_json(out / "results" / f"{name}.json", result)
        print(f"[benchmarks] {name} done in {result['benchmark_wall_s']:.0f} s", flush=True)
    doc["machine_after"] = machine()
    return doc


if __name__ == "__main__":
    sys.exit(main())
