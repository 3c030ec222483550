"""Files and folders of an experiment wherever the sweep keeps it: a local folder or a URI (file://, s3://,
gs://), through pyarrow's filesystems as Ray Tune writes them. Local files are written whole or not at all, Ray
Tune's own included (`tune_filesystem`)."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common.atomic import atomic_path
from common.errors import ConfigError

PROBE_TIMEOUT_S = float(os.environ.get("SOCIAL_ALIGN_STORAGE_PROBE_S", "10"))
# Run apart, so that a client stuck in its retries (an unreachable endpoint, an SDK asking a metadata server
# for credentials) is killed at the timeout rather than left hanging in this process.
_PROBE = """
import sys, uuid
import pyarrow.fs
try:
    filesystem, path = pyarrow.fs.FileSystem.from_uri(sys.argv[1])
    marker = f"{path.rstrip('/')}/.storage-probe-{uuid.uuid4().hex}"
    with filesystem.open_output_stream(marker) as out:
        out.write(b"probe")
    filesystem.delete_file(marker)
except Exception as err:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    print(f"{type(err).__name__}: {' '.join(lines)[:300] if lines else 'no detail'}", file=sys.stderr)
    sys.exit(1)
"""


def is_uri(location: str | Path) -> bool:
    return "://" in str(location)


def _filesystem(uri: str):
    """(pyarrow filesystem, path inside it) of a URI."""
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri)


def local_path(location: str | Path) -> Path | None:
    """The local path of a plain path or of a URI on the local filesystem (file://); None for a bucket."""
    if not is_uri(location):
        return Path(location)
    if str(location).split("://", 1)[0].lower() not in ("file", "local"):
        return None  # a bucket (opening one may ask the network for its region: not here)
    import pyarrow.fs

    filesystem, path = _filesystem(str(location))
    return Path(path) if isinstance(filesystem, pyarrow.fs.LocalFileSystem) else None


def check_storage(location: str, *, setting: str, timeout: float | None = None) -> Path | None:
    """A URI the sweep can write to, checked before Ray by writing and deleting a marker object within
    `timeout` s: an unknown scheme, an unreachable endpoint, missing credentials or a read-only location is a
    ConfigError naming the URI and the cause. Returns the local folder of a file:// URI (checked by the
    caller like any folder), None for a bucket."""
    try:
        local = local_path(location)
    except Exception as err:  # noqa: BLE001 - pyarrow's own error for a URI it cannot parse or does not know
        raise ConfigError(f"{setting} {location}: not a storage URI pyarrow can open ({_first_line(err)})") from None
    if local is not None:
        return local
    timeout = timeout or PROBE_TIMEOUT_S
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, location], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{setting} {location}: writing a marker object got no answer within {timeout:g} s "
                          "(endpoint unreachable, or no credentials while the client asks a metadata server "
                          "for some)") from None
    if done.returncode != 0:
        cause = (done.stderr.strip().splitlines() or ["the probe failed"])[-1]
        raise ConfigError(f"{setting} {location}: cannot write a marker object there ({cause})")
    return None


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__


def write_bytes(target: str, data: bytes) -> None:
    """A local file via a temporary name and a rename; a URI (s3://, gs://) as one object put, atomic itself."""
    if is_uri(target):
        filesystem, path = _filesystem(target)
        filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)  # a local filesystem needs it
        with filesystem.open_output_stream(path) as out:
            out.write(data)
        return
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def tune_filesystem(location: str):
    """The filesystem Ray Tune writes an experiment folder at `location` through: for a local folder one whose
    files appear only whole (common.whole_files), so a full disk leaves Tune's last whole copy of each file;
    None (Tune's own choice) for a bucket, whose puts are whole already."""
    if is_uri(location):
        return None
    import pyarrow.fs

    from common.whole_files import WholeFiles

    return pyarrow.fs.PyFileSystem(WholeFiles())


def read_bytes(source: str) -> bytes | None:
    """A local file's or a URI's bytes; None when it is not there."""
    try:
        if is_uri(source):
            filesystem, path = _filesystem(source)
            with filesystem.open_input_stream(path) as stream:
                return stream.read()
        return Path(source).read_bytes()
    except (OSError, FileNotFoundError):
        return None


def sibling_uri(location: str, path: str) -> str:
    """A path Tune reports inside the filesystem of `location` (its checkpoints: `bucket/...` for s3://...),
    as a location of its own: a URI with the same scheme, or the path itself when `location` is local."""
    if not is_uri(location) or is_uri(path):
        return path
    return f"{str(location).split('://', 1)[0]}://{path}"


@contextlib.contextmanager
def local_folder(location: str) -> Iterator[Path]:
    """A folder to read: itself when local (or file://), else a temporary copy of the bucket's folder."""
    local = local_path(location)
    if local is not None:
        yield local
        return
    import pyarrow.fs

    with tempfile.TemporaryDirectory(prefix="social-align-") as tmp:
        filesystem, path = _filesystem(location)
        pyarrow.fs.copy_files(path, tmp, source_filesystem=filesystem)
        yield Path(tmp)


@contextlib.contextmanager
def output_folder(location: str) -> Iterator[Path]:
    """A folder to write into: itself when local (or file://), else a temporary folder whose files are copied
    to the bucket when the block ends without an error."""
    local = local_path(location)
    if local is not None:
        local.mkdir(parents=True, exist_ok=True)
        yield local
        return
    import pyarrow.fs

    tmp = Path(tempfile.mkdtemp(prefix="social-align-"))
    try:
        yield tmp
        filesystem, path = _filesystem(location)
        pyarrow.fs.copy_files(str(tmp), path, destination_filesystem=filesystem)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
