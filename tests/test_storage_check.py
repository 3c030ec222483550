"""Remote storage is checked before Ray: an unknown scheme, an unreachable endpoint, a bucket that is not
there or a location that cannot be written is one `error:` line naming the URI and the cause, exit 2, within
the probe's bound (it writes and deletes a marker object). A full tiny sweep and its analysis run on a real
S3-compatible server (moto's, started by the test on 127.0.0.1)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray

import study.sweep as sweep
from sweep_helpers import refused


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_env(monkeypatch):
    """Credentials and region as a user's environment would hold them; the endpoint is set per test."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def _timed_refusal(capsys, argv: list[str]) -> tuple[str, float]:
    start = time.monotonic()
    line = refused(capsys, argv)
    return line, time.monotonic() - start


def test_an_unknown_scheme_is_one_line_naming_it(synthetic_dir, capsys):
    line, took = _timed_refusal(capsys, ["--data", str(synthetic_dir), "--storage-path", "foo://bar/baz",
                                         "--no-dashboard", "--no-analysis"])
    assert line.startswith("error: --storage-path foo://bar/baz: cannot write a marker object there")
    assert "Unrecognized filesystem type" in line and took < 10


def test_an_unreachable_s3_endpoint_is_one_line_within_the_bound(synthetic_dir, capsys, s3_env):
    s3_env.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    s3_env.setattr("common.storage.PROBE_TIMEOUT_S", 5.0)
    line, took = _timed_refusal(capsys, ["--data", str(synthetic_dir), "--storage-path", "s3://bucket/runs",
                                         "--no-dashboard", "--no-analysis"])
    assert line.startswith("error: --storage-path s3://bucket/runs: ") and took < 12, (line, took)


def test_a_gs_bucket_without_network_or_credentials_is_one_line_within_the_bound(synthetic_dir, capsys,
                                                                                monkeypatch):
    monkeypatch.setattr("common.storage.PROBE_TIMEOUT_S", 3.0)
    line, took = _timed_refusal(capsys, ["--data", str(synthetic_dir), "--storage-path", "gs://no-such/runs",
                                         "--no-dashboard", "--no-analysis"])
    assert line.startswith("error: --storage-path gs://no-such/runs: ") and took < 10, (line, took)


def test_a_file_uri_is_checked_as_the_local_folder_it_names(synthetic_dir, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = refused(capsys, ["--data", str(synthetic_dir), "--storage-path", f"file://{blocker}/runs",
                            "--no-dashboard", "--no-analysis"])
    assert line == f"error: --storage-path {blocker}/runs: not writable ({blocker} is not a folder)"


@pytest.fixture
def moto_s3(tmp_path, s3_env):
    """moto's S3 server on 127.0.0.1 (a process of its own), with one empty bucket."""
    port = _free_port()
    log = (tmp_path / "moto.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{port}"
        s3_env.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        import pyarrow.fs

        pyarrow.fs.S3FileSystem(endpoint_override=endpoint, allow_bucket_creation=True).create_dir("sweeps")
        yield "s3://sweeps/runs"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_a_missing_bucket_on_a_reachable_server_is_one_line(synthetic_dir, capsys, moto_s3):
    line = refused(capsys, ["--data", str(synthetic_dir), "--storage-path", "s3://no-such-bucket/runs",
                            "--no-dashboard", "--no-analysis"])
    assert line.startswith("error: --storage-path s3://no-such-bucket/runs: cannot write a marker object there")


@pytest.mark.slow
def test_a_sweep_and_its_analysis_run_on_an_s3_compatible_server(synthetic_dir, tmp_path, capsys, moto_s3,
                                                                  monkeypatch):
    import pyarrow.fs

    monkeypatch.setenv("SOCIAL_ALIGN_CACHE", str(tmp_path / "cache"))
    try:
        assert sweep.main(["--data", str(synthetic_dir), "--storage-path", moto_s3, "--name", "s3", "--num-samples",
                           "1", "--set", "epochs=1", "--set", "steps_per_epoch=2", "--replicates", "1",
                           "--no-dashboard"]) == 0  # one replicate: the replication stage on the bucket too
    finally:
        ray.shutdown()
    out = capsys.readouterr().out
    assert f"analysis report: {moto_s3}/s3/analysis/report.md" in out
    filesystem, path = pyarrow.fs.FileSystem.from_uri(f"{moto_s3}/s3")
    names = {Path(info.path).name for info in filesystem.get_file_info(pyarrow.fs.FileSelector(path, recursive=True))}
    assert {"results.parquet", "best.json", "sweep.json", "tuner.pkl", "report.md", "metrics.parquet"} <= names
    assert not any(name.startswith(".storage-probe-") for name in names)  # the probe cleaned up after itself
