"""Files and folders of an experiment wherever the sweep keeps it: a local folder or a URI (file://, s3://,
gs://), through pyarrow's filesystems as Ray Tune writes them. Local files are written whole or not at all."""
from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common.atomic import atomic_path


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
    import pyarrow.fs

    filesystem, path = _filesystem(str(location))
    return Path(path) if isinstance(filesystem, pyarrow.fs.LocalFileSystem) else None


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
