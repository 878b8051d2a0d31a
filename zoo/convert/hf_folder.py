"""Hugging Face model folders on disk: reading config.json, weights (model.safetensors,
sharded safetensors with an index, pytorch_model.bin) and tokenizer files, and writing a
folder back. Names and configs are the families' business (their converter tables); this
module only moves bytes."""
import json
import os
import struct

import numpy as np

from checkpoints import _mx_compat as mxc
from checkpoints import inspect, ties_of
from checkpoints.atomic import atomic_path, atomic_write
from checkpoints.errors import CorruptCheckpointError

from .names import name_matcher
from .base import (HF_TOKENIZER_FILES, TOKENIZER_PREFIX, ConversionError,
                   UnsupportedArchitectureError)

__all__ = ["hf_folder", "read_json", "hf_weight_files", "safetensors_header", "hf_tensor_names",
           "hf_legacy_name", "local_weight_files", "transposed_weight_files", "hf_assets",
           "parse_size", "write_hf_weights", "save_hf"]

_HF_DROP_CONFIG = ("architectures", "transformers_version", "_name_or_path", "torch_dtype",
                   "dtype")


def hf_folder(src):
    if os.path.isdir(src):
        return src
    if os.path.isfile(src):
        return os.path.dirname(os.path.abspath(src))
    raise ConversionError(f"{src}: no such Hugging Face model folder")


def read_json(path, what):
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as e:
        raise ConversionError(f"{path}: cannot read {what}: {e}") from None
    if not isinstance(data, dict):
        raise ConversionError(f"{path}: {what} is not a JSON object")
    return data


def hf_weight_files(folder):
    """(kind, [paths]): "safetensors" or "torch" weight files of a Hugging Face folder."""
    single = os.path.join(folder, "model.safetensors")
    if os.path.isfile(single):
        return "safetensors", [single]
    for index_name, kind in (("model.safetensors.index.json", "safetensors"),
                             ("pytorch_model.bin.index.json", "torch")):
        index_path = os.path.join(folder, index_name)
        if os.path.isfile(index_path):
            weight_map = read_json(index_path, "shard index").get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise ConversionError(f"{index_path}: shard index has no weight_map")
            files = []
            for shard in sorted(set(weight_map.values())):
                if not isinstance(shard, str) or os.path.basename(shard) != shard:
                    raise ConversionError(f"{index_path}: bad shard file name {shard!r}")
                full = os.path.join(folder, shard)
                if not os.path.isfile(full):
                    raise ConversionError(f"{index_path}: shard {shard!r} is missing")
                files.append(full)
            return kind, files
    single = os.path.join(folder, "pytorch_model.bin")
    if os.path.isfile(single):
        return "torch", [single]
    raise ConversionError(f"{folder}: no model weights (looked for model.safetensors, "
                          f"model.safetensors.index.json, pytorch_model.bin)")


_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def safetensors_header(path):
    """``{name: (dtype code, shape, (begin, end))}`` and the data offset of a safetensors
    file, with every span checked against the file size."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise CorruptCheckpointError(f"{path}: not a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 * 1024 * 1024:
            raise CorruptCheckpointError(f"{path}: safetensors header claims {n} bytes")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except ValueError as e:
            raise CorruptCheckpointError(f"{path}: malformed safetensors header ({e})") from None
    if not isinstance(header, dict):
        raise CorruptCheckpointError(f"{path}: malformed safetensors header")
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        try:
            code, shape, (begin, end) = info["dtype"], [int(d) for d in info["shape"]], \
                info["data_offsets"]
            itemsize = 2 if code == "BF16" else np.dtype(_ST_DTYPES[code]).itemsize
        except (KeyError, TypeError, ValueError):
            raise CorruptCheckpointError(f"{path}: tensor {name!r}: malformed or unsupported "
                                         f"header entry {info!r}") from None
        count = int(np.prod(shape, dtype=object)) if shape else 1
        if min(shape, default=0) < 0 or not 0 <= begin <= end or end - begin != count * itemsize \
                or 8 + n + end > size:
            raise CorruptCheckpointError(f"{path}: tensor {name!r}: data span [{begin}, {end}) "
                                         f"does not fit shape {shape} / the file")
        out[name] = (code, tuple(shape), (begin, end))
    return out, 8 + n


def _read_safetensors_f32(path):
    """All tensors of a safetensors file as numpy, bfloat16 widened to float32."""
    header, base = safetensors_header(path)
    out = {}
    with open(path, "rb") as f:
        for name, (code, shape, (begin, end)) in header.items():
            f.seek(base + begin)
            raw = f.read(end - begin)
            if code == "BF16":
                arr = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
            else:
                arr = np.frombuffer(raw, _ST_DTYPES[code])
            out[name] = arr.reshape(shape)
    return out


def _read_torch_bin(path):
    try:
        import torch
    except ImportError:
        raise ConversionError(
            f"{path}: this folder holds PyTorch pickle weights (pytorch_model.bin), which need "
            f"PyTorch to read, and torch is not installed; install torch, or save the model "
            f"with safetensors (model.safetensors)") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:   # torch raises many types for a bad pickle
        raise ConversionError(f"{path}: cannot read PyTorch weights: {e}") from None
    if not isinstance(state, dict):
        raise ConversionError(f"{path}: does not hold a state dict")
    out = {}
    for name, t in state.items():
        if not hasattr(t, "detach"):
            raise ConversionError(f"{path}: entry {name!r} is not a tensor")
        t = t.detach().cpu()
        out[name] = (t.float() if t.is_floating_point() else t).numpy()
    return out


def hf_legacy_name(name):
    """Old TF-converted checkpoints name LayerNorm parameters gamma/beta, as transformers
    still accepts."""
    if "LayerNorm." in name or "layer_norm." in name:
        if name.endswith(".gamma"):
            return name[:-len("gamma")] + "weight"
        if name.endswith(".beta"):
            return name[:-len("beta")] + "bias"
    return name


def hf_tensor_names(kind, files):
    if kind == "safetensors":
        names = []
        for path in files:
            names.extend(safetensors_header(path)[0])
        return names
    return None   # torch: only known after reading


def local_weight_files(kind, files, tmpdir):
    """Weight files that ``checkpoints.load`` reads: as they are, or rewritten to float32
    safetensors (bfloat16 or PyTorch pickles)."""
    from safetensors.numpy import save_file
    out = []
    for i, path in enumerate(files):
        if kind == "safetensors":
            header, _ = safetensors_header(path)
            if all(code != "BF16" for code, _, _ in header.values()):
                out.append(path)
                continue
            arrays = _read_safetensors_f32(path)
        else:
            arrays = _read_torch_bin(path)
        tmp = os.path.join(tmpdir, f"shard{i}.safetensors")
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp)
        out.append(tmp)
    return out


def transposed_weight_files(files, rename, table, tmpdir):
    """Weight files in which every tensor whose tiezoo name (``rename(file name)``) is one of
    the table's ``HF_TRANSPOSED`` is transposed (Hugging Face's ``Conv1D`` stores ``(in,
    out)``, tiezoo's ``Dense`` ``(out, in)``) and every one of its ``HF_FLATTENED`` is
    flattened (BART's ``final_logits_bias`` is ``(1, vocab)``, tiezoo's bias ``(vocab,)``);
    files without one are returned as they are."""
    from safetensors.numpy import load_file, save_file
    transposed = name_matcher(getattr(table, "HF_TRANSPOSED", ()))
    flattened = name_matcher(getattr(table, "HF_FLATTENED", ()))
    out = []
    for i, path in enumerate(files):
        names = [n for n, _, _ in inspect(path).tensors
                 if transposed(rename(n)) or flattened(rename(n))]
        if not names:
            out.append(path)
            continue
        arrays = load_file(path)
        for name in names:
            if flattened(rename(name)):
                arrays[name] = np.ascontiguousarray(arrays[name].reshape(-1))
                continue
            if arrays[name].ndim != 2:
                raise ConversionError(f"{path}: tensor {name!r} has shape "
                                      f"{arrays[name].shape}; a Conv1D weight is a matrix")
            arrays[name] = np.ascontiguousarray(arrays[name].T)
        tmp = os.path.join(tmpdir, f"transposed{i}.safetensors")
        save_file(arrays, tmp)
        out.append(tmp)
    return out


def hf_assets(folder):
    assets = {}
    for name in HF_TOKENIZER_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assets[TOKENIZER_PREFIX + name] = f.read()
    return assets


def write_safetensors(path, tensors):
    """A plain safetensors file (``{"format": "pt"}`` metadata, as transformers writes),
    atomically."""
    from safetensors.numpy import save_file
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})


_SIZE_UNITS = {"": 1, "B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12,
               "KIB": 2 ** 10, "MIB": 2 ** 20, "GIB": 2 ** 30, "TIB": 2 ** 40}


def parse_size(text):
    """Bytes of a size as Hugging Face writes them: ``"200MB"`` (10**6), ``"5GiB"`` (2**30),
    ``"1.5GB"``, or a plain number of bytes; ``ValueError`` otherwise."""
    import re
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", str(text))
        unit = m.group(2).upper() if m else None
        if unit not in _SIZE_UNITS:
            raise ValueError(f"size {text!r} is not a number of bytes or a number with one of "
                             f"the units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB")
        value = int(float(m.group(1)) * _SIZE_UNITS[unit])
    if value < 1:
        raise ValueError(f"size {text!r} is not positive")
    return value


_SHARD_NAME = "model-{:05d}-of-{:05d}.safetensors"
_INDEX_NAME = "model.safetensors.index.json"


def _weight_files_in(folder):
    """The safetensors weight files (single, index, shards) a folder holds now."""
    import re
    shard = re.compile(r"model-\d{5}-of-\d{5}\.safetensors\Z")
    return [n for n in os.listdir(folder)
            if n in ("model.safetensors", _INDEX_NAME) or shard.match(n)]


def write_hf_weights(folder, tensors, max_shard_size=None):
    """Write ``{name: numpy array}`` as ``model.safetensors``, or, when they exceed
    ``max_shard_size`` bytes, as ``model-0000k-of-0000n.safetensors`` shards (tensors in
    order, a new shard when the next tensor would overflow the current one; a tensor larger
    than the limit gets a shard of its own) plus ``model.safetensors.index.json``, as
    transformers' ``save_pretrained(max_shard_size=...)`` does. Weight files of an earlier
    write that the new set does not include are removed. Returns the file names written."""
    shards, size = [[]], 0
    total = sum(a.nbytes for a in tensors.values())
    for name, array in tensors.items():
        if max_shard_size is not None and shards[-1] and size + array.nbytes > max_shard_size:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += array.nbytes
    if len(shards) == 1:
        files = {"model.safetensors": shards[0]}
    else:
        files = {_SHARD_NAME.format(k + 1, len(shards)): names for k, names in enumerate(shards)}
    for file, names in files.items():
        write_safetensors(os.path.join(folder, file), {n: tensors[n] for n in names})
    written = list(files)
    if len(shards) > 1:
        index = {"metadata": {"total_size": total},
                 "weight_map": {n: file for file, names in files.items() for n in names}}
        atomic_write(os.path.join(folder, _INDEX_NAME),
                     json.dumps(index, indent=2, sort_keys=True) + "\n")
        written.append(_INDEX_NAME)
    for stale in set(_weight_files_in(folder)) - set(written):
        os.unlink(os.path.join(folder, stale))
    return written


def save_hf(conv, dst, *, architecture=None, max_shard_size=None):
    """Write a :class:`Converted` as a Hugging Face folder: config.json (with the
    architecture its heads call for, or ``architecture``), model.safetensors and the
    tokenizer files. Returns the architecture written.

    For a family whose pretraining model Hugging Face keeps as two models (the table's
    ``HF_PAIR``), the default writes the first (ELECTRA's discriminator,
    ``ElectraForPreTraining``); ``architecture=HF_PAIR[1]`` writes the second (the generator,
    ``ElectraForMaskedLM``), with the second source folder's config.json as its base when
    the checkpoint came from a pair.

    ``max_shard_size`` (bytes): weights larger than this are written as shards with an
    index (see :func:`write_hf_weights`).
    """
    dst = os.fspath(dst)
    table = conv.table
    arch = architecture or table.hf_architecture(conv.heads)
    if arch not in table.HF_ARCHITECTURES:
        raise UnsupportedArchitectureError(
            f"{dst}: cannot write Hugging Face architecture {arch!r}; supported: "
            f"{', '.join(table.HF_ARCHITECTURES)}")
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise ConversionError(f"{dst}: exists and is not a folder")
    pair = getattr(table, "HF_PAIR", (None, None))
    params = mxc.structural_params(conv.block)
    base_config = conv.hf_config
    if arch == pair[1]:
        prefix = table.HF_PAIR_PREFIX
        if not any(n.startswith(prefix) for n in params):
            raise ConversionError(
                f"{conv.source}: holds no {prefix.rstrip('.')} (the {arch} half of the "
                f"{table.FAMILY} pretraining model), so there is no {arch} to write")
        base_config = conv.hf_partner_config or conv.hf_config
    ties = ties_of(conv.block)
    transposed = name_matcher(getattr(table, "HF_TRANSPOSED", ()))
    flattened = name_matcher(getattr(table, "HF_FLATTENED", ()))
    untied = not getattr(conv.config, "tie_word_embeddings", True)
    # transformers 5 honours no tie of a model whose config unties the word embeddings, so
    # the aliases a table lists for that case are written as copies of their canonical
    written_aliases = set(getattr(table, "HF_UNTIED_ALIASES", ())) if untied else set()
    tensors, dropped = {}, []
    for name, param in params.items():
        if name in ties and name not in written_aliases:
            continue          # a tied alias: Hugging Face ties it too and leaves it out
        try:
            hf_name = table.tiezoo_to_hf_name(name, arch)
        except KeyError as e:
            raise ConversionError(f"{conv.source}: {e.args[0]}") from None
        if hf_name is None:
            dropped.append(name)
            continue
        value = param.data().asnumpy()
        if flattened(name):
            value = value.reshape(1, -1)
        tensors[hf_name] = np.ascontiguousarray(value.T if transposed(name) else value)
        if untied:
            for extra in getattr(table, "HF_UNTIED_NAMES", {}).get(name, ()):
                tensors[extra] = tensors[hf_name]
    hf_config = {k: v for k, v in (base_config or {}).items() if k not in _HF_DROP_CONFIG}
    hf_config.update(table.config_to_hf(conv.config.to_dict(), arch))
    hf_config.update(table.hf_config_extra(conv.heads, base_config))
    hf_config["dtype"] = "float32"
    os.makedirs(dst, exist_ok=True)
    write_hf_weights(dst, tensors, max_shard_size)
    atomic_write(os.path.join(dst, "config.json"),
                 json.dumps(hf_config, indent=2, sort_keys=True) + "\n")
    for name, data in conv.assets.items():
        base = name[len(TOKENIZER_PREFIX):] if name.startswith(TOKENIZER_PREFIX) else name
        if base not in HF_TOKENIZER_FILES:
            continue
        atomic_write(os.path.join(dst, base), data)
    conv.dropped = dropped
    conv.written = len(tensors)
    return arch

