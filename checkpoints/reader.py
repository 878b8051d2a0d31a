"""Tensor bytes from an open checkpoint into memory at the speed of a page-cache read,
with every byte's crc32 verified.

Two ways in, both through the checkpoint's one open descriptor (``pread``):

- **into new arrays** (a model without parameters yet, or a value that must be converted):
  each tensor is read straight into its new array, chunk by chunk, while a second thread
  computes the crc32 of the chunk just read, so the checksum covers exactly the bytes that
  were loaded and costs no wall time beyond the read;
- **into a model's existing parameters** (a warm reload): the model must stay as it was
  unless the whole file verifies, so the tensors are first checksummed through a few
  reused chunk-sized buffers (read and checksum overlap), and only then read straight into
  the parameters' memory: one copy into place and no second copy of the model in memory.
  Between the two passes only a program writing *into* the file (rather than replacing it,
  as every tiezoo writer does) could change the bytes; the caller detects that through
  :meth:`CheckpointFile.changed` and checks the parameters again.

Why ``pread`` and not a memory map: the warm reload would save one copy into a small cache-
resident buffer, but a program that truncates the file while it is mapped (MXNet's own
``save_parameters`` and ``cp`` both rewrite files in place) turns the next page access into
SIGBUS, which kills the process; ``pread`` reports the same event as a short read, which
becomes a clear :class:`CorruptCheckpointError`.
"""
import concurrent.futures
import threading
import zlib

import numpy as np

from .formats import pread_exactly

__all__ = ["Checksums", "read_new", "checksum_through_buffers", "read_in_place", "crc32_of",
           "CHUNK"]

CHUNK = 8 << 20          # bytes per read: large enough for few syscalls, small enough to
                         # stay in the CPU cache between the read and its checksum
_BUFFERS = 3             # chunk buffers in flight in the checksum-only pass

_worker = None
_worker_lock = threading.Lock()


def _checksum_worker():
    """One thread, so that the chunks of a tensor are checksummed in order."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                            thread_name_prefix="tiezoo-crc")
        return _worker


def crc32_of(arr):
    """crc32 of a numpy array's bytes."""
    return zlib.crc32(memoryview(np.ascontiguousarray(arr).reshape(-1).view(np.uint8))) & 0xFFFFFFFF


class Checksums:
    """Running crc32 per tensor name, fed chunk by chunk and computed in feeding order on
    the checksum thread. A chunk's memory must stay valid until :meth:`finish` returns."""

    def __init__(self):
        self._running = {}
        self._last = None

    def feed(self, name, chunk):
        self._last = _checksum_worker().submit(self._update, name, chunk)
        return self._last

    def _update(self, name, chunk):
        self._running[name] = zlib.crc32(chunk, self._running.get(name, 0))

    def finish(self):
        """Wait for every chunk fed so far; ``{name: crc32}``."""
        if self._last is not None:
            self._last.result()
        return {name: value & 0xFFFFFFFF for name, value in self._running.items()}


def _byte_view(arr):
    return memoryview(arr.reshape(-1).view(np.uint8))


def _chunks(nbytes):
    for start in range(0, nbytes, CHUNK):
        yield start, min(nbytes, start + CHUNK)


def read_new(ckpt, entry, out, checksums=None):
    """Read the entry's bytes into the new numpy array ``out``; with ``checksums``, each
    chunk is checksummed from ``out`` itself once it has been read."""
    view = _byte_view(out)
    if not entry.nbytes:
        if checksums is not None:
            checksums.feed(entry.name, b"")
        return
    for start, stop in _chunks(entry.nbytes):
        ckpt.read_into(entry, out, start, stop)
        if checksums is not None:
            checksums.feed(entry.name, view[start:stop])


def checksum_through_buffers(ckpt, entries, checksums):
    """Checksum the entries' bytes without keeping them: each chunk is read into one of a
    few reused buffers while the previous one is checksummed."""
    buffers = [np.empty(CHUNK, dtype=np.uint8) for _ in range(_BUFFERS)]
    pending = [None] * _BUFFERS
    turn = 0
    try:
        for entry in entries:
            if not entry.nbytes:
                checksums.feed(entry.name, b"")
            for start, stop in _chunks(entry.nbytes):
                slot = turn % _BUFFERS
                turn += 1
                if pending[slot] is not None:
                    pending[slot].result()       # its checksum is done: the buffer is free
                view = _byte_view(buffers[slot])[:stop - start]
                pread_exactly(ckpt.fd, ckpt.path, entry, view, start)
                pending[slot] = checksums.feed(entry.name, view)
    finally:
        for job in pending:
            if job is not None:
                job.result()


def read_in_place(ckpt, entry, out):
    """Read the entry's bytes straight into ``out`` (a parameter's memory)."""
    ckpt.read_into(entry, out)
