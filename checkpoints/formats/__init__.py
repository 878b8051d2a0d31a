"""Checkpoint container formats, chosen by file extension.

Each format module parses and validates its container into an :class:`Index` (tensor
names, dtypes, shapes and byte ranges, checked against the file size before any tensor
byte is read) and writes a ``{name: numpy array}`` dict plus tiezoo metadata. Tensor data
is raw little-endian C-order bytes in both, so reading it is shared here.
"""
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import CheckpointError, CorruptCheckpointError

__all__ = ["TensorEntry", "Index", "CheckpointFile", "format_for", "read_index", "read_into",
           "pread_exactly", "directory_error", "FORMATS"]


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: np.dtype
    shape: tuple
    offset: int   # absolute byte offset of the data in the file
    nbytes: int


@dataclass
class Index:
    path: str
    format: str
    file_size: int
    entries: dict = field(default_factory=dict)   # name -> TensorEntry, in file order
    metadata: dict = None                         # tiezoo metadata; None for foreign files


def _formats():
    from . import params_file, safetensors_file
    return {".params": params_file, ".safetensors": safetensors_file}


FORMATS = (".params", ".safetensors")


def directory_error(path):
    """The error for a directory given where a checkpoint file belongs, naming the file
    inside it to pass instead (step checkpoints are directories holding model.params)."""
    inside = sorted(n for n in os.listdir(path) if os.path.splitext(n)[1].lower() in FORMATS
                    and not n.startswith(".")) if os.access(path, os.R_OK | os.X_OK) else []
    preferred = [n for n in inside if os.path.splitext(n)[0] == "model"] or inside
    if preferred:
        return CheckpointError(f"{path} is a directory; pass the checkpoint file inside it "
                               f"({os.path.join(path, preferred[0])})")
    return CheckpointError(f"{path} is a directory, not a checkpoint file, and holds no "
                           f"{' or '.join(FORMATS)} file; pass a checkpoint file")


def format_for(path):
    if os.path.isdir(str(path)):
        raise directory_error(str(path))
    ext = os.path.splitext(str(path))[1].lower()
    mods = _formats()
    if ext not in mods:
        raise CheckpointError(f"{path}: unknown checkpoint extension {ext!r}; "
                              f"supported: {', '.join(FORMATS)}")
    return mods[ext]


class CheckpointFile:
    """One open checkpoint: its validated index, and its tensor bytes read through the same
    descriptor. Another process replacing the path meanwhile (a rename over it, as every
    tiezoo writer does) cannot mix two files: this descriptor keeps reading the file it
    opened. Tensor reads use ``pread``, so several threads may read at once.

        with CheckpointFile(path) as ckpt:
            ckpt.index.entries ...; ckpt.read_into(entry, array)
    """

    def __init__(self, path):
        self.path = path = str(path)
        self.module = format_for(path)
        try:
            self.file = open(path, "rb")
        except IsADirectoryError:
            raise directory_error(path) from None
        except OSError as e:
            raise CheckpointError(f"{path}: cannot read checkpoint: {e.strerror or e}") from None
        try:
            self.fd = self.file.fileno()
            status = os.fstat(self.fd)
            self.size = status.st_size
            self._identity = _identity(status)
            self.index = self._read_index()
        except BaseException:
            self.file.close()
            raise

    def _read_index(self):
        try:
            return self.module.read_index(self.file, self.path, self.size)
        except CheckpointError:
            raise
        except (ValueError, OverflowError, MemoryError, RecursionError, UnicodeDecodeError,
                KeyError, TypeError, IndexError) as e:
            raise CorruptCheckpointError(f"{self.path}: malformed {self.module.NAME} file "
                                         f"({type(e).__name__}: {e})") from None

    def read_into(self, entry, out, start=0, stop=None):
        """Fill bytes ``[start, stop)`` of the numpy array ``out`` (the entry's size) with
        the same bytes of the entry's data."""
        view = _entry_view(self.path, entry, out)
        stop = entry.nbytes if stop is None else stop
        pread_exactly(self.fd, self.path, entry, view[start:stop], start)

    def changed(self):
        """Whether the file was modified in place since it was opened (a program writing
        into it rather than replacing it); its bytes may then not be one file's."""
        try:
            return _identity(os.fstat(self.fd)) != self._identity
        except OSError:
            return True

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _identity(status):
    return (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)


def _entry_view(path, entry, out):
    """The bytes of the numpy array ``out``, which must be the size of the entry's data."""
    view = memoryview(out.reshape(-1).view(np.uint8))
    if view.nbytes != entry.nbytes:
        raise CheckpointError(f"{path}: tensor {entry.name!r}: buffer of {view.nbytes} bytes "
                              f"for {entry.nbytes} bytes of data")
    return view


def pread_exactly(fd, path, entry, view, start=0):
    """Fill the byte buffer ``view`` with the entry's data bytes from ``start`` on."""
    got, want = 0, view.nbytes
    while got < want:
        try:
            n = os.preadv(fd, [view[got:]], entry.offset + start + got)
        except OSError as e:
            raise CheckpointError(f"{path}: cannot read tensor {entry.name!r} "
                                  f"({e.strerror or e})") from None
        if not n:
            raise CorruptCheckpointError(f"{path}: tensor {entry.name!r} is truncated "
                                         f"({start + got} of {entry.nbytes} bytes)")
        got += n


def read_index(path):
    """Parse and validate the container at ``path`` without reading tensor data."""
    with CheckpointFile(path) as ckpt:
        return ckpt.index


def read_into(f, path, entry, out):
    """Fill the numpy array ``out`` (entry's dtype and size) with the entry's bytes, read
    from the open file ``f``."""
    pread_exactly(f.fileno(), path, entry, _entry_view(path, entry, out))


def check_entry(path, name, dtype, shape, offset, file_size):
    """Validate one tensor's geometry against the file and build its entry."""
    if any((not isinstance(d, int)) or d < 0 for d in shape):
        raise CorruptCheckpointError(f"{path}: tensor {name!r} has an invalid shape {shape}")
    nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize if shape else np.dtype(dtype).itemsize
    if offset < 0 or offset + nbytes > file_size:
        raise CorruptCheckpointError(
            f"{path}: tensor {name!r} of shape {tuple(shape)} ({nbytes} bytes at offset "
            f"{offset}) runs past the end of the file ({file_size} bytes); truncated or forged")
    return TensorEntry(name, np.dtype(dtype), tuple(shape), offset, nbytes)
