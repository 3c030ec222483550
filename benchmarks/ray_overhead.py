"""3. Ray overhead: the same trainer, config and epochs called directly in one process
(`trainables.loop.train` in a fresh Python process) versus as one Ray Tune trial running Ray Train
(`Tuner(TorchTrainer(train_loop_per_worker))`, one worker).

Ray's start-up (`ray.init`) is timed apart from the trial. Both sides use the same torch thread count (the
worker reserves every core, so Ray gives it that many OpenMP threads; each side records what it ran with).
The runs alternate (direct, Ray, direct, Ray, ...) so load on the shared machine hits both alike.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import study.sweep.train_v1  # noqa: F401 - first: ray.train reads RAY_TRAIN_V2_ENABLED when imported

import ray
import torch
from ray import tune
from ray.train import RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from benchmarks.common import BenchSettings, spread
from benchmarks.steps import SWEEP_DEFAULT, benchmark_data
from data.clips import DecodeSettings
from data.prepared import prepare_dataset
from trainables.loop import train_loop_per_worker

TARGET_OVERHEAD = 0.15
_THREADS_KEY = "_bench_threads_file"  # benchmark-only key, removed before the trainer sees the config


def run(settings: BenchSettings, work_dir: Path) -> dict:
    config = _train_config(settings, work_dir)
    cores = len(os.sched_getaffinity(0))
    rounds = [_one_round(config, work_dir, cores) for _ in range(1 if settings.quick else 3)]
    direct = np.array([r["direct_s"] for r in rounds])
    fit = np.array([r["ray_fit_s"] for r in rounds])
    overhead = fit / direct - 1.0
    return {"name": "ray_overhead", "config": config, "cores_reserved": cores, "rounds": rounds,
            "direct_s": spread(direct), "ray_fit_s": spread(fit),
            "ray_init_s": spread([r["ray_init_s"] for r in rounds]),
            "overhead_fraction": spread(overhead),
            "epoch_time_ratio_ray_over_direct": spread([r["ray_epoch_sum_s"] / r["direct_epoch_sum_s"]
                                                        for r in rounds]),
            "trial_fixed_cost_s": spread([(r["ray_fit_s"] - r["ray_epoch_sum_s"])
                                          - (r["direct_s"] - r["direct_epoch_sum_s"]) for r in rounds]),
            "targets": {"overhead_at_most": TARGET_OVERHEAD, "run_at_least_s": 60.0,
                        "run_long_enough": bool(np.median(direct) >= 60.0),
                        "overhead_met": bool(np.median(overhead) <= TARGET_OVERHEAD)}}


def _train_config(settings: BenchSettings, work_dir: Path) -> dict:
    """The default sweep's trial shape, with enough steps that the direct run takes about a minute."""
    shape = SWEEP_DEFAULT
    decode = DecodeSettings(num_frames=shape.num_frames, image_size=shape.image_size)
    prepared = prepare_dataset(benchmark_data(work_dir, settings.quick), decode=decode,
                               out_root=work_dir / "prepared")
    epochs, steps = (1, 2) if settings.quick else (4, 240)  # ~70 s direct on an idle 2-core machine
    return {**shape.overrides(), "prepared_dir": str(prepared), "seed": settings.seed, "epochs": epochs,
            "steps_per_epoch": steps, "lr": 1e-3}


def _one_round(config: dict, work_dir: Path, cores: int) -> dict:
    return {**_direct(config, cores), **_ray_trial(config, work_dir, cores)}


def _direct(config: dict, cores: int) -> dict:
    """`trainables.loop.train(config)` in a fresh Python process, as a user's script would call it; the Ray
    worker is a fresh process too, so neither side inherits this driver's state (earlier benchmarks, Ray).
    OMP_NUM_THREADS is set as Ray sets it for a worker holding `cores` CPUs."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _DIRECT_SCRIPT, json.dumps(config)], capture_output=True,
                          text=True, cwd=Path(__file__).resolve().parents[1],
                          env={**os.environ, "OMP_NUM_THREADS": str(cores)})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"direct train() failed: {done.stderr.strip()[-500:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {"direct_s": wall, "direct_train_call_s": out["train_s"], "direct_threads": out["threads"],
            "direct_epoch_sum_s": float(sum(m["time_epoch_s"] for m in out["history"])),
            "direct_final_train_loss": out["history"][-1]["train_loss"]}


# Process start and imports are part of the direct side, as the Ray side's worker pays them too.
_DIRECT_SCRIPT = """
import json, sys, time
import torch
from trainables.loop import train
start = time.perf_counter()
history = train(json.loads(sys.argv[1]))
print(json.dumps({"train_s": time.perf_counter() - start, "threads": torch.get_num_threads(), "history": history}))
"""


def _ray_trial(config: dict, work_dir: Path, cores: int) -> dict:
    """ray.init, then one Tune trial of TorchTrainer with one worker holding every core; shutdown."""
    threads_file = work_dir / f"threads-{uuid.uuid4().hex[:8]}.json"
    start = time.perf_counter()
    ray.init(address="local", num_cpus=cores, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"RAY_TRAIN_V2_ENABLED": "0"}})
    init_s = time.perf_counter() - start
    try:
        trainer = TorchTrainer(_worker, scaling_config=ScalingConfig(
            num_workers=1, resources_per_worker={"CPU": cores}, trainer_resources={"CPU": 0}))
        tuner = tune.Tuner(trainer, param_space={"train_loop_config": {**config, _THREADS_KEY: str(threads_file)}},
                           tune_config=tune.TuneConfig(num_samples=1),
                           run_config=RunConfig(name=f"overhead-{uuid.uuid4().hex[:8]}",
                                                storage_path=str(work_dir / "ray-results"), verbose=0))
        start, wall_start = time.perf_counter(), time.time()
        grid = tuner.fit()
        fit_s, wall_end = time.perf_counter() - start, time.time()
    finally:
        ray.shutdown()
    result = grid[0]
    if result.error is not None:
        raise RuntimeError(f"the Ray trial failed: {result.error}")
    history, worker = result.metrics_dataframe, json.loads(threads_file.read_text())
    return {"ray_init_s": init_s, "ray_fit_s": fit_s, "ray_epoch_sum_s": float(history["time_epoch_s"].sum()),
            "ray_final_train_loss": float(history["train_loss"].iloc[-1]), "ray_threads": worker["threads"],
            # Where the trial's fixed cost goes: before the worker function runs (actor start, imports,
            # process group), inside it (same work as the direct call), after it returns (teardown).
            "ray_before_worker_s": worker["began"] - wall_start, "ray_worker_fn_s": worker["ended"] - worker["began"],
            "ray_after_worker_s": wall_end - worker["ended"]}


def _worker(config: dict) -> None:
    """The trainer's own Ray Train worker, after noting the torch thread count Ray gave this process."""
    config = dict(config)
    record = Path(config.pop(_THREADS_KEY))
    began = time.time()
    train_loop_per_worker(config)
    record.write_text(json.dumps({"threads": torch.get_num_threads(), "began": began, "ended": time.time()}))
