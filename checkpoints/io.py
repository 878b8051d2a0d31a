"""``save``, ``load`` and ``inspect``: one code path for every format and every variant.

A checkpoint holds each distinct parameter once, under its canonical name (the name the
head-less backbone has), plus metadata: format version, the tie map (alias -> canonical),
per-tensor dtype/shape/crc32, the model config and assets (e.g. the tokenizer vocabulary).

Saving is two steps: a :class:`ModelSnapshot` (the tensors to write, as host copies or as
views of the parameters, and the metadata), then its atomic write, during which the
tensors' crc32s are computed on other threads. ``save(..., background=True)`` takes the
host copies and leaves the write to the process's background writer
(:mod:`checkpoints.background`). Loading reads through one open descriptor
(:class:`formats.CheckpointFile`) at page-cache speed (:mod:`checkpoints.reader`).
"""
import base64
import concurrent.futures
import dataclasses
import functools
import json
import os
import zlib
from dataclasses import dataclass, field

import mxnet as mx
import numpy as np

from . import _mx_compat as mxc
from . import background as _writer
from . import formats, reader
from .atomic import atomic_path
from .errors import CheckpointError, CorruptCheckpointError, ShapeMismatchError, TieConflictError
from .ties import resolve_declared, ties_of

__all__ = ["save", "load", "inspect", "read_assets", "snapshot", "ModelSnapshot", "LoadReport",
           "CheckpointInfo", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "tiezoo-checkpoint"
FORMAT_VERSION = 1
_CRC_PLACEHOLDER = 0xFFFFFFFF       # the widest crc32, for space reserved before the data


def _seal(body, crc=None):
    """Metadata as stored: the body plus a crc32 of its canonical JSON, so that a flipped
    byte in the metadata (a tie, a config value) is an error, not a silently different model."""
    if crc is None:
        crc = zlib.crc32(json.dumps(body, sort_keys=True).encode("utf-8")) & 0xFFFFFFFF
    return {"body": body, "crc32": crc}


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


# zlib.crc32 and file writes release the GIL: while a save writes one tensor, the crc32s of
# the others are computed on these threads.
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


class ModelSnapshot:
    """What a checkpoint of a block holds, ready to be written any number of times.

    ``tensors``: canonical name -> numpy array, either host copies owned by the snapshot
    (the block may change meanwhile) or views of the block's parameters (the block must
    not change until the write returns); the metadata (ties, config, assets) is fixed when
    the snapshot is taken. Built by :func:`snapshot`.
    """

    def __init__(self, tensors, owners, ties, config, assets):
        self.tensors = tensors
        self._owners = owners          # NDArrays whose memory the views point into
        self._body = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "ties": ties,
                      "config": _config_dict(config), "assets": _encode_assets(assets)}

    @property
    def nbytes(self):
        return sum(arr.nbytes for arr in self.tensors.values())

    def write(self, path, *, durable=True):
        """Write the checkpoint to ``path`` atomically (``durable``: fsync'ed too)."""
        with atomic_path(path, durable=durable) as tmp:
            self.write_file(tmp, fmt=formats.format_for(path))

    def write_file(self, path, *, fmt=None):
        """Write the checkpoint into the new file ``path`` as is (inside a directory that
        :func:`atomic.atomic_directory` makes atomic, for instance)."""
        fmt = fmt or formats.format_for(path)
        if _writer.in_writer_thread():      # in the background: all work on this thread
            crcs = {name: functools.partial(reader.crc32_of, arr) for name, arr in self.tensors.items()}
            fmt.write(path, self.tensors, functools.partial(self._metadata, crcs))
            return
        jobs = {name: _pool().submit(reader.crc32_of, arr) for name, arr in self.tensors.items()}
        try:
            crcs = {name: job.result for name, job in jobs.items()}
            fmt.write(path, self.tensors, functools.partial(self._metadata, crcs))
        finally:
            concurrent.futures.wait(list(jobs.values()))   # no job outlives this call

    def _metadata(self, crcs, final=True):
        """The sealed metadata (``crcs``: name -> a function giving that tensor's crc32);
        ``final=False``: the same with the widest crc32 values in place of the real ones,
        for a format that reserves its header before the data."""
        table = {name: {"dtype": arr.dtype.name, "shape": list(arr.shape),
                        "crc32": crcs[name]() if final else _CRC_PLACEHOLDER}
                 for name, arr in self.tensors.items()}
        body = dict(self._body, tensors=table)
        return _seal(body) if final else _seal(body, crc=_CRC_PLACEHOLDER)


def snapshot(block, *, config=None, assets=None, copy=True):
    """A :class:`ModelSnapshot` of ``block``: each distinct parameter once, canonical name.

    ``copy=True`` takes host copies (waiting only for the block's pending computation), so
    the block may be trained and changed as soon as this returns; ``copy=False`` refers to
    the parameters' memory where it can (CPU). ``config`` defaults to ``block.config``.
    """
    if config is None:
        config = getattr(block, "config", None)
    ties = ties_of(block)
    tensors, owners = {}, []
    for name, param in mxc.structural_params(block).items():
        if name in ties:
            continue
        if name.startswith("__"):
            raise CheckpointError(f"parameter name {name!r} is reserved; rename the block")
        if not mxc.is_initialized(param):
            raise CheckpointError(f"cannot save parameter {name!r}: it is not initialized "
                                  f"(call initialize() and run one forward pass first)")
        arr = mxc.param_ndarray(param)
        if copy:
            tensors[name] = mxc.host_copy(arr)
        elif arr.context.device_type == "cpu":
            owners.append(arr)
            tensors[name] = mxc.numpy_view(arr, writable=False)
        else:
            tensors[name] = arr.asnumpy()
    return ModelSnapshot(tensors, owners, ties, config, assets)


def save(block, path, *, config=None, assets=None, durable=True, background=False):
    """Write ``block``'s parameters to ``path`` (``.params`` or ``.safetensors``), atomically.

    Each shared tensor is written once, under its canonical name. ``config`` (a dict or a
    dataclass; by default ``block.config`` when the block has one) and ``assets``
    (``{name: str | bytes}``) travel in the metadata.

    ``durable=True`` (default) fsyncs the file and its directory, so the checkpoint survives
    a power loss; ``durable=False`` skips that (still atomic against a crash or a kill).

    ``background=True`` returns a :class:`~checkpoints.background.SaveHandle` as soon as a
    host copy of every tensor has been taken: the caller may go on training and changing the
    parameters at once while a writer thread writes the file. ``handle.wait()`` blocks until
    it is written and re-raises the writer's error; ``handle.done()`` polls. At most one
    background write is in flight per process: any later save first waits for it (and
    raises its error if nobody has waited for it). The copies cost host memory the size of
    the parameters until the write ends.
    """
    path = os.path.abspath(os.fspath(path))
    formats.format_for(path)     # a wrong extension or a directory fails here, in the caller

    def take_snapshot(copy):
        try:
            return snapshot(block, config=config, assets=assets, copy=copy)
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {e}") from None

    if background:
        return _writer.run_in_background(
            path, lambda: functools.partial(take_snapshot(True).write, path, durable=durable))
    _writer.run_exclusive(lambda: take_snapshot(False).write(path, durable=durable))
    return None


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
            lines.append("  through ties: " + ", ".join(f"{a} -> {b}" for a, b in self.aliased.items()))
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
        own = rename(name) if rename else name
        target = None
        if own is not None:
            for candidate in _candidates(block, own, file_ties.get(name)):
                if candidate is not None and candidate in params:
                    target = model_ties.get(candidate, candidate)
                    break
        out[name] = target
    return out


def _candidates(block, own, file_canonical):
    # The declarations are consulted last, and only when needed: resolving one walks
    # every block of the model.
    yield own
    yield file_canonical
    yield resolve_declared(block, own)


def _read_new(ckpt, entry, checksums):
    """A new CPU NDArray holding the entry's bytes, checksummed as they arrive."""
    arr = mx.nd.empty(entry.shape or (1,), dtype=entry.dtype, ctx=mx.cpu())
    reader.read_new(ckpt, entry, mxc.numpy_view(arr), checksums)
    return arr


def _verify(path, index, table, crcs):
    for name in index.entries:                  # the first bad tensor in file order
        if name in crcs and name in table and crcs[name] != table[name]["crc32"]:
            raise CorruptCheckpointError(f"{path}: tensor {name!r} fails its crc32 checksum; "
                                         f"the file is corrupted")


def _read_verified(ckpt, table, sources, params):
    """Everything a load does before it touches the model: read each tensor that needs a
    new array (into that array) and checksum the ones that will be read straight into an
    existing parameter afterwards; verify every checksum and every tie.

    Returns ``(staged, direct)``: ``{target: NDArray}`` and ``[(target, entry)]``.
    """
    index = ckpt.index
    checksums = reader.Checksums()
    staged, groups, direct = {}, {}, []
    try:
        for target, fnames in sources.items():
            entries = [index.entries[n] for n in fnames]
            if len(entries) == 1 and mxc.writable_in_place(params[target], entries[0].dtype,
                                                           entries[0].shape):
                direct.append((target, entries[0]))
                continue
            arrays = [_read_new(ckpt, e, checksums if e.name in table else None) for e in entries]
            staged[target] = arrays[0]
            if len(arrays) > 1:
                groups[target] = list(zip(fnames, arrays))
        reader.checksum_through_buffers(ckpt, [e for _, e in direct if e.name in table],
                                        checksums)
    except BaseException:
        checksums.finish()                      # no checksum job outlives its array
        raise
    _verify(ckpt.path, index, table, checksums.finish())
    for target, members in groups.items():      # tied copies in one file must agree
        (first, value), *others = sorted(members, key=lambda m: m[0] != target)
        for other, other_value in others:
            if not np.array_equal(mxc.numpy_view(value), mxc.numpy_view(other_value)):
                raise TieConflictError(f"{ckpt.path}: tensors {first!r} and {other!r} are tied "
                                       f"(both load into {target!r}) but hold different values")
    if ckpt.changed():
        raise CheckpointError(f"{ckpt.path} was modified while it was being read (another "
                              f"program writes into it in place); the model is unchanged. "
                              f"Load it again once that program is done")
    return staged, direct


def _read_into_parameters(ckpt, table, direct, params):
    """Read verified tensors straight into the parameters' memory. A program writing into
    the file meanwhile is caught by the file's changed times; the parameters are then
    checked against the checksums again."""
    for target, entry in direct:
        reader.read_in_place(ckpt, entry, mxc.numpy_view(mxc.param_ndarray(params[target])))
    if not direct or not ckpt.changed():
        return
    for target, entry in direct:
        value = mxc.numpy_view(mxc.param_ndarray(params[target]), writable=False)
        if entry.name not in table or reader.crc32_of(value) != table[entry.name]["crc32"]:
            raise CorruptCheckpointError(
                f"{ckpt.path} was modified while it was being read (another program writes "
                f"into it in place): parameter {target!r} may hold bytes of the new file. "
                f"Load it again once that program is done")


def load(block, path, *, strict=False, ctx=None, rename=None):
    """Load ``path`` into ``block``, whichever variant of the model wrote it.

    Tensor names are matched directly, through the file's tie map, and through ``block``'s
    own ``@tied`` declarations (so a head's alias name in a plain MXNet file finds the
    backbone's canonical parameter). Every tensor is read and verified before the model is
    touched: a failing load leaves the model as it was. Parameters the file lacks are
    initialized with their own initializer and listed in ``report.missing``; file tensors
    without a place are listed in ``report.unused``. ``strict=True`` makes either an error.

    The file is opened once and read through that one descriptor, so a save replacing it
    meanwhile cannot mix two files. A model without parameters gets new arrays filled
    straight from the file; parameters that already hold values on one CPU context (a
    reload) are overwritten in place, after the whole file has verified, without a second
    copy of the model in memory.

    ``rename`` (for foreign naming schemes such as GluonNLP 0.10's; the zoo passes it, users
    do not need to) maps a file name to the model's name, or to None for tensors that have
    no counterpart (reported as unused).
    """
    path = str(path)
    with formats.CheckpointFile(path) as ckpt:
        index = ckpt.index
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
        staged, direct = _read_verified(ckpt, table, sources, params)
        _read_into_parameters(ckpt, table, direct, params)
    for target, fnames in sources.items():
        report.aliased.update({n: target for n in fnames if n != target})
        if target in staged:
            _assign(params[target], staged[target], ctx)
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
    with formats.CheckpointFile(path) as ckpt:
        index = ckpt.index
        table, ties, meta = _check_metadata(index)
        if verify and table:
            checksums = reader.Checksums()
            try:
                reader.checksum_through_buffers(ckpt, list(index.entries.values()), checksums)
            finally:
                crcs = checksums.finish()
            _verify(path, index, table, crcs)
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
