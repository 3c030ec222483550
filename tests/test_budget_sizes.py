"""The budget benchmark's size presets: the GPU preset is the default world with the learning tests' training from
the pretrained backbone, and keeps the CPU preset's criteria (the same code computes both)."""
from pathlib import Path

from benchmarks.budget import GPU, GPU_QUICK, plan
from benchmarks.common import BenchSettings
from study.synthetic import SyntheticConfig


def test_gpu_preset_is_the_default_world_and_the_learning_run_from_the_pretrained_backbone():
    sizes = plan(BenchSettings(size="gpu"))
    assert SyntheticConfig(**sizes["world"]) == SyntheticConfig()
    assert Path(sizes["train"]["backbone"], "config.json").is_file()
    assert sizes["total_steps"] == 4 * 30 and sizes["train"]["batch_size"] == 16
    assert sizes["fractions"][-1] == 1.0 and len(sizes["seeds"]) >= 3 and len(sizes["campaign_seeds"]) >= 3


def test_gpu_quick_shares_the_gpu_world_so_it_builds_the_gpu_run_caches():
    assert GPU_QUICK["world"] == GPU["world"]
    assert plan(BenchSettings(quick=True, size="gpu"))["total_steps"] < GPU["total_steps"]


def test_cpu_preset_is_unchanged():
    sizes = plan(BenchSettings())
    assert sizes["total_steps"] == 30 and sizes["fractions"] == (0.1, 0.3, 1.0) and "backbone" not in sizes["train"]
