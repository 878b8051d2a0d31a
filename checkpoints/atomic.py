"""Atomic file replacement: a crash, kill or full disk never leaves a half-written file."""
import contextlib
import os
import tempfile

from .errors import CheckpointError


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The data is fsync'ed before the rename and the directory after it, so after a power
    loss the name points at either the old or the new complete file.
    """
    path = os.path.abspath(str(path))
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as e:
        _unlink(tmp)
        raise CheckpointError(f"{path}: could not write checkpoint ({e.strerror or e}); "
                              f"any previous file at this path is intact") from e
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(p):
    try:
        os.unlink(p)
    except OSError:
        pass
