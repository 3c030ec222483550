"""A local pyarrow filesystem whose files appear only whole, for Ray Tune (common.storage.tune_filesystem).

Tune copies its experiment state, the searcher's state, each trial's results and its checkpoints into the
experiment folder file by file, writing over the previous copy in place: a disk that fills in the middle leaves
truncated files, and a resume then finds no state it can read. Through `WholeFiles` each file is written under
a temporary name beside its target and renamed onto it once complete, so the target keeps its last whole copy;
the write that found the disk full is recorded in FULL_WRITES (study.sweep.diskfull stops the sweep on it).
"""
from __future__ import annotations

import contextlib
import errno
import os
import uuid

import pyarrow
import pyarrow.fs

FULL_WRITES: list[str] = []  # in this process: every file a write found the disk full for, in order


class WholeFiles(pyarrow.fs.FileSystemHandler):
    """pyarrow's LocalFileSystem, except for files opened for writing (see the module)."""

    def __init__(self) -> None:
        self._local = pyarrow.fs.LocalFileSystem()

    def __eq__(self, other) -> bool:
        return isinstance(other, WholeFiles)

    def __ne__(self, other) -> bool:
        return not self == other

    def __reduce__(self):  # Tune pickles its storage into tuner.pkl and sends it to the trials' workers
        return WholeFiles, ()

    def open_output_stream(self, path, metadata):
        return pyarrow.PythonFile(_WholeFile(path), mode="w")

    def get_type_name(self):
        return "local-whole-files"

    def normalize_path(self, path):
        return self._local.normalize_path(path)

    def get_file_info(self, paths):
        return self._local.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self._local.get_file_info(selector)

    def create_dir(self, path, recursive):
        self._local.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self._local.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self._local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise OSError(errno.EPERM, "refusing to empty the root folder")

    def delete_file(self, path):
        self._local.delete_file(path)

    def move(self, src, dest):
        self._local.move(src, dest)

    def copy_file(self, src, dest):
        self._local.copy_file(src, dest)

    def open_input_stream(self, path):
        return self._local.open_input_stream(path)

    def open_input_file(self, path):
        return self._local.open_input_file(path)

    def open_append_stream(self, path, metadata):
        return self._local.open_append_stream(path, metadata=metadata)


class _WholeFile:
    """Written under a temporary name beside `path`, renamed onto it by a close after every write succeeded; a
    failed write, or a close that never comes, removes the temporary file instead."""

    def __init__(self, path: str):
        self.path, self.failed, self._out = path, False, None
        folder, name = os.path.split(path)
        self.tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
        self._out = self._checked(lambda: open(self.tmp, "wb"))

    def _checked(self, action):
        try:
            return action()
        except OSError as err:
            self.failed = True
            self._discard()  # now: the writer may hold on to this object for long (a worker waiting to be stopped)
            if err.errno is None:
                raise
            if err.errno == errno.ENOSPC:
                FULL_WRITES.append(self.path)
            # Named after the target: the temporary name means nothing to a user.
            raise type(err)(err.errno, err.strerror, self.path) from None

    @property
    def closed(self) -> bool:
        return self._out is None or self._out.closed

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._out.tell()

    def write(self, data) -> int:
        return self._checked(lambda: self._out.write(data))

    def flush(self) -> None:
        self._checked(self._out.flush)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._checked(self._out.close)
            if not self.failed:
                os.replace(self.tmp, self.path)
        finally:
            self._discard()

    def _discard(self) -> None:
        if self._out is not None and not self._out.closed:
            with contextlib.suppress(OSError):
                self._out.close()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)

    def __del__(self) -> None:
        self._discard()
