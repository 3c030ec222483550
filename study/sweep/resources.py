"""Ray's resources: the per-trial ScalingConfig, starting or joining Ray, and the check that a trial fits."""
from __future__ import annotations

import os
from pathlib import Path

import study.sweep.train_v1  # noqa: F401 - first: ray.train reads RAY_TRAIN_V2_ENABLED when imported

import ray
import yaml
from ray.train import ScalingConfig

from study.sweep.console import QUIET_ENV, QUIET_LIBRARIES
from study.sweep.plan import check_fit, local_cpus, worker_bundle
from study.sweep.settings import SweepSettings


def scaling_config(settings: SweepSettings) -> ScalingConfig:
    """Each trial's Ray Train workers and what each reserves."""
    resources = worker_bundle(settings)
    # The trainer actor only coordinates; reserving a CPU for it would halve concurrency on a laptop.
    return ScalingConfig(num_workers=settings.workers_per_trial, use_gpu=settings.gpus_per_worker > 0,
                         resources_per_worker=resources, trainer_resources={"CPU": 0})


WORKER_ENV = ("RAY_TRAIN_V2_ENABLED", "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "PYTHONWARNINGS", QUIET_ENV,
              *QUIET_LIBRARIES)


def start_ray(address: str | None, dashboard: bool = True, *, verbose: bool = True) -> bool:
    """Connect to a given or RAY_ADDRESS cluster, else start a local Ray sized to this machine, its dashboard
    on 127.0.0.1 only. Prints the dashboard's address. Workers' output reaches this console only when
    verbose (else it stays in Ray's logs and the trial folders). True if started here."""
    if ray.is_initialized():
        return False
    # What the command entry set for this process reaches every worker, on this node or another.
    env_vars = {k: os.environ[k] for k in WORKER_ENV if k in os.environ} | {"RAY_TRAIN_V2_ENABLED": "0"}
    runtime_env = {"env_vars": env_vars}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        context = ray.init(address=address, runtime_env=runtime_env, log_to_driver=verbose)
    else:
        context = ray.init(address="local", num_cpus=local_cpus(), include_dashboard=dashboard,
                           dashboard_host="127.0.0.1", runtime_env=runtime_env, log_to_driver=verbose)
    if context.dashboard_url:
        print(f"Ray dashboard: http://{context.dashboard_url}", flush=True)
    return not address


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
    return check_fit(scaling.num_workers, scaling.resources_per_worker or {"CPU": 1}, nodes)
