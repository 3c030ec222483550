"""What every benchmark shares: the run's settings, timing with spread, the machine, and atomic JSON.

Figures are ratios of two things timed side by side in one run (interleaved repeats), because the machines
are shared and noisy; absolute times are kept only as context.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from common.atomic import atomic_path
SIZES = ("cpu", "gpu")


@dataclass(frozen=True)
class BenchSettings:
    """How big a benchmark run is: `quick` shrinks every measurement to seconds (for the tests)."""

    quick: bool = field(default=False, metadata={"help": "tiny sizes: checks the scripts run, not the speed"})
    repeats: int = field(default=7, metadata={"help": "timed repeats of each side of a ratio"})
    seed: int = field(default=0, metadata={"help": "seed of data, models and samplers"})
    size: str = field(default="cpu", metadata={"help": "preset of the budget benchmark: 'cpu' (the shared machine) "
                                                       "or 'gpu' (one lent GPU, minutes)"})

    def __post_init__(self):
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise ValueError(f"BenchSettings.repeats must be an integer >= 1, got {self.repeats!r}")
        if self.size not in SIZES:
            raise ValueError(f"BenchSettings.size must be one of {', '.join(SIZES)}, got {self.size!r}")


def spread(values) -> dict:
    """Median, quartiles, min, max and count of a list of numbers (the form every figure is reported in)."""
    v = np.asarray(values, dtype=float)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(v.min()),
            "max": float(v.max()), "n": int(v.size)}


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call takes (perf_counter)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def side_by_side(a: Callable[[], object], b: Callable[[], object], repeats: int) -> tuple[list[float], list[float]]:
    """Time a and b alternately `repeats` times each (after one untimed warm-up of each), so that load
    changes on a shared machine hit both sides alike; returns the two lists of seconds."""
    a(), b()
    times_a, times_b = [], []
    for _ in range(repeats):
        times_a.append(timed(a))
        times_b.append(timed(b))
    return times_a, times_b


def ratio_spread(numerator: list[float], denominator: list[float]) -> dict:
    """Spread of the per-repeat ratios numerator[k] / denominator[k] (pairs timed next to each other)."""
    return spread(np.asarray(numerator) / np.asarray(denominator))


def machine() -> dict:
    """CPU model, cores the process may use, memory, load average, versions: stated with every result."""
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal")), 0)
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "memory_gib": round(mem_kb / 2**20, 1),
            "load_average": list(os.getloadavg()), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def write_json(path: str | Path, doc: dict) -> Path:
    """Write whole or not at all (common.atomic)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=_plain) + "\n")
    return path


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)
