"""6. Memory: peak memory of the default `python -m study.sweep` (the driver and every process it starts: Ray's
services, Tune trial actors, Ray Train workers) and of one training worker.

The sweep runs as a child process; psutil samples its whole process tree. RSS counts a page shared by several
processes (torch's libraries, the memory-mapped clips, Ray's object store) once per process, so the sum of RSS
overstates the total; PSS splits each shared page between its users, so the sum of PSS is the honest total.
"""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil

from benchmarks.common import BenchSettings

REPO = Path(__file__).resolve().parents[1]
# Ray Train's worker actor, the process that runs the training loop; Ray's process title can be cut to the
# length of the original command line ("ray::RayTrainWo"), so only the prefix is matched.
WORKER_NAMES = ("ray::RayTrainWo",)
RSS_EVERY_S = 0.2
PSS_EVERY = 5  # PSS reads /proc/PID/smaps, which is slow: every 5th sample


def run(settings: BenchSettings, work_dir: Path) -> dict:
    args = ["--num-samples", "1", "--set", "epochs=1", "--no-analysis", "--replicates", "0"] if settings.quick \
        else []
    command = [sys.executable, "-m", "study.sweep", "--storage-path", str(work_dir / "sweeps"),
               "--name", f"memory-{uuid.uuid4().hex[:8]}", *args]
    peaks = sample_tree(command)
    shown = " ".join(["python -m study.sweep", *args, "(--storage-path and --name: a scratch folder)"])
    return {"name": "memory", "command": shown, **peaks}


def sample_tree(command: list[str]) -> dict:
    """Run `command`, sampling the memory of its process tree until it exits; peak figures in MiB."""
    start = time.perf_counter()
    log = open(Path("/tmp") / f"bench-memory-{uuid.uuid4().hex[:8]}.log", "w+")
    proc = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    per_process: dict[int, dict] = {}
    peak_rss = peak_pss = 0
    samples = 0
    while proc.poll() is None:
        tree = _tree(proc.pid)
        with_pss = samples % PSS_EVERY == 0
        rss_total, pss_total = _sample(tree, per_process, with_pss)
        peak_rss = max(peak_rss, rss_total)
        peak_pss = max(peak_pss, pss_total) if with_pss else peak_pss
        samples += 1
        time.sleep(RSS_EVERY_S)
    wall = time.perf_counter() - start
    log.seek(0)
    tail = log.read()[-1500:]
    log.close()
    Path(log.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}: {tail}")
    return _peaks(per_process, peak_rss, peak_pss, samples, wall)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _sample(tree: list[psutil.Process], per_process: dict, with_pss: bool) -> tuple[int, int]:
    """Add one sample of every process to per_process; return this sample's RSS and PSS totals in bytes."""
    rss_total = pss_total = 0
    for p in tree:
        try:
            rss = p.memory_info().rss
            pss = p.memory_full_info().pss if with_pss else 0
            name = " ".join(p.cmdline())[:80] or p.name()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        entry = per_process.setdefault(p.pid, {"name": name, "peak_rss": 0, "peak_pss": 0})
        entry["name"] = name if name.startswith("ray::") else entry["name"]  # Ray renames a worker once it has work
        entry["peak_rss"] = max(entry["peak_rss"], rss)
        entry["peak_pss"] = max(entry["peak_pss"], pss)
        rss_total += rss
        pss_total += pss
    return rss_total, pss_total


def _peaks(per_process: dict, peak_rss: int, peak_pss: int, samples: int, wall: float) -> dict:
    mib = 2**20
    workers = [e for e in per_process.values() if any(n in e["name"] for n in WORKER_NAMES)]
    top = sorted(per_process.values(), key=lambda e: -e["peak_rss"])[:8]
    return {"wall_s": wall, "samples": samples, "processes_seen": len(per_process),
            "peak_tree_rss_mib": peak_rss / mib, "peak_tree_pss_mib": peak_pss / mib,
            "training_workers_seen": len(workers),
            "peak_training_worker_rss_mib": max((e["peak_rss"] for e in workers), default=0) / mib,
            "peak_training_worker_pss_mib": max((e["peak_pss"] for e in workers), default=0) / mib,
            "largest_processes": [{"name": e["name"], "peak_rss_mib": e["peak_rss"] / mib,
                                   "peak_pss_mib": e["peak_pss"] / mib} for e in top]}
