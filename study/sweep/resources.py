"""Ray's resources: the per-trial ScalingConfig, starting or joining Ray, and the check that a trial fits."""
from __future__ import annotations

import math
import os
from pathlib import Path

import study.sweep.train_v1  # noqa: F401 - first: ray.train reads RAY_TRAIN_V2_ENABLED when imported

import ray
import yaml
from ray.train import ScalingConfig

from common.errors import ConfigError
from study.sweep.settings import SweepSettings


def scaling_config(settings: SweepSettings) -> ScalingConfig:
    """Each trial's Ray Train workers and what each reserves."""
    resources = {"CPU": settings.cpus_per_worker} | ({"GPU": settings.gpus_per_worker}
                                                     if settings.gpus_per_worker else {})
    # The trainer actor only coordinates; reserving a CPU for it would halve concurrency on a laptop.
    return ScalingConfig(num_workers=settings.workers_per_trial, use_gpu=settings.gpus_per_worker > 0,
                         resources_per_worker=resources, trainer_resources={"CPU": 0})


WORKER_ENV = ("RAY_TRAIN_V2_ENABLED", "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "PYTHONWARNINGS")


def start_ray(address: str | None, dashboard: bool = True) -> bool:
    """Connect to a given or RAY_ADDRESS cluster, else start a local Ray sized to this machine, its dashboard
    on 127.0.0.1 only. Prints the dashboard's address. True if started here."""
    if ray.is_initialized():
        return False
    # What the command entry set for this process reaches every worker, on this node or another.
    env_vars = {k: os.environ[k] for k in WORKER_ENV if k in os.environ} | {"RAY_TRAIN_V2_ENABLED": "0"}
    runtime_env = {"env_vars": env_vars}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        context = ray.init(address=address, runtime_env=runtime_env, log_to_driver=True)
    else:
        context = ray.init(address="local", num_cpus=_local_cpus(), include_dashboard=dashboard,
                           dashboard_host="127.0.0.1", runtime_env=runtime_env)
    if context.dashboard_url:
        print(f"Ray dashboard: http://{context.dashboard_url}", flush=True)
    return not address


def _local_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def this_machine() -> dict:
    """What a local Ray started here will offer (Ray detects the same CPUs and CUDA GPUs)."""
    import torch

    return {"CPU": float(_local_cpus()), "GPU": float(torch.cuda.device_count())}


def node_capacities() -> list[dict]:
    """CPU/GPU of each alive node, plus each autoscaling node type declared in the launcher's bootstrap config."""
    nodes = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]
    bootstrap = Path("~/ray_bootstrap_config.yaml").expanduser()  # written by `ray up` on the head node
    if bootstrap.is_file():
        types = (yaml.safe_load(bootstrap.read_text()) or {}).get("available_node_types", {})
        nodes += [dict(t.get("resources", {}), _max_workers=t.get("max_workers", 0)) for t in types.values()]
    return nodes


def check_resources(scaling: ScalingConfig, nodes: list[dict]) -> int:
    """Fail now, with the numbers, if a trial can never be placed; return how many trials fit at once."""
    bundle = scaling.resources_per_worker or {"CPU": 1}
    fits = [min(math.floor(n.get(k, 0) / v + 1e-9) for k, v in bundle.items() if v > 0) for n in nodes]
    capacity = sum(f * max(1, n.get("_max_workers", 1)) for f, n in zip(fits, nodes))
    if max(fits, default=0) < 1 or capacity < scaling.num_workers:
        have = [{k: n.get(k, 0) for k in ("CPU", "GPU")} for n in nodes]
        raise ConfigError(f"a trial needs {scaling.num_workers} worker(s) x {bundle}, which this Ray cluster "
                          f"can never place (nodes: {have}); lower --workers-per-trial, --cpus-per-worker or "
                          "--gpus-per-worker")
    return capacity // scaling.num_workers

