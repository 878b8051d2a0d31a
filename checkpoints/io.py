"""``save``, ``load`` and ``inspect``: one code path for every format and every variant.

A checkpoint holds each distinct parameter once, under its canonical name (the name the
head-less backbone has), plus metadata: format version, the tie map (alias -> canonical),
per-tensor dtype/shape/crc32, the model config and assets (e.g. the tokenizer vocabulary).
"""
import base64
import concurrent.futures
import dataclasses
import json
import zlib
from dataclasses import dataclass, field

import mxnet as mx
import numpy as np

from . import _mx_compat as mxc
from . import formats
from .atomic import atomic_path
from .errors import CheckpointError, CorruptCheckpointError, ShapeMismatchError, TieConflictError
from .ties import resolve_declared, ties_of

__all__ = ["save", "load", "inspect", "read_assets", "LoadReport", "CheckpointInfo",
           "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "tiezoo-checkpoint"
FORMAT_VERSION = 1
_CRC_CHUNK = 1 << 24


def _seal(body):
    """Metadata as stored: the body plus a crc32 of its canonical JSON, so that a flipped
    byte in the metadata (a tie, a config value) is an error, not a silently different model."""
    text = json.dumps(body, sort_keys=True)
    return {"body": body, "crc32": zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF}


def _unseal(index):
    meta = index.metadata
    if meta is None:
        return None
    body = meta.get("body")
    if not isinstance(body, dict):
        raise CorruptCheckpointError(f"{index.path}: tiezoo metadata has no body")
    text = json.dumps(body, sort_keys=True)
    if zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF != meta.get("crc32"):
        raise CorruptCheckpointError(f"{index.path}: tiezoo metadata fails its crc32 checksum")
    return body


def _crc32(arr):
    return zlib.crc32(memoryview(arr.reshape(-1).view(np.uint8))) & 0xFFFFFFFF


# zlib.crc32 and file reads release the GIL: checksums run on a second thread while the
# next tensor is read or the previous one written, so verification costs little wall time.
_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="tiezoo-crc")
    return _POOL


def _config_dict(config):
    if config is None:
        return None
    if hasattr(config, "to_dict"):
        return config.to_dict()
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return dict(config)
    raise TypeError(f"config must be a dict or a dataclass, not {type(config).__name__}")


def _encode_assets(assets):
    out = {}
    for name, value in (assets or {}).items():
        if isinstance(value, str):
            out[name] = {"encoding": "utf-8", "data": value}
        elif isinstance(value, (bytes, bytearray)):
            out[name] = {"encoding": "base64", "data": base64.b64encode(bytes(value)).decode("ascii")}
        else:
            raise TypeError(f"asset {name!r} must be str or bytes, not {type(value).__name__}")
    return out


def _host_array(param, name, path):
    """The parameter's value as a numpy array, without a copy when it lives on the CPU."""
    if not mxc.is_initialized(param):
        raise CheckpointError(f"{path}: cannot save parameter {name!r}: it is not initialized "
                              f"(call initialize() and run one forward pass first)")
    arr = mxc.param_ndarray(param)
    if arr.context.device_type == "cpu":
        return arr, mxc.numpy_view(arr)
    return None, arr.asnumpy()


def save(block, path, *, config=None, assets=None):
    """Write ``block``'s parameters to ``path`` (``.params`` or ``.safetensors``), atomically.

    Each shared tensor is written once, under its canonical name. ``config`` (a dict or a
    dataclass; by default ``block.config`` when the block has one) and ``assets``
    (``{name: str | bytes}``) travel in the metadata.
    """
    fmt = formats.format_for(path)
    if config is None:
        config = getattr(block, "config", None)
    ties = ties_of(block)
    keep_alive, tensors = [], {}
    for name, param in mxc.structural_params(block).items():
        if name in ties:
            continue
        if name.startswith("__"):
            raise CheckpointError(f"{path}: parameter name {name!r} is reserved")
        owner, host = _host_array(param, name, path)
        keep_alive.append(owner)  # the numpy view must not outlive its NDArray
        tensors[name] = host
    crcs = _pool().map(_crc32, tensors.values())
    table = {name: {"dtype": host.dtype.name, "shape": list(host.shape), "crc32": crc}
             for (name, host), crc in zip(tensors.items(), crcs)}
    metadata = _seal({
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "ties": ties,
        "tensors": table,
        "config": _config_dict(config),
        "assets": _encode_assets(assets),
    })
    with atomic_path(path) as tmp:
        fmt.write(tmp, tensors, metadata)
    del keep_alive


@dataclass
class LoadReport:
    """What :func:`load` did, by name.

    ``loaded``: model parameters filled from the file (canonical model names);
    ``missing``: model parameters the file lacks, initialized by their own initializer;
    ``unused``: file tensors the model has no place for;
    ``aliased``: file name -> model name, where they differ.
    """
    path: str
    loaded: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    unused: list = field(default_factory=list)
    aliased: dict = field(default_factory=dict)

    def __str__(self):
        lines = [f"{self.path}: loaded {len(self.loaded)} tensors"]
        if self.aliased:
            lines.append(f"  through ties: " + ", ".join(f"{a} -> {b}" for a, b in self.aliased.items()))
        lines.append(f"  missing (freshly initialized): {', '.join(self.missing) or 'none'}")
        lines.append(f"  unused (in file, not in model): {', '.join(self.unused) or 'none'}")
        return "\n".join(lines)


def _check_metadata(index):
    """Validate the metadata against the container; returns (tensor table, tie map, body)."""
    meta = _unseal(index)
    if meta is None:
        return {}, {}, {}
    path = index.path
    if meta.get("format") != FORMAT_NAME:
        raise CorruptCheckpointError(f"{path}: metadata has format {meta.get('format')!r}, "
                                     f"expected {FORMAT_NAME!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version!r} is newer than "
                              f"this tiezoo reads ({FORMAT_VERSION}); upgrade tiezoo")
    table, ties = meta.get("tensors"), meta.get("ties") or {}
    if not isinstance(table, dict) or not isinstance(ties, dict):
        raise CorruptCheckpointError(f"{path}: metadata tensor table or tie map is malformed")
    if set(table) != set(index.entries):
        extra = sorted(set(index.entries) ^ set(table))
        raise CorruptCheckpointError(f"{path}: metadata and tensors disagree on tensor "
                                     f"{extra[0]!r}")
    for name, entry in index.entries.items():
        info = table[name]
        if (not isinstance(info, dict) or info.get("dtype") != entry.dtype.name
                or list(info.get("shape", ())) != list(entry.shape)):
            raise CorruptCheckpointError(f"{path}: tensor {name!r}: metadata says {info}, the "
                                         f"file holds {entry.dtype.name}{list(entry.shape)}")
    return table, ties, meta


def _place(block, names, file_ties, params, model_ties, rename):
    """Map each file tensor name to the canonical model name it fills (or None)."""
    out = {}
    for name in names:
        target = None
        own = rename(name) if rename else name
        if own is None:
            out[name] = None
            continue
        for candidate in (own, file_ties.get(name), resolve_declared(block, own)):
            if candidate is not None and candidate in params:
                target = model_ties.get(candidate, candidate)
                break
        out[name] = target
    return out


def _read(f, index, name, pending):
    """Read one tensor into a fresh CPU NDArray; its checksum is queued on ``pending``."""
    entry = index.entries[name]
    arr = mx.nd.empty(entry.shape or (1,), dtype=entry.dtype, ctx=mx.cpu())
    view = mxc.numpy_view(arr)
    formats.read_into(f, index.path, entry, view)
    # The queued job reads the NDArray's memory: the tuple keeps the array alive until then.
    pending.append((name, _pool().submit(_crc32, view), arr))
    return arr, view


def _read_group(f, index, table, target, fnames, pending):
    """Read the file tensors that all fill ``target``; tied copies must be equal."""
    fnames = sorted(fnames, key=lambda n: n != target)  # the canonical name first
    arr, view = _read(f, index, fnames[0], pending)
    for other in fnames[1:]:
        _, other_view = _read(f, index, other, pending)
        if not np.array_equal(view, other_view):
            _verify(index, table, pending)  # corruption explains a difference first
            raise TieConflictError(f"{index.path}: tensors {fnames[0]!r} and {other!r} are "
                                   f"tied (both load into {target!r}) but hold different values")
    return arr


def _verify(index, table, pending):
    for name, crc, _arr in pending:
        if name in table and crc.result() != table[name]["crc32"]:
            raise CorruptCheckpointError(f"{index.path}: tensor {name!r} fails its crc32 "
                                         f"checksum; the file is corrupted")


def load(block, path, *, strict=False, ctx=None, rename=None):
    """Load ``path`` into ``block``, whichever variant of the model wrote it.

    Tensor names are matched directly, through the file's tie map, and through ``block``'s
    own ``@tied`` declarations (so a head's alias name in a plain MXNet file finds the
    backbone's canonical parameter). Every tensor is read and verified before the model is
    touched: a failing load leaves the model as it was. Parameters the file lacks are
    initialized with their own initializer and listed in ``report.missing``; file tensors
    without a place are listed in ``report.unused``. ``strict=True`` makes either an error.

    ``rename`` (for foreign naming schemes such as GluonNLP 0.10's; the zoo passes it, users
    do not need to) maps a file name to the model's name, or to None for tensors that have
    no counterpart (reported as unused).
    """
    path = str(path)
    index = formats.read_index(path)
    table, file_ties, _meta = _check_metadata(index)
    params = mxc.structural_params(block)
    model_ties = ties_of(block)
    placement = _place(block, list(index.entries), file_ties, params, model_ties, rename)
    report = LoadReport(path=path)
    sources = {}   # canonical model name -> [file names]
    for fname, target in placement.items():
        if target is None:
            report.unused.append(fname)
        else:
            sources.setdefault(target, []).append(fname)
    # A file tie whose alias is a separate (untied) parameter in this model gets the
    # canonical's value too, so that untied variants load tied checkpoints.
    for alias, canon in file_ties.items():
        target = model_ties.get(alias, alias)
        if target in params and target not in sources and placement.get(canon):
            sources[target] = [canon]
    for target, fnames in sources.items():
        param = params[target]
        for fname in fnames:
            entry = index.entries[fname]
            if mxc.merge_shapes(tuple(param.shape or ()), entry.shape) is None:
                raise ShapeMismatchError(
                    f"{path}: tensor {fname!r} has shape {entry.shape} but model parameter "
                    f"{target!r} has shape {tuple(param.shape)}")
    loaded_ids = {id(params[t]) for t in sources}
    missing = {}
    for name, param in params.items():
        if id(param) not in loaded_ids and name not in model_ties:
            missing.setdefault(id(param), (name, param))
    report.missing = [name for name, _ in missing.values()]
    if strict and (report.unused or report.missing):
        raise CheckpointError(f"{path}: strict load: unused tensors {report.unused}, "
                              f"missing parameters {report.missing}")
    staged, pending = [], []
    try:
        with open(path, "rb") as f:
            for target, fnames in sources.items():
                staged.append((target, _read_group(f, index, table, target, fnames, pending)))
                report.aliased.update({n: target for n in fnames if n != target})
        _verify(index, table, pending)
    finally:
        concurrent.futures.wait([fut for _, fut, _ in pending])  # no job outlives its array
    for target, arr in staged:
        _assign(params[target], arr, ctx)
        report.loaded.append(target)
    for _name, param in missing.values():
        mxc.ensure_initialized(param, ctx)
    return report


def _assign(param, arr, ctx):
    dtype = mxc.param_dtype(param)
    if arr.dtype != dtype:
        arr = arr.astype(dtype)
    if mxc.is_initialized(param):
        param.set_data(arr)
        return
    target_ctx = ctx or mx.cpu()
    if target_ctx != arr.context:
        arr = arr.copyto(target_ctx)
    mxc.adopt_data(param, arr)


@dataclass
class CheckpointInfo:
    """What :func:`inspect` reports about a checkpoint file."""
    path: str
    format: str
    format_version: int          # None for a file without tiezoo metadata
    tensors: list                # [(name, shape, dtype name)]
    ties: dict
    config: dict
    assets: list
    file_size: int

    def __str__(self):
        lines = [f"{self.path}: {self.format} file, {self.file_size} bytes, "
                 + (f"tiezoo format v{self.format_version}" if self.format_version
                    else "no tiezoo metadata (plain MXNet / foreign file)")]
        total = 0
        for name, shape, dtype in self.tensors:
            n = int(np.prod(shape)) if shape else 1
            total += n
            lines.append(f"  {name:<60} {dtype:<8} {list(shape)}")
        lines.append(f"  {len(self.tensors)} tensors, {total:,} values")
        for alias, canon in self.ties.items():
            lines.append(f"  tie: {alias} -> {canon}")
        if self.config:
            lines.append("  config: " + json.dumps(self.config, sort_keys=True))
        if self.assets:
            lines.append("  assets: " + ", ".join(self.assets))
        return "\n".join(lines)


def inspect(path, *, verify=False):
    """Describe a checkpoint; with ``verify=True`` also check every tensor's crc32."""
    path = str(path)
    index = formats.read_index(path)
    table, ties, meta = _check_metadata(index)
    if verify and table:
        with open(path, "rb") as f:
            for name, entry in index.entries.items():
                crc, left = 0, entry.nbytes
                f.seek(entry.offset)
                while left:
                    chunk = f.read(min(left, _CRC_CHUNK))
                    if not chunk:
                        raise CorruptCheckpointError(f"{path}: tensor {name!r} is truncated")
                    crc = zlib.crc32(chunk, crc)
                    left -= len(chunk)
                if (crc & 0xFFFFFFFF) != table[name]["crc32"]:
                    raise CorruptCheckpointError(f"{path}: tensor {name!r} fails its crc32 checksum")
    return CheckpointInfo(
        path=path, format=index.format, format_version=meta.get("format_version"),
        tensors=[(n, e.shape, e.dtype.name) for n, e in index.entries.items()],
        ties=dict(ties), config=meta.get("config"), assets=sorted(meta.get("assets") or {}),
        file_size=index.file_size)


def read_assets(path):
    """``{name: bytes}`` of the assets stored in a tiezoo checkpoint."""
    index = formats.read_index(str(path))
    out = {}
    for name, info in (_check_metadata(index)[2].get("assets") or {}).items():
        try:
            data = info["data"]
            out[name] = (base64.b64decode(data, validate=True) if info["encoding"] == "base64"
                         else data.encode("utf-8"))
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptCheckpointError(f"{path}: asset {name!r} is malformed ({e})") from None
    return out
