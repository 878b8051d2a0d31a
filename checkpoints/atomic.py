"""The one atomic writer: every file and directory tiezoo writes goes through here.

A file is written to a temporary name in its own directory, flushed and (by default)
fsync'ed, renamed over the target, and the directory is fsync'ed, so after a crash, a kill
or a power loss the name points at the previous complete file or the new complete file,
never at a half-written one. Two processes writing the same path at once each write their
own temporary file, and the last rename wins: the name holds one of the two complete files.
A failed write (disk full, file-size limit, permission) removes the temporary file and
raises :class:`CheckpointError` naming the path; the previous file is left byte for byte.
New files get the permissions the umask gives (as ``open()`` would), not the 0600 of a
private temporary file, so that other users and nodes of a shared filesystem can read
checkpoints; a file that already exists keeps its mode.

    with atomic_path("model.params") as tmp:      # write tmp however you like
        writer(tmp)
    atomic_write("config.json", text)              # str or bytes
    with atomic_open("metrics.json", "w") as f:    # a file object
        json.dump(obj, f)
    with atomic_directory("run/step-00000100") as tmp:   # a directory of files, all or none
        write_files_into(tmp)
"""
import contextlib
import os
import secrets
import shutil

from .errors import CheckpointError

__all__ = ["atomic_path", "atomic_write", "atomic_open", "atomic_directory", "umask_mode",
           "fsync_directory", "is_temporary"]

_SUFFIX = ".tmp"


def umask_mode(base=0o666):
    """The mode ``open(path, "w")`` gives a new file under the current umask.

    Read from ``/proc`` where it can be: ``os.umask`` can only be read by setting it, and a
    file that another thread creates in between would get mode ``base`` unmasked.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return base & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return base & ~mask


def fsync_directory(directory):
    """Make a rename or a new entry in ``directory`` survive a power loss."""
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


def _refuse_directory(path):
    if os.path.isdir(path):
        raise CheckpointError(f"{path} is a directory; give a file name inside it "
                              f"(e.g. {os.path.join(path, 'model.params')})")


def _temporary_name(path):
    """A fresh name beside ``path`` (hidden, never a name a reader would look for)."""
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}.{secrets.token_hex(6)}{_SUFFIX}")


def _write_error(path, e):
    return CheckpointError(f"{path}: could not write ({e.strerror or e}); any previous "
                           f"file at this path is intact")


@contextlib.contextmanager
def atomic_path(path, *, durable=True, mode=None):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The temporary file exists (empty) when the block starts, created with the permissions
    the umask gives. ``durable=False`` skips the fsyncs (still atomic against a crash or kill
    of this process, not against a power loss). ``mode``: the new file's permissions
    (default: what the umask gives; an existing file's mode is kept).
    """
    path = os.path.abspath(os.fspath(path))
    _refuse_directory(path)
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        tmp = _temporary_name(path)
        # Created by the kernel with 0666 & ~umask: no window where the mode is wrong.
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                         0o666))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write here ({e.strerror or e}); choose a "
                              f"writable location") from e
    try:
        yield tmp
        if mode is None:
            try:
                mode = os.stat(path).st_mode & 0o7777
            except OSError:
                mode = None       # a new file: the umask already applied at creation
        if mode is not None:
            os.chmod(tmp, mode)
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
        if durable:
            fsync_directory(directory)
    except OSError as e:
        _unlink(tmp)
        raise _write_error(path, e) from e
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


@contextlib.contextmanager
def atomic_directory(path, *, durable=True):
    """Yield a temporary directory beside ``path``; on success it becomes ``path``.

    Write plain files into it (no atomic writer needed inside). On success every file in it
    is fsync'ed (``durable``), then the directory, then it is renamed into place and the
    parent is fsync'ed: a crash at any moment leaves either no ``path`` or a complete one.
    An existing ``path`` is replaced; a failure removes the temporary directory, leaves any
    previous ``path`` as it was and raises :class:`CheckpointError` naming ``path``.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = _temporary_name(path)
        os.mkdir(tmp, 0o777)      # the umask applies, as for any new directory
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write here ({e.strerror or e}); choose a "
                              f"writable location") from e
    try:
        yield tmp
        if durable:
            for name in os.listdir(tmp):
                full = os.path.join(tmp, name)
                if os.path.isfile(full):
                    fd = os.open(full, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            fsync_directory(tmp)
        _rename_directory(tmp, path)
        if durable:
            fsync_directory(parent)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(f"{path}: could not write ({e.strerror or e}); any previous "
                              f"directory at this path is intact") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _rename_directory(tmp, path):
    """Rename ``tmp`` to ``path``, replacing an existing directory: it is moved aside first
    (a directory cannot be renamed over a non-empty one) and put back if the rename fails."""
    aside = None
    if os.path.lexists(path):
        aside = _temporary_name(path)
        os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except OSError:
        if aside is not None:
            os.rename(aside, path)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def is_temporary(name):
    """Whether a directory entry is one of this module's temporary names (a leftover of a
    writer that was killed)."""
    return name.startswith(".") and name.endswith(_SUFFIX)


def _unlink(p):
    try:
        os.unlink(p)
    except OSError:
        pass
