"""The one atomic writer: every file tiezoo writes goes through here.

A file is written to a temporary name in its own directory, flushed and (by default)
fsync'ed, renamed over the target, and the directory is fsync'ed, so after a crash, a kill
or a power loss the name points at the previous complete file or the new complete file,
never at a half-written one. A failed write (disk full, file-size limit, permission)
removes the temporary file and raises :class:`CheckpointError` naming the path; the
previous file is left byte for byte. New files get the permissions the umask gives (as
``open()`` would), not the 0600 of a private temporary file, so that other users and nodes
of a shared filesystem can read checkpoints.

    with atomic_path("model.params") as tmp:      # write tmp however you like
        writer(tmp)
    atomic_write("config.json", text)              # str or bytes
    with atomic_open("metrics.json", "w") as f:    # a file object
        json.dump(obj, f)
"""
import contextlib
import os
import tempfile

from .errors import CheckpointError

__all__ = ["atomic_path", "atomic_write", "atomic_open", "umask_mode"]


def umask_mode(base=0o666):
    """The mode ``open(path, "w")`` gives a new file under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _fsync_directory(directory):
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return          # some filesystems do not open directories; the rename still happened
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


@contextlib.contextmanager
def atomic_path(path, *, durable=True, mode=None):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    ``durable=False`` skips the fsyncs (still atomic against a crash or kill of this
    process, not against a power loss). ``mode``: the new file's permissions (default: what
    the umask gives; an existing file's mode is kept).
    """
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                   dir=directory)
        os.close(fd)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write here ({e.strerror or e}); choose a "
                              f"writable location") from e
    try:
        yield tmp
        if mode is None:
            try:
                mode_ = os.stat(path).st_mode & 0o7777
            except OSError:
                mode_ = umask_mode()
        else:
            mode_ = mode
        os.chmod(tmp, mode_)
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            _fsync_directory(directory)
    except OSError as e:
        _unlink(tmp)
        raise CheckpointError(f"{path}: could not write ({e.strerror or e}); any previous "
                              f"file at this path is intact") from e
    except BaseException:
        _unlink(tmp)
        raise


def atomic_write(path, data, *, durable=True):
    """Write ``data`` (str: UTF-8, or bytes) to ``path`` atomically."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_path(path, durable=durable) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


@contextlib.contextmanager
def atomic_open(path, mode="w", *, durable=True, encoding="utf-8"):
    """A file object (``"w"`` text or ``"wb"``) whose content replaces ``path`` atomically
    when the block ends without an exception."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', not {mode!r}")
    with atomic_path(path, durable=durable) as tmp:
        with open(tmp, mode, **({"encoding": encoding} if mode == "w" else {})) as f:
            yield f


def _unlink(p):
    try:
        os.unlink(p)
    except OSError:
        pass
