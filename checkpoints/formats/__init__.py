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

__all__ = ["TensorEntry", "Index", "format_for", "read_index", "read_into", "FORMATS"]


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


def format_for(path):
    ext = os.path.splitext(str(path))[1].lower()
    mods = _formats()
    if ext not in mods:
        raise CheckpointError(f"{path}: unknown checkpoint extension {ext!r}; "
                              f"supported: {', '.join(FORMATS)}")
    return mods[ext]


def read_index(path):
    """Parse and validate the container at ``path`` without reading tensor data."""
    path = str(path)
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint: {e.strerror or e}") from None
    mod = format_for(path)
    try:
        with open(path, "rb") as f:
            return mod.read_index(f, path, size)
    except CheckpointError:
        raise
    except (ValueError, OverflowError, MemoryError, RecursionError, UnicodeDecodeError,
            KeyError, TypeError, IndexError) as e:
        raise CorruptCheckpointError(f"{path}: malformed {mod.NAME} file ({type(e).__name__}: {e})") from None


def read_into(f, path, entry, out):
    """Fill the numpy array ``out`` (entry's dtype and size) with the entry's bytes."""
    view = memoryview(out.reshape(-1).view(np.uint8))
    if view.nbytes != entry.nbytes:
        raise CheckpointError(f"{path}: tensor {entry.name!r}: buffer of {view.nbytes} bytes "
                              f"for {entry.nbytes} bytes of data")
    f.seek(entry.offset)
    got = 0
    while got < entry.nbytes:
        n = f.readinto(view[got:])
        if not n:
            raise CorruptCheckpointError(f"{path}: tensor {entry.name!r} is truncated "
                                         f"({got} of {entry.nbytes} bytes)")
        got += n


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
