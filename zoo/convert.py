"""Checkpoint conversion: Hugging Face folders, GluonNLP 0.10 and plain MXNet ``.params``,
tiezoo checkpoints, in every useful direction. Behind ``zoo convert`` and usable from Python::

    from zoo import convert
    convert.convert("hf-bert/", "bert.safetensors")                 # HF folder -> tiezoo
    convert.convert("bert.params", "hf-out/", dst_kind="hf")        # tiezoo -> HF folder
    convert.convert("gluon.params", "bert.params", model="bert_base")   # GluonNLP 0.10 -> tiezoo
    convert.convert("bert.params", "bert.safetensors")              # format change
    convert.convert("hf-electra-disc/", "electra.params",           # an HF pair -> one model
                    generator="hf-electra-gen/")
    convert.convert("electra.params", "disc/", dst_kind="hf",       # and back to the pair
                    generator="gen/")

Families: BERT, RoBERTa (``RobertaModel``, ``RobertaForMaskedLM``), ALBERT (``AlbertModel``,
``AlbertForMaskedLM``, ``AlbertForPreTraining``), ELECTRA (``ElectraModel``;
``ElectraForPreTraining`` alone = the discriminator + its RTD head; with
``ElectraForMaskedLM`` as ``generator=`` = the pretraining model). The tokenizer files of a
Hugging Face folder (vocab.txt, spiece.model, vocab.json + merges.txt, tokenizer.json,
tokenizer_config.json, ...) travel as the checkpoint's ``tokenizer/`` assets, which
``zoo.get_tokenizer(ckpt)`` reads, and are written back into the folders made from it.

Every conversion goes through the tiezoo model itself: the source is loaded into a built
model of the variant its tensors call for (with ``checkpoints.load``: validated, tie-aware,
a foreign naming scheme mapped by ``rename=``), then written with ``checkpoints.save`` or as
a Hugging Face folder. So a tie is one tensor all the way (Hugging Face's absent
``cls.predictions.decoder.weight`` and GluonNLP's lone ``decoder.3.weight`` both land in
``word_embed.weight``), and nothing is written that the source did not hold: a parameter
the source lacks is an error, except optional blocks the family's table drops (the pooler
of ``BertForMaskedLM``).

This module is family-agnostic. Each family brings one *converter table* module, registered
in :data:`TABLE_MODULES` (adding a family = one table module + one line there). A table
provides (``checkpoints/convert_bert.py`` is the reference)::

    FAMILY                      zoo family name ("bert")
    HF_MODEL_TYPES              Hugging Face config.json model_type values
    HF_ARCHITECTURES            {architecture: {...}} the architectures it converts
    FILE_DECIDES                config fields the tensors decide (vocab size, ...)
    config_from_hf(hf) / config_to_hf(cfg, arch)         config dicts
    hf_heads(arch, hf_config) -> heads                   get_model flags of an architecture
    hf_architecture(heads) -> arch                       the reverse
    hf_architecture_from_names(names) -> arch | None     for a config.json without one
    hf_config_extra(heads, hf_config) -> dict            num_labels & co. for task heads
    hf_to_tiezoo_name(name, arch, task) -> name | None   (None: a buffer; KeyError: unknown)
    tiezoo_to_hf_name(name, arch) -> name | None         (None: arch has no place for it)
    heads_from_names({tiezoo name: shape}) -> heads
    config_fields_from_shapes({tiezoo name: shape}) -> {field: value}
    drop_unloaded(block, missing) -> still missing
    is_gluonnlp_naming(names), gluonnlp_to_tiezoo_name(name)   (optional: GluonNLP 0.10)
    HF_PAIR = (main arch, second arch), HF_PAIR_PREFIX   (optional: a pretraining model that
                                Hugging Face keeps as two folders; the second folder's model
                                is the tiezoo block HF_PAIR_PREFIX; config_from_hf(hf, hf2))
    describe_heads(block, heads) -> [str]                (optional: for the printed summary)

"heads" is the dict of ``zoo.get_model`` flags ``{use_mlm, use_nsp, task, num_classes}``.
"""
import dataclasses
import importlib
import json
import os
import struct
import tempfile

import numpy as np

from checkpoints import CheckpointError, inspect, load, read_assets, save, ties_of
from checkpoints.errors import CorruptCheckpointError, ShapeMismatchError
from checkpoints.ties import resolve_declared

from . import _registry

__all__ = ["TABLE_MODULES", "ConversionError", "UnsupportedArchitectureError", "Converted",
           "convert", "load_source", "load_hf", "load_tiezoo", "load_foreign", "save_tiezoo",
           "save_hf", "hf_to_tiezoo", "tiezoo_to_hf", "gluonnlp_to_tiezoo", "mxnet_to_tiezoo",
           "detect_kind", "supported_hf_architectures", "family_table", "foreign_rename",
           "foreign_config_fields", "size_mismatch_error", "main"]

# One line per family: the module holding its converter table.
TABLE_MODULES = (
    "checkpoints.convert_bert",
    "checkpoints.convert_roberta",
    "checkpoints.convert_albert",
    "checkpoints.convert_electra",
)

TOKENIZER_PREFIX = "tokenizer/"      # zoo.tokenizers.ASSET_PREFIX: how tokenizers travel
HF_CONFIG_ASSET = "hf/config.json"   # the source config.json, for labels & co. on the way back
# The config.json of the second folder of a pair (ELECTRA's generator), for the way back.
HF_PARTNER_CONFIG_ASSET = "hf/generator/config.json"
# Tokenizer files of a Hugging Face folder that are carried as assets.
HF_TOKENIZER_FILES = ("vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
                      "vocab.json", "merges.txt", "tokenizer_config.json",
                      "special_tokens_map.json", "added_tokens.json", "tokenizer.json")
KINDS = ("hf", "tiezoo", "gluonnlp", "mxnet")
_HF_DROP_CONFIG = ("architectures", "transformers_version", "_name_or_path", "torch_dtype",
                   "dtype")


class ConversionError(CheckpointError):
    """A source that cannot be converted; the message names the file and what is wrong."""


class UnsupportedArchitectureError(ConversionError):
    """A Hugging Face folder of an architecture no table converts; lists the supported ones."""


# ------------------------------------------------------------------------------ tables

_TABLES = None


def _tables():
    global _TABLES
    if _TABLES is None:
        tables = {}
        for mod_name in TABLE_MODULES:
            mod = importlib.import_module(mod_name)
            tables[mod.FAMILY] = mod
        _TABLES = tables
    return _TABLES


def family_table(family):
    """The converter table of a zoo family; ConversionError when there is none."""
    try:
        return _tables()[family]
    except KeyError:
        raise ConversionError(f"no converter for model family {family!r}; families with one: "
                              f"{', '.join(sorted(_tables()))}") from None


def supported_hf_architectures():
    return [arch for t in _tables().values() for arch in t.HF_ARCHITECTURES]


def _family_entry(family):
    return _registry.get_entry(_registry.family_default(family))


# --------------------------------------------------------------------------- container

@dataclasses.dataclass
class Converted:
    """A source loaded into a tiezoo model, ready to be written in any format.

    ``block``: the built model, every parameter filled from the source;
    ``heads``: its ``get_model`` flags; ``assets``: ``{name: bytes}`` (tokenizer files
    under ``tokenizer/``); ``hf_config``: the source's Hugging Face config, when it had one.
    """
    family: str
    config: object
    heads: dict
    block: object
    assets: dict
    source: str
    kind: str
    description: str = ""
    hf_config: dict = None
    hf_partner_config: dict = None     # the second folder's config of a pair (generator)
    absent: list = dataclasses.field(default_factory=list)    # optional, not in the source
    dropped: list = dataclasses.field(default_factory=list)   # no place in the target
    description_out: str = ""
    written: int = 0
    also_written: list = dataclasses.field(default_factory=list)   # [(path, what, tensors)]

    @property
    def table(self):
        return family_table(self.family)

    def __str__(self):
        c = self.config
        size = ", ".join(f"{k} {getattr(c, k)}" for k in ("num_layers", "units", "vocab_size")
                         if hasattr(c, k))
        describe = getattr(self.table, "describe_heads", None)
        if describe is not None:
            heads = describe(self.block, self.heads)
        else:
            heads = [k[4:] for k in ("use_mlm", "use_nsp", "use_sop") if self.heads.get(k)]
            if self.heads.get("task"):
                heads.append(self.heads["task"])
        return (f"{self.kind} {self.description or self.family} ({self.family}: {size}; heads: "
                f"{', '.join(heads) or 'none'})")


# ------------------------------------------------------------------------------ sources

def detect_kind(path):
    """"hf", "tiezoo", "gluonnlp" or "mxnet" for a source path."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return "hf"
    if not os.path.exists(path):
        raise ConversionError(f"{path}: no such file or directory")
    base = os.path.basename(path)
    folder = os.path.dirname(os.path.abspath(path))
    if base == "config.json" or base.endswith((".bin", ".index.json")):
        return "hf"
    beside_config = os.path.isfile(os.path.join(folder, "config.json"))
    try:
        info = inspect(path)
    except CheckpointError:
        if beside_config and path.endswith(".safetensors"):
            return "hf"      # e.g. bfloat16 weights, which only the HF reader here widens
        raise
    if info.format_version:
        return "tiezoo"
    names = [n for n, _, _ in info.tensors]
    if any(getattr(t, "is_gluonnlp_naming", lambda n: False)(names) for t in _tables().values()):
        return "gluonnlp"
    if path.endswith(".safetensors") and beside_config:
        return "hf"
    return "mxnet"


def load_source(src, *, kind=None, model=None):
    """Load any supported source into a :class:`Converted`. ``kind``: one of
    "hf", "tiezoo", "gluonnlp", "mxnet" (detected when None); ``model``: a preset name,
    needed by files that store no config (GluonNLP, plain MXNet)."""
    src = os.fspath(src)
    if kind is not None and kind not in KINDS:
        raise ConversionError(f"unknown source kind {kind!r}; known: {', '.join(KINDS)}")
    kind = kind or detect_kind(src)
    if kind == "hf":
        return load_hf(src)
    if kind == "tiezoo":
        return load_tiezoo(src, model=model)
    return load_foreign(src, model=model, kind=kind)


def _hf_folder(src):
    if os.path.isdir(src):
        return src
    if os.path.isfile(src):
        return os.path.dirname(os.path.abspath(src))
    raise ConversionError(f"{src}: no such Hugging Face model folder")


def _read_json(path, what):
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as e:
        raise ConversionError(f"{path}: cannot read {what}: {e}") from None
    if not isinstance(data, dict):
        raise ConversionError(f"{path}: {what} is not a JSON object")
    return data


def _hf_table_and_arch(folder, hf_config, names_fn):
    """(table, architecture) for a Hugging Face config; errors list what is supported."""
    archs = hf_config.get("architectures") or []
    model_type = hf_config.get("model_type")
    supported = supported_hf_architectures()
    if not isinstance(archs, list):
        archs = [archs]
    for table in _tables().values():
        for arch in archs:
            if arch in table.HF_ARCHITECTURES:
                return table, arch
    if not archs:
        for table in _tables().values():
            if model_type in table.HF_MODEL_TYPES:
                arch = table.hf_architecture_from_names(names_fn())
                if arch is not None:
                    return table, arch
    what = f"architecture {', '.join(map(str, archs))}" if archs else "no architecture"
    raise UnsupportedArchitectureError(
        f"{folder}: Hugging Face {what} (model_type {model_type!r}) is not supported; "
        f"supported architectures: {', '.join(supported)}")


def _hf_weight_files(folder):
    """(kind, [paths]): "safetensors" or "torch" weight files of a Hugging Face folder."""
    single = os.path.join(folder, "model.safetensors")
    if os.path.isfile(single):
        return "safetensors", [single]
    for index_name, kind in (("model.safetensors.index.json", "safetensors"),
                             ("pytorch_model.bin.index.json", "torch")):
        index_path = os.path.join(folder, index_name)
        if os.path.isfile(index_path):
            weight_map = _read_json(index_path, "shard index").get("weight_map")
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


def _safetensors_header(path):
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
    header, base = _safetensors_header(path)
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


def _hf_legacy_name(name):
    """Old TF-converted checkpoints name LayerNorm parameters gamma/beta, as transformers
    still accepts."""
    if "LayerNorm." in name or "layer_norm." in name:
        if name.endswith(".gamma"):
            return name[:-len("gamma")] + "weight"
        if name.endswith(".beta"):
            return name[:-len("beta")] + "bias"
    return name


def _hf_tensor_names(kind, files):
    if kind == "safetensors":
        names = []
        for path in files:
            names.extend(_safetensors_header(path)[0])
        return names
    return None   # torch: only known after reading


def _local_files(kind, files, tmpdir):
    """Weight files that ``checkpoints.load`` reads: as they are, or rewritten to float32
    safetensors (bfloat16 or PyTorch pickles)."""
    from safetensors.numpy import save_file
    out = []
    for i, path in enumerate(files):
        if kind == "safetensors":
            header, _ = _safetensors_header(path)
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


def _open_hf(src):
    """(folder, hf_config, weights kind, weight files, table, architecture) of a Hugging
    Face model folder."""
    folder = _hf_folder(os.fspath(src))
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise ConversionError(f"{folder}: no config.json; a Hugging Face model folder holds "
                              f"config.json (the architecture and sizes) and model.safetensors")
    hf_config = _read_json(config_path, "config.json")
    kind, files = _hf_weight_files(folder)
    table, arch = _hf_table_and_arch(folder, hf_config,
                                     lambda: _hf_tensor_names(kind, files) or [])
    return folder, hf_config, kind, files, table, arch


def _hf_pair(table, main, partner):
    """Order two opened Hugging Face folders (see :func:`_open_hf`) as the family's
    ``HF_PAIR`` (main architecture, partner architecture), or raise naming the problem."""
    pair = getattr(table, "HF_PAIR", None)
    if pair is None:
        raise ConversionError(f"{main[0]}: a second model folder ({partner[0]}) was given, but "
                              f"{table.FAMILY} models convert from one folder")
    if partner[4] is not table:
        raise ConversionError(f"{partner[0]}: a {partner[4].FAMILY} model cannot be paired "
                              f"with the {table.FAMILY} model {main[0]}")
    archs = (main[5], partner[5])
    if archs == pair[::-1]:
        main, partner = partner, main
    elif archs != pair:
        raise ConversionError(f"{main[0]} ({main[5]}) and {partner[0]} ({partner[5]}): a "
                              f"{table.FAMILY} pair is one {pair[0]} and one {pair[1]} folder")
    return main, partner


def load_hf(src, *, generator=None):
    """A Hugging Face model folder (config.json + model.safetensors | shards |
    pytorch_model.bin, + tokenizer files) -> :class:`Converted`.

    ``generator``: a second folder, for a family whose pretraining model Hugging Face keeps
    as two models (the table's ``HF_PAIR``: ELECTRA's ``ElectraForPreTraining``
    discriminator and ``ElectraForMaskedLM`` generator, in either order). Both are loaded
    into one model; the tensors they share (ELECTRA's embedding tables) must be equal.
    """
    main = _open_hf(src)
    folder, hf_config, kind, files, table, arch = main
    partner = None
    if generator is not None:
        main, partner = _hf_pair(table, main, _open_hf(generator))
        folder, hf_config, kind, files, table, arch = main
    elif getattr(table, "HF_PAIR", (None, None))[1] == arch:
        pair = table.HF_PAIR
        raise ConversionError(
            f"{folder}: {arch} is the second half of the {table.FAMILY} pretraining model; "
            f"convert it together with the first, its {pair[0]} folder: zoo convert "
            f"<{pair[0]} folder> DST --generator {folder} (Python: convert(..., "
            f"generator=...))")
    heads = table.hf_heads(arch, hf_config)
    entry = _family_entry(table.FAMILY)
    config_path = os.path.join(folder, "config.json")
    try:
        if partner is None:
            hf_dict = table.config_from_hf(hf_config)
        else:
            hf_dict = table.config_from_hf(hf_config, partner[1])
        config = type(entry.config).from_dict(hf_dict)
    except (ValueError, TypeError) as e:
        where = config_path if partner is None else f"{config_path} + {partner[0]}"
        raise ConversionError(f"{where}: {e}") from None

    block = entry.builder(config, **heads)
    sources = [main] if partner is None else [main, partner]
    with tempfile.TemporaryDirectory(prefix="tiezoo-convert-") as tmp:
        loaded, snapshot = set(), {}
        params = block._collect_params_with_prefix()
        for n, (f_folder, _, f_kind, f_files, _, f_arch) in enumerate(sources):
            def rename(name, _arch=f_arch):
                return table.hf_to_tiezoo_name(_hf_legacy_name(name), _arch, heads["task"])
            scratch = os.path.join(tmp, str(n))
            os.makedirs(scratch)
            local = _local_files(f_kind, f_files, scratch)
            unknown = []
            for path in local:
                for name, _, _ in inspect(path).tensors:
                    try:
                        rename(name)
                    except KeyError:
                        unknown.append(name)
            if unknown:
                raise ConversionError(
                    f"{f_folder}: {len(unknown)} tensor(s) have no place in a tiezoo "
                    f"{table.FAMILY} model converted from {f_arch}: {', '.join(unknown[:8])}"
                    f"{' ...' if len(unknown) > 8 else ''}")
            now = set()
            for path in local:
                now.update(load(block, path, rename=rename).loaded)
            for name in sorted(now & set(snapshot)):
                value = params[name].data().asnumpy()
                if not np.array_equal(value, snapshot[name]):
                    diff = float(np.max(np.abs(value - snapshot[name])))
                    raise ConversionError(
                        f"{f_folder}: tensor {name!r} is shared with {sources[0][0]} in the "
                        f"tiezoo model (one tensor), but the two folders hold different values "
                        f"(max abs difference {diff:g})")
            if n + 1 < len(sources):
                snapshot.update({name: params[name].data().asnumpy() for name in now})
            loaded |= now
    ties = ties_of(block)
    missing = [name for name in block._collect_params_with_prefix()
               if name not in ties and name not in loaded]
    dropped = _check_missing(table, block, missing, folder if partner is None else
                             f"{folder} + {partner[0]}")
    assets = {}
    for f_folder in reversed([s[0] for s in sources]):      # the main folder's files win
        assets.update(_hf_assets(f_folder))
    assets[HF_CONFIG_ASSET] = json.dumps(hf_config, indent=2, sort_keys=True)
    description = arch
    if partner is not None:
        assets[HF_PARTNER_CONFIG_ASSET] = json.dumps(partner[1], indent=2, sort_keys=True)
        description = f"{arch} + {partner[5]}"
    return Converted(family=table.FAMILY, config=config, heads=heads, block=block,
                     assets=assets, source=folder, kind="hf", description=description,
                     hf_config=hf_config, absent=dropped,
                     hf_partner_config=None if partner is None else partner[1])


def _check_missing(table, block, missing, source):
    if not missing:
        return []
    still = table.drop_unloaded(block, missing)
    if still:
        raise ConversionError(f"{source}: the source lacks {len(still)} parameter(s) of the "
                              f"model it describes: {', '.join(still[:8])}"
                              f"{' ...' if len(still) > 8 else ''}")
    return [n for n in missing if n not in still]


def _hf_assets(folder):
    assets = {}
    for name in HF_TOKENIZER_FILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assets[TOKENIZER_PREFIX + name] = f.read()
    return assets


def _shapes(info, rename=None):
    """{model name: shape} of a file's tensors (tie aliases, which hold no tensor: ())."""
    out = {}
    for name, shape, _ in info.tensors:
        out[rename(name) if rename else name] = tuple(shape)
    for alias in info.ties:
        out.setdefault(alias, ())
    out.pop(None, None)
    return out


def load_tiezoo(src, *, model=None):
    """A tiezoo checkpoint -> :class:`Converted` (the variant its tensors hold)."""
    src = os.fspath(src)
    info = inspect(src)
    if not info.config:
        return load_foreign(src, model=model, kind="mxnet")
    family = info.config.get("family")
    table = family_table(family)
    entry = _family_entry(family)
    try:
        config = type(entry.config).from_dict(info.config)
    except (ValueError, TypeError) as e:
        raise ConversionError(f"{src}: stored config: {e}") from None
    shapes = _shapes(info)
    try:
        heads = table.heads_from_names(shapes)
    except ValueError as e:
        raise ConversionError(f"{src}: {e}") from None
    if model is not None:
        _check_preset(src, info, model, config, heads)
    block = entry.builder(config, **heads)
    report = load(block, src)
    if report.unused:
        raise ConversionError(f"{src}: tensors with no place in the model: {report.unused}")
    dropped = _check_missing(table, block, report.missing, src)
    assets = {k: v for k, v in read_assets(src).items()}
    return Converted(family=family, config=config, heads=heads, block=block, assets=assets,
                     source=src, kind="tiezoo", description=f"checkpoint v{info.format_version}",
                     hf_config=_json_asset(assets, HF_CONFIG_ASSET),
                     hf_partner_config=_json_asset(assets, HF_PARTNER_CONFIG_ASSET),
                     absent=dropped)


def _json_asset(assets, name):
    """A JSON object stored as an asset, or None (absent or unreadable: it only supplies
    Hugging Face config fields that tiezoo's config does not hold)."""
    if name not in assets:
        return None
    data = assets[name]
    try:
        value = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _preset_entry(path, model):
    if model is None:
        presets = ", ".join(_registry.list_models())
        raise ConversionError(f"{path}: the file stores no model config (GluonNLP 0.10 or plain "
                              f"MXNet), so the size must be named: pass --model PRESET "
                              f"(model=...), one of {presets}")
    try:
        entry = _registry.get_entry(model)
    except KeyError as e:
        raise ConversionError(f"{path}: {e}") from None
    if _registry.is_family(model):
        raise ConversionError(f"{path}: the file stores no model config, so the family name "
                              f"{model!r} does not say which size it is; pass a preset: "
                              f"{', '.join(_registry.list_models(entry.family))}")
    return entry


def _gluonnlp_rename(table, strict):
    def rename(name):
        try:
            return table.gluonnlp_to_tiezoo_name(name)
        except KeyError:
            if strict:
                raise
            return None
    return rename


def load_foreign(src, *, model, kind=None):
    """A file without a stored config -> :class:`Converted`: GluonNLP 0.10 ``BERTModel``
    parameters (``kind="gluonnlp"``) or a plain MXNet ``save_parameters`` file of a tiezoo
    model (``kind="mxnet"``); detected from the names when ``kind`` is None. ``model``:
    the preset whose size the file holds."""
    src = os.fspath(src)
    entry = _preset_entry(src, model)
    table = family_table(entry.family)
    info = inspect(src)
    names = [n for n, _, _ in info.tensors]
    gluon = hasattr(table, "is_gluonnlp_naming") and table.is_gluonnlp_naming(names)
    if kind == "gluonnlp" and not gluon:
        raise ConversionError(f"{src}: does not hold GluonNLP 0.10 {table.FAMILY} names "
                              f"(first tensor {names[0] if names else None!r})")
    rename = _gluonnlp_rename(table, strict=True) if gluon else None
    unknown = []
    for n in names:
        try:
            rename(n) if rename else None
        except KeyError:
            unknown.append(n)
    if unknown:
        raise ConversionError(f"{src}: GluonNLP tensor(s) with no tiezoo {table.FAMILY} "
                              f"counterpart: {', '.join(unknown[:8])}")
    shapes = _shapes(info, rename)
    try:
        heads = table.heads_from_names(shapes)
    except ValueError as e:
        raise ConversionError(f"{src}: {e}") from None
    config = dataclasses.replace(entry.config, **table.config_fields_from_shapes(shapes))
    block = entry.builder(config, **heads)
    report = load(block, src, rename=rename)
    if report.unused:
        raise ConversionError(f"{src}: {len(report.unused)} tensor(s) have no place in a "
                              f"{model} model: {', '.join(report.unused[:8])}")
    dropped = _check_missing(table, block, report.missing, src)
    return Converted(family=entry.family, config=config, heads=heads, block=block, assets={},
                     source=src, kind="gluonnlp" if gluon else "mxnet",
                     description=f"{model} parameters", absent=dropped)


def _check_preset(path, info, model, config, heads):
    try:
        entry = _registry.get_entry(model)
    except KeyError as e:
        raise ConversionError(f"{path}: {e}") from None
    if _registry.is_family(model):
        return
    table = family_table(entry.family)
    want = dataclasses.replace(entry.config, **{k: getattr(config, k)
                                                for k in table.FILE_DECIDES})
    diff = {k: (a, config.architecture()[k]) for k, a in want.architecture().items()
            if a != config.architecture()[k]}
    if diff:
        raise size_mismatch_error(path, info, entry, want, diff, heads=heads)


# ------------------------------------------------------------------- for zoo.get_model

def foreign_rename(info, family):
    """``rename`` for ``checkpoints.load`` of a file without tiezoo metadata: the family's
    GluonNLP 0.10 name map when the names are GluonNLP's, else None (tiezoo's own names)."""
    table = _tables().get(family)
    names = [n for n, _, _ in info.tensors]
    if table is None or not hasattr(table, "is_gluonnlp_naming") \
            or not table.is_gluonnlp_naming(names):
        return None
    return _gluonnlp_rename(table, strict=False)


def foreign_config_fields(info, family):
    """The config fields a file without a stored config fixes by its tensor shapes."""
    table = _tables().get(family)
    if table is None:
        return {}
    return table.config_fields_from_shapes(_shapes(info, foreign_rename(info, family)))


def size_mismatch_error(path, info, entry, want, diff, *, heads=None):
    """The error for a checkpoint of another size than the preset asked for: a
    ShapeMismatchError naming the first tensor (in file order) whose shape differs."""
    detail = ", ".join(f"{k}: preset {a!r} vs file {b!r}" for k, (a, b) in diff.items())
    table = _tables().get(entry.family)
    if heads is None:
        shapes = {n: tuple(s) for n, s, _ in info.tensors}
        try:
            heads = table.heads_from_names(shapes) if table else {}
        except ValueError:
            heads = {}
    block = entry.builder(want, **heads)        # not initialized: allocates nothing
    params = block._collect_params_with_prefix()
    for name, shape, _ in info.tensors:
        target = name if name in params else resolve_declared(block, name)
        param = params.get(target)
        if param is None or not param.shape or 0 in param.shape:
            continue
        if tuple(param.shape) != tuple(shape):
            return ShapeMismatchError(
                f"{path}: holds a different model than {entry.name!r} ({detail}): first "
                f"mismatching tensor {name!r} has shape {tuple(shape)} in the file but "
                f"{tuple(param.shape)} in {entry.name!r}; pass the family name "
                f"{entry.family!r} to take the file's size")
    return CheckpointError(f"{path}: holds a different model than {entry.name!r} ({detail}); "
                           f"pass the family name {entry.family!r} to take the file's size")


# ------------------------------------------------------------------------------- targets

def save_tiezoo(conv, dst):
    """Write a :class:`Converted` as a tiezoo checkpoint (``.params`` / ``.safetensors``)."""
    save(conv.block, os.fspath(dst), config=conv.config, assets=conv.assets)


def _atomic_write(path, data):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_hf(conv, dst, *, architecture=None):
    """Write a :class:`Converted` as a Hugging Face folder: config.json (with the
    architecture its heads call for, or ``architecture``), model.safetensors and the
    tokenizer files. Returns the architecture written.

    For a family whose pretraining model Hugging Face keeps as two models (the table's
    ``HF_PAIR``), the default writes the first (ELECTRA's discriminator,
    ``ElectraForPreTraining``); ``architecture=HF_PAIR[1]`` writes the second (the generator,
    ``ElectraForMaskedLM``), with the second source folder's config.json as its base when
    the checkpoint came from a pair.
    """
    from safetensors.numpy import save_file
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
    params = conv.block._collect_params_with_prefix()
    base_config = conv.hf_config
    if arch == pair[1]:
        prefix = table.HF_PAIR_PREFIX
        if not any(n.startswith(prefix) for n in params):
            raise ConversionError(
                f"{conv.source}: holds no {prefix.rstrip('.')} (the {arch} half of the "
                f"{table.FAMILY} pretraining model), so there is no {arch} to write")
        base_config = conv.hf_partner_config or conv.hf_config
    ties = ties_of(conv.block)
    tensors, dropped = {}, []
    for name, param in params.items():
        if name in ties:
            continue          # a tied alias: Hugging Face ties it too and leaves it out
        try:
            hf_name = table.tiezoo_to_hf_name(name, arch)
        except KeyError as e:
            raise ConversionError(f"{conv.source}: {e.args[0]}") from None
        if hf_name is None:
            dropped.append(name)
            continue
        tensors[hf_name] = np.ascontiguousarray(param.data().asnumpy())
    hf_config = {k: v for k, v in (base_config or {}).items() if k not in _HF_DROP_CONFIG}
    hf_config.update(table.config_to_hf(conv.config.to_dict(), arch))
    hf_config.update(table.hf_config_extra(conv.heads, base_config))
    hf_config["dtype"] = "float32"
    os.makedirs(dst, exist_ok=True)
    weights = os.path.join(dst, "model.safetensors")
    tmp = f"{weights}.tmp-{os.getpid()}"
    save_file(tensors, tmp, metadata={"format": "pt"})
    os.replace(tmp, weights)
    _atomic_write(os.path.join(dst, "config.json"),
                  (json.dumps(hf_config, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    for name, data in conv.assets.items():
        base = name[len(TOKENIZER_PREFIX):] if name.startswith(TOKENIZER_PREFIX) else name
        if base not in HF_TOKENIZER_FILES:
            continue
        _atomic_write(os.path.join(dst, base), data if isinstance(data, bytes) else
                      data.encode("utf-8"))
    conv.dropped = dropped
    conv.written = len(tensors)
    return arch


# ------------------------------------------------------------------------- entry points

def _dst_kind(dst, dst_kind):
    if dst_kind not in (None, "tiezoo", "hf"):
        raise ConversionError(f"unknown target kind {dst_kind!r}; known: tiezoo, hf")
    if dst_kind == "hf":
        return "hf"
    if os.fspath(dst).lower().endswith((".params", ".safetensors")):
        return "tiezoo"
    if dst_kind == "tiezoo":
        raise ConversionError(f"{dst}: a tiezoo checkpoint ends in .params or .safetensors")
    raise ConversionError(f"{dst}: the target must end in .params or .safetensors (a tiezoo "
                          f"checkpoint), or pass --to hf (dst_kind='hf') for a Hugging Face "
                          f"folder")


def convert(src, dst, *, src_kind=None, dst_kind=None, model=None, architecture=None,
            generator=None):
    """Convert ``src`` to ``dst``; returns the :class:`Converted` that was written.

    ``src``: a Hugging Face folder, a GluonNLP 0.10 / plain MXNet ``.params`` (needs
    ``model=PRESET``) or a tiezoo checkpoint; ``src_kind`` forces "hf" / "gluonnlp" /
    "mxnet" / "tiezoo". ``dst``: a ``.params`` / ``.safetensors`` path, or a folder with
    ``dst_kind="hf"`` (``architecture`` then overrides the one the heads call for).

    ``generator``: the second folder of a Hugging Face pair (ELECTRA: the pretraining model
    is an ``ElectraForPreTraining`` discriminator folder plus an ``ElectraForMaskedLM``
    generator folder). With a Hugging Face source it is read together with ``src`` (either
    order); with a Hugging Face target from another source, the generator is written there
    as well (``dst`` gets the discriminator).
    """
    target = _dst_kind(dst, dst_kind)
    kind = src_kind
    if generator is not None and kind is None:
        kind = detect_kind(src)
    if generator is not None and kind == "hf":
        if src_kind not in (None, "hf"):
            raise ConversionError("generator= pairs two Hugging Face folders")
        conv = load_hf(src, generator=generator)
        out_generator = None
    else:
        conv = load_source(src, kind=kind, model=model)
        out_generator = generator
    if target == "hf":
        arch = save_hf(conv, dst, architecture=architecture)
        conv.description_out = f"Hugging Face {arch}"
        if out_generator is not None:
            pair = getattr(conv.table, "HF_PAIR", None)
            if pair is None or arch != pair[0]:
                raise ConversionError(
                    f"generator= writes the second folder of a Hugging Face pair; "
                    f"{conv.family} {arch} has none")
            dropped, written = conv.dropped, conv.written
            save_hf(conv, out_generator, architecture=pair[1])
            conv.also_written.append((os.fspath(out_generator), f"Hugging Face {pair[1]}",
                                      conv.written))
            conv.dropped = [n for n in dropped if n in set(conv.dropped)]
            conv.written = written
    else:
        if architecture is not None:
            raise ConversionError("architecture= applies to Hugging Face targets only")
        if out_generator is not None:
            raise ConversionError("generator= names a Hugging Face folder: the source's "
                                  "second folder, or with --to hf the target's")
        save_tiezoo(conv, dst)
        ties = ties_of(conv.block)
        conv.written = sum(1 for n in conv.block._collect_params_with_prefix() if n not in ties)
        conv.description_out = f"tiezoo {os.path.splitext(os.fspath(dst))[1]}"
    return conv


def hf_to_tiezoo(src, dst):
    return convert(src, dst, src_kind="hf")


def tiezoo_to_hf(src, dst, *, architecture=None):
    return convert(src, dst, src_kind="tiezoo", dst_kind="hf", architecture=architecture)


def gluonnlp_to_tiezoo(src, dst, model):
    return convert(src, dst, src_kind="gluonnlp", model=model)


def mxnet_to_tiezoo(src, dst, model):
    return convert(src, dst, src_kind="mxnet", model=model)


def _summary(names, limit=4):
    """Names grouped by their first component where a group is long: ``generator.* (41)``."""
    groups = {}
    for n in names:
        groups.setdefault(n.split(".", 1)[0], []).append(n)
    out = []
    for head, members in groups.items():
        if len(members) > limit and any("." in m for m in members):
            out.append(f"{head}.* ({len(members)} tensors)")
        else:
            out.extend(members)
    return ", ".join(out)


def _tie_lines(ties):
    """One line per tie, except that the ties of one block to another (ALBERT's shared
    layer: ``encoder.layers.3.* -> encoder.layers.0.*``) are one line per block pattern."""
    import re
    blocks = {}          # (alias block, canonical block) -> count
    single = []
    for alias, canon in ties.items():
        a, c = alias.split("."), canon.split(".")
        k = 0
        while k < min(len(a), len(c)) and a[-1 - k] == c[-1 - k]:
            k += 1
        a_pre, c_pre = ".".join(a[:len(a) - k]), ".".join(c[:len(c) - k])
        if k and a_pre and c_pre:
            blocks.setdefault((a_pre, c_pre), []).append(alias)
        else:
            single.append((alias, canon))
    lines = []
    for (a_pre, c_pre), members in list(blocks.items()):
        if len(members) == 1:
            single.append((members[0], ties[members[0]]))
            del blocks[(a_pre, c_pre)]
    merged = {}          # (alias pattern, canonical block, count) -> [numbers]
    for (a_pre, c_pre), members in blocks.items():
        m = re.fullmatch(r"(.*\.)(\d+)", a_pre)
        if m:
            merged.setdefault((m.group(1), c_pre, len(members)), []).append(int(m.group(2)))
        else:
            lines.append(f"tie: {a_pre}.* -> {c_pre}.* ({len(members)} tensors, stored once)")
    for (stem, c_pre, count), numbers in merged.items():
        numbers.sort()
        if len(numbers) == 1:
            which = str(numbers[0])
        elif numbers == list(range(numbers[0], numbers[-1] + 1)):
            which = f"{{{numbers[0]}..{numbers[-1]}}}"
        else:
            which = "{" + ",".join(map(str, numbers)) + "}"
        lines.append(f"tie: {stem}{which}.* -> {c_pre}.* ({count} tensors each, stored once)")
    return [f"tie: {a} -> {c} (stored once)" for a, c in single] + lines


def main(args):
    """``zoo convert SRC DST [--from KIND] [--to hf] [--model PRESET] [--architecture ARCH]
    [--generator FOLDER]`` (see zoo.cli)."""
    try:
        conv = convert(args.src, args.dst, src_kind=getattr(args, "src_kind", None),
                       dst_kind=getattr(args, "dst_kind", None),
                       model=getattr(args, "model", None),
                       architecture=getattr(args, "architecture", None),
                       generator=getattr(args, "generator", None))
    except _registry.UnknownModelError as e:
        raise ConversionError(str(e)) from None
    print(f"{conv.source}: {conv}")
    print(f"  -> {args.dst} ({conv.description_out}): {conv.written} tensors")
    for path, what, written in conv.also_written:
        print(f"  -> {path} ({what}): {written} tensors")
    for line in _tie_lines(ties_of(conv.block)):
        print(f"  {line}")
    if conv.absent:
        print(f"  not in the source (left out): {_summary(conv.absent)}")
    if conv.dropped:
        print(f"  no place in the target (left out): {_summary(conv.dropped)}")
    if conv.assets:
        print(f"  assets: {', '.join(sorted(conv.assets))}")
    return 0
