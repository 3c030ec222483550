"""Shared fixtures: where the real judgments live, and one small synthetic benchmark per test session."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

# The sweep runs Ray Train V1 (docs/sweep.md, "The Ray path"); set it before any test imports ray.train.
os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("SOCIAL_OOO_DATA", REPO.parent / "shared" / "data" / "social-ooo"))


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The public human judgments (no videos). Missing data is a failure, never a silent skip."""
    assert (REAL_DATA / "all_triplets.csv").is_file(), f"real judgments not found at {REAL_DATA}"
    return REAL_DATA


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A small synthetic benchmark (videos, judgments, annotations, ground truth), generated once."""
    from study.synthetic import SyntheticConfig, generate_benchmark

    return generate_benchmark(tmp_path_factory.mktemp("synthetic"), SyntheticConfig.tiny())


@pytest.fixture(scope="session", autouse=True)
def _resume_key(tmp_path_factory):
    """The key sweeps sign their folders with (study.sweep.trust): one per test session, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOCIAL_ALIGN_RESUME_KEY", str(tmp_path_factory.mktemp("config") / "resume.key"))
        yield


@pytest.fixture(scope="session", autouse=True)
def _pretrained_backbone_root(tmp_path_factory):
    """One folder per test session for the synthetic pretrained backbone (study.pretrain): built by the first
    test that needs it (the smoke space names it), reused by the others and by Ray's workers and subprocesses."""
    old = os.environ.get("SOCIAL_ALIGN_PRETRAINED")
    os.environ["SOCIAL_ALIGN_PRETRAINED"] = str(tmp_path_factory.mktemp("pretrained"))
    yield
    if old is None:
        os.environ.pop("SOCIAL_ALIGN_PRETRAINED", None)
    else:
        os.environ["SOCIAL_ALIGN_PRETRAINED"] = old


@pytest.fixture
def one_torch_thread():
    """torch on one thread for the test: bitwise-reproducible, and fair to other jobs on a 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Prepared folders and clip caches go to a temporary cache, one per test module (inherited by Ray's
    workers); a module that wants one per test defines its own."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("cache")
        patch.setenv("SOCIAL_ALIGN_CACHE", str(root))
        yield root


@pytest.fixture
def small_disk(tmp_path, request):
    """A folder on a tmpfs of `size` (indirect parameter, default 64k), unmounted after the test: a real full
    disk. Mounting needs root or CAP_SYS_ADMIN; where it is refused the test is skipped saying so (each such
    test has an injected twin that always runs)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    size = getattr(request, "param", "64k")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a {size} tmpfs here ({mounted.stderr.strip() or mounted.returncode}); "
                    "the injected full-disk tests cover the same code")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need a CUDA GPU: they run only when `-m` names the marker (`-m gpu`), and are
    reported as deselected otherwise (CI has no GPU); a `-m gpu` run without a GPU fails, never skips."""
    for item in items:  # pytest-xdist (--dist loadgroup): a module's tests share a worker and its fixtures
        item.add_marker(pytest.mark.xdist_group(item.module.__name__))
    if "gpu" in (config.getoption("-m") or ""):
        return
    kept = [item for item in items if "gpu" not in item.keywords]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if "gpu" in item.keywords])
        items[:] = kept
