"""MXNet's NDArray list container (what ``mx.nd.save`` writes, ``mx.nd.load`` reads).

Layout (MXNet 1.x, little-endian)::

    u64 0x112  u64 0  u64 n_arrays
    n_arrays x [u32 magic (V2 0xF993FAC9 / V3 0xF993FACA)  i32 storage type (0 = dense)
                i32 ndim  i64 dims[ndim]  i32 dev_type  i32 dev_id  i32 type_flag  data]
    u64 n_names  n_names x [u64 length  bytes]

Our metadata travels as one uint8 array under the reserved key ``__tiezoo__``, so
``mx.nd.load`` on a tiezoo file returns the canonical tensors plus that key. MXNet's own
reader trusts the header (a forged dimension makes it allocate terabytes), so every size
is checked against the file size here before any data is read.
"""
import json
import struct

import numpy as np

from ..errors import CorruptCheckpointError
from . import Index, check_entry, read_into

NAME = "MXNet .params"
META_KEY = "__tiezoo__"
_LIST_MAGIC = 0x112
_V2, _V3 = 0xF993FAC9, 0xF993FACA
_TYPE_FLAGS = {0: "float32", 1: "float64", 2: "float16", 3: "uint8", 4: "int32",
               5: "int8", 6: "int64", 7: "bool"}
_FLAG_OF = {np.dtype(v): k for k, v in _TYPE_FLAGS.items()}
_MAX_NDIM = 32


class _Reader:
    def __init__(self, f, path, size):
        self.f, self.path, self.size, self.pos = f, path, size, 0

    def take(self, n, what):
        if self.pos + n > self.size:
            raise CorruptCheckpointError(f"{self.path}: truncated while reading {what} "
                                         f"(needs {n} bytes at offset {self.pos}, file has {self.size})")
        self.f.seek(self.pos)
        data = self.f.read(n)
        if len(data) != n:
            raise CorruptCheckpointError(f"{self.path}: truncated while reading {what}")
        self.pos += n
        return data

    def unpack(self, fmt, what):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def read_index(f, path, size):
    r = _Reader(f, path, size)
    if size < 24:
        raise CorruptCheckpointError(f"{path}: not an MXNet .params file (only {size} bytes)")
    magic, _reserved, count = r.unpack("QQQ", "header")
    if magic != _LIST_MAGIC:
        raise CorruptCheckpointError(f"{path}: not an MXNet .params file (magic {magic:#x}, "
                                     f"expected {_LIST_MAGIC:#x})")
    # Each array takes at least 28 header bytes: a forged count cannot make us loop forever.
    if count > (size - 24) // 28:
        raise CorruptCheckpointError(f"{path}: header claims {count} arrays, more than the "
                                     f"file's {size} bytes can hold")
    geometry = []
    for i in range(count):
        what = f"array #{i} header"
        arr_magic, stype = r.unpack("Ii", what)
        if arr_magic not in (_V2, _V3):
            raise CorruptCheckpointError(f"{path}: array #{i} has magic {arr_magic:#x}; only "
                                         f"MXNet 1.x V2/V3 NDArrays are supported")
        if stype != 0:
            raise CorruptCheckpointError(f"{path}: array #{i} has storage type {stype}; "
                                         f"only dense arrays are supported")
        (ndim,) = r.unpack("i", what)
        if ndim < 0 or ndim > _MAX_NDIM:
            raise CorruptCheckpointError(f"{path}: array #{i} claims {ndim} dimensions")
        dims = list(r.unpack(f"{ndim}q", what)) if ndim else []
        if ndim == 0:
            raise CorruptCheckpointError(f"{path}: array #{i} is an empty (none) NDArray")
        _dev_type, _dev_id, flag = r.unpack("iii", what)
        if flag not in _TYPE_FLAGS:
            raise CorruptCheckpointError(f"{path}: array #{i} has unsupported dtype flag {flag}")
        geometry.append((_TYPE_FLAGS[flag], dims, r.pos))
        entry = check_entry(path, f"#{i}", _TYPE_FLAGS[flag], dims, r.pos, size)
        r.pos += entry.nbytes
    (n_names,) = r.unpack("Q", "name count")
    if n_names not in (0, count):
        raise CorruptCheckpointError(f"{path}: {count} arrays but {n_names} names")
    names = []
    for i in range(n_names):
        (length,) = r.unpack("Q", f"name #{i}")
        names.append(r.take(length, f"name #{i}").decode("utf-8"))
    if not names:
        names = [str(i) for i in range(count)]
    if len(set(names)) != len(names):
        raise CorruptCheckpointError(f"{path}: duplicate tensor names")
    index = Index(path=path, format="params", file_size=size)
    for name, (dtype, dims, offset) in zip(names, geometry):
        index.entries[name] = check_entry(path, name, dtype, dims, offset, size)
    meta = index.entries.pop(META_KEY, None)
    if meta is not None:
        if meta.dtype != np.uint8 or len(meta.shape) != 1:
            raise CorruptCheckpointError(f"{path}: metadata entry {META_KEY!r} is not a byte array")
        buf = np.empty(meta.nbytes, dtype=np.uint8)
        read_into(f, path, meta, buf)
        index.metadata = json.loads(buf.tobytes().decode("utf-8"))
        if not isinstance(index.metadata, dict):
            raise CorruptCheckpointError(f"{path}: metadata is not a JSON object")
    return index


def supports_dtype(dtype):
    return np.dtype(dtype) in _FLAG_OF


def array_header(arr):
    """The bytes MXNet 1.x writes before a dense CPU array's data (``NDArray::Save``, V2)."""
    dtype = np.dtype(arr.dtype)
    if dtype not in _FLAG_OF:
        raise ValueError(f"dtype {dtype} cannot be stored in an MXNet .params file")
    return (struct.pack("<Iii", _V2, 0, arr.ndim) + struct.pack(f"<{arr.ndim}q", *arr.shape)
            + struct.pack("<iii", 1, 0, _FLAG_OF[dtype]))


def write(path, tensors, metadata):
    """Write ``tensors`` (name -> numpy array) and their metadata to the new file ``path``.

    ``metadata()`` gives the metadata dict; it is called after the tensors are written (the
    metadata array comes last), so their checksums can be computed meanwhile.
    """
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", _LIST_MAGIC, 0, len(tensors) + 1))
        for arr in tensors.values():
            f.write(array_header(arr))
            f.write(memoryview(np.ascontiguousarray(arr).reshape(-1).view(np.uint8)))
        meta = np.frombuffer(json.dumps(metadata(), sort_keys=True).encode("utf-8"), dtype=np.uint8)
        f.write(array_header(meta))
        f.write(memoryview(meta))
        f.write(struct.pack("<Q", len(tensors) + 1))
        for name in list(tensors) + [META_KEY]:
            raw = name.encode("utf-8")
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
        f.flush()
