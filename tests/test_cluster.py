"""cluster.yaml against the launcher's own schema, and a sweep on a simulated 2-node Ray cluster."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import ray
import yaml

import study.sweep as sweep
from study.sweep.resources import check_resources, scaling_config
from study.sweep.tune import run_sweep

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster_config() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_cluster_yaml_validates_against_the_schema_in_the_installed_ray_wheel(cluster_config):
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(cluster_config, schema)
    broken = {**cluster_config, "available_node_types": {"head": {"node_config": {}}}}  # no resources
    with pytest.raises(jsonschema.ValidationError, match="'resources' is a required property"):
        jsonschema.validate(broken, schema)


def test_cluster_yaml_matches_the_local_ray_and_python_and_keeps_ports_private(cluster_config):
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    docker = cluster_config["docker"]
    assert docker["image"] == f"rayproject/ray:{ray.__version__}-{python}-gpu"
    assert docker["head_image"] == f"rayproject/ray:{ray.__version__}-{python}-cpu"
    types = cluster_config["available_node_types"]
    head = types[cluster_config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    assert any(t["resources"].get("GPU", 0) >= 1 and t.get("max_workers", 0) >= 1 for t in types.values())
    start = " ".join(cluster_config["head_start_ray_commands"] + cluster_config["worker_start_ray_commands"])
    assert "RAY_TRAIN_V2_ENABLED=0" in start and "0.0.0.0" not in start
    assert "/home/ray/social-align" in cluster_config["file_mounts"]
    assert any("pip install" in c and "/home/ray/social-align" in c for c in cluster_config["setup_commands"])


def test_resource_check_reads_autoscaling_node_types_from_the_bootstrap_config(cluster_config):
    # What the head node sees: itself (no GPU) plus the declared GPU node type it can scale out to.
    nodes = [{"CPU": 0.0}] + [dict(t["resources"], _max_workers=t.get("max_workers", 0))
                              for t in cluster_config["available_node_types"].values()]
    settings = sweep.SweepSettings(gpus_per_worker=1, cpus_per_worker=4)
    assert check_resources(scaling_config(settings), nodes) == 4
    with pytest.raises(sweep.ConfigError, match="can never place"):
        check_resources(scaling_config(sweep.SweepSettings(gpus_per_worker=2)), nodes)


@pytest.mark.slow
def test_sweep_on_a_simulated_two_node_cluster_places_trials_on_both_nodes(synthetic_dir, tmp_path, monkeypatch):
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("SOCIAL_ALIGN_CACHE", str(tmp_path / "cache"))  # the nodes' processes inherit it
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        settings = sweep.SweepSettings(data=str(synthetic_dir), storage_path=str(tmp_path / "runs"), name="two",
                                       num_samples=2, ray_address=cluster.address, analysis=False, replicates=0,
                                       overrides={"epochs": 1, "steps_per_epoch": 2})
        outcome = run_sweep(settings)
        assert ray.is_initialized()  # connected to a cluster it did not start: left for its owner
    finally:
        ray.shutdown()
        cluster.shutdown()
    frame = pd.read_parquet(outcome.results_path)
    assert len(frame) == 2 and (frame["status"] == "TERMINATED").all()
    assert frame["node_id"].nunique() == 2  # one 1-CPU trial on each 1-CPU node
