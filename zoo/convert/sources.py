"""Loading any supported source into a tiezoo model: Hugging Face folders, tiezoo
checkpoints, GluonNLP 0.10 and plain MXNet ``.params`` (see :func:`load_source`)."""
import dataclasses
import json
import os
import tempfile

import numpy as np

from checkpoints import CheckpointError, inspect, load, read_assets, ties_of
from checkpoints import _mx_compat as mxc
from checkpoints.errors import ShapeMismatchError, TieConflictError
from checkpoints import formats
from checkpoints.ties import resolve_declared, switched_ties

from .. import registry
from .base import (HF_CONFIG_ASSET, HF_PARTNER_CONFIG_ASSET, KINDS, ConversionError, Converted,
                   UnsupportedArchitectureError, build, converter_families, family_table,
                   supported_hf_architectures)
from .hf_folder import (hf_assets, hf_folder, hf_legacy_name, hf_tensor_names, hf_weight_files,
                        local_weight_files, read_json, transposed_weight_files)

__all__ = ["detect_kind", "load_source", "load_hf", "load_tiezoo", "load_foreign",
           "foreign_rename", "foreign_config_fields", "size_mismatch_error"]


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
    if any(getattr(f.converter, "is_gluonnlp_naming", lambda n: False)(names)
           for f in converter_families().values()):
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


def _hf_table_and_arch(folder, hf_config, names_fn):
    """(table, architecture) for a Hugging Face config; errors list what is supported."""
    archs = hf_config.get("architectures") or []
    model_type = hf_config.get("model_type")
    supported = supported_hf_architectures()
    if not isinstance(archs, list):
        archs = [archs]
    tables = [f.converter for f in converter_families().values()]
    for table in tables:
        for arch in archs:
            if arch in table.HF_ARCHITECTURES:
                return table, arch
    if not archs:
        for table in tables:
            if model_type in table.HF_MODEL_TYPES:
                arch = table.hf_architecture_from_names(names_fn())
                if arch is not None:
                    return table, arch
    what = f"architecture {', '.join(map(str, archs))}" if archs else "no architecture"
    raise UnsupportedArchitectureError(
        f"{folder}: Hugging Face {what} (model_type {model_type!r}) is not supported; "
        f"supported architectures: {', '.join(supported)}")


def _open_hf(src):
    """(folder, hf_config, weights kind, weight files, table, architecture) of a Hugging
    Face model folder."""
    folder = hf_folder(os.fspath(src))
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise ConversionError(f"{folder}: no config.json; a Hugging Face model folder holds "
                              f"config.json (the architecture and sizes) and model.safetensors")
    hf_config = read_json(config_path, "config.json")
    kind, files = hf_weight_files(folder)
    table, arch = _hf_table_and_arch(folder, hf_config,
                                     lambda: hf_tensor_names(kind, files) or [])
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
    family = registry.get_family(table.FAMILY)
    config_path = os.path.join(folder, "config.json")
    try:
        if partner is None:
            hf_dict = table.config_from_hf(hf_config)
        else:
            hf_dict = table.config_from_hf(hf_config, partner[1])
        config = family.config_class.from_dict(hf_dict)
    except (ValueError, TypeError) as e:
        where = config_path if partner is None else f"{config_path} + {partner[0]}"
        raise ConversionError(f"{where}: {e}") from None

    sources = [main] if partner is None else [main, partner]
    with tempfile.TemporaryDirectory(prefix="tiezoo-convert-") as tmp:
        prepared = []          # (folder, architecture, rename, local weight files)
        for n, (f_folder, _, f_kind, f_files, _, f_arch) in enumerate(sources):
            scratch = os.path.join(tmp, str(n))
            os.makedirs(scratch)
            local = local_weight_files(f_kind, f_files, scratch)
            rename = _hf_rename(table, f_arch, heads["task"], local)
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
            local = transposed_weight_files(local, rename, table, scratch)
            prepared.append((f_folder, f_arch, rename, local))
        config = _untie_where_tensors_differ(family, config, heads, prepared)
        block = build(family, config, heads)
        loaded, snapshot = set(), {}
        params = mxc.structural_params(block)
        for n, (f_folder, f_arch, rename, local) in enumerate(prepared):
            now = set()
            for path in local:
                try:
                    now.update(load(block, path, rename=rename).loaded)
                except TieConflictError as e:   # name the folder, not a scratch copy in it
                    raise ConversionError(str(e).replace(path, f_folder)) from None
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
    missing = [name for name in mxc.structural_params(block)
               if name not in ties and name not in loaded]
    dropped = _check_missing(table, block, missing, folder if partner is None else
                             f"{folder} + {partner[0]}")
    assets = {}
    for f_folder in reversed([s[0] for s in sources]):      # the main folder's files win
        assets.update(hf_assets(f_folder))
    check_tokenizer = getattr(table, "check_tokenizer", None)
    if check_tokenizer is not None:
        try:
            check_tokenizer(config, assets)
        except ValueError as e:
            raise ConversionError(f"{folder}: {e}") from None
    assets[HF_CONFIG_ASSET] = json.dumps(hf_config, indent=2, sort_keys=True)
    description = arch
    if partner is not None:
        assets[HF_PARTNER_CONFIG_ASSET] = json.dumps(partner[1], indent=2, sort_keys=True)
        description = f"{arch} + {partner[5]}"
    return Converted(family=table.FAMILY, config=config, heads=heads, block=block,
                     assets=assets, source=folder, kind="hf", description=description,
                     hf_config=hf_config, absent=dropped,
                     hf_partner_config=None if partner is None else partner[1])


def _hf_rename(table, arch, task, local):
    """The file name -> tiezoo name map of one Hugging Face folder's weight files.

    Where several file tensors map to one tiezoo parameter, the table's ``HF_READ_FIRST``
    names the one the Hugging Face forward pass reads (the others are then left out): an
    untied transformers 5 file holds a dead second copy of the MLM bias.
    """
    def rename(name):
        return table.hf_to_tiezoo_name(hf_legacy_name(name), arch, task)
    preferred = set(getattr(table, "HF_READ_FIRST", ()))
    if not preferred:
        return rename
    names = [name for path in local for name, _, _ in inspect(path).tensors]
    groups = {}
    for name in names:
        try:
            ours = rename(name)
        except KeyError:
            continue
        if ours is not None:
            groups.setdefault(ours, []).append(name)
    skipped = {name for group in groups.values() if len(group) > 1 and preferred & set(group)
               for name in group if name not in preferred}

    def rename_preferring(name):
        return None if name in skipped else rename(name)
    return rename_preferring


def _read_tensor(path, name):
    """One tensor of a local (tiezoo-readable) weight file, as numpy."""
    index = formats.read_index(path)
    entry = index.entries[name]
    out = np.empty(entry.shape, dtype=entry.dtype)
    with open(path, "rb") as f:
        formats.read_into(f, path, entry, out)
    return out


def _untie_where_tensors_differ(family, config, heads, prepared):
    """The config with every tie that a config field switches (``@tied(..., when=FIELD)``)
    switched off where the source holds both tensors with different values.

    Conversion decides by the tensors as well as by the flag: a Hugging Face file may say
    ``tie_word_embeddings: true`` and still hold a separate head (transformers 5 writes T5
    v1.1 so), and a file that says false may hold two equal tensors (then tied is exact).
    """
    switched = switched_ties(build(family, config, heads))      # not initialized: cheap
    if not switched:
        return config
    where = {}                       # tiezoo name -> (local file, name in it)
    for _folder, _arch, rename, local in prepared:
        for path in local:
            for name, _, _ in inspect(path).tensors:
                ours = rename(name)
                if ours is not None:
                    where.setdefault(ours, (path, name))
    off = set()
    for alias, (canon, field) in switched.items():
        if field not in off and alias in where and canon in where:
            if not np.array_equal(_read_tensor(*where[alias]), _read_tensor(*where[canon])):
                off.add(field)
    return dataclasses.replace(config, **{f: False for f in off}) if off else config


def _check_missing(table, block, missing, source):
    if not missing:
        return []
    still = table.drop_unloaded(block, missing)
    if still:
        raise ConversionError(f"{source}: the source lacks {len(still)} parameter(s) of the "
                              f"model it describes: {', '.join(still[:8])}"
                              f"{' ...' if len(still) > 8 else ''}")
    return [n for n in missing if n not in still]


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
    spec = registry.get_family(family)
    try:
        config = spec.config_class.from_dict(info.config)
    except (ValueError, TypeError) as e:
        raise ConversionError(f"{src}: stored config: {e}") from None
    shapes = _shapes(info)
    try:
        heads = table.heads_from_names(shapes)
    except ValueError as e:
        raise ConversionError(f"{src}: {e}") from None
    if model is not None:
        _check_preset(src, info, model, config, heads)
    block = build(spec, config, heads)
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


def _preset(path, model):
    """``(family, preset config)`` of the preset a file without a stored config is said to be."""
    if model is None:
        presets = ", ".join(registry.list_models())
        raise ConversionError(f"{path}: the file stores no model config (GluonNLP 0.10 or plain "
                              f"MXNet), so the size must be named: pass --model PRESET "
                              f"(model=...), one of {presets}")
    try:
        family, config = registry.resolve(model)
    except KeyError as e:
        raise ConversionError(f"{path}: {e}") from None
    if registry.is_family(model):
        raise ConversionError(f"{path}: the file stores no model config, so the family name "
                              f"{model!r} does not say which size it is; pass a preset: "
                              f"{', '.join(registry.list_models(family.name))}")
    return family, config


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
    family, preset = _preset(src, model)
    table = family_table(family)
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
    config = dataclasses.replace(preset, **table.config_fields_from_shapes(shapes))
    block = build(family, config, heads)
    report = load(block, src, rename=rename)
    if report.unused:
        raise ConversionError(f"{src}: {len(report.unused)} tensor(s) have no place in a "
                              f"{model} model: {', '.join(report.unused[:8])}")
    dropped = _check_missing(table, block, report.missing, src)
    return Converted(family=family.name, config=config, heads=heads, block=block, assets={},
                     source=src, kind="gluonnlp" if gluon else "mxnet",
                     description=f"{model} parameters", absent=dropped)


def _check_preset(path, info, model, config, heads):
    try:
        family, preset = registry.resolve(model)
    except KeyError as e:
        raise ConversionError(f"{path}: {e}") from None
    if registry.is_family(model):
        return
    want = dataclasses.replace(preset, **{k: getattr(config, k) for k in family.file_decides})
    diff = {k: (a, config.architecture()[k]) for k, a in want.architecture().items()
            if a != config.architecture()[k]}
    if diff:
        raise size_mismatch_error(path, info, model, family, want, diff, heads=heads)


# ------------------------------------------------------------------- for zoo.get_model

def foreign_rename(info, family):
    """``rename`` for ``checkpoints.load`` of a file without tiezoo metadata: the family's
    GluonNLP 0.10 name map when the names are GluonNLP's, else None (tiezoo's own names)."""
    table = family.converter
    names = [n for n, _, _ in info.tensors]
    if table is None or not hasattr(table, "is_gluonnlp_naming") \
            or not table.is_gluonnlp_naming(names):
        return None
    return _gluonnlp_rename(table, strict=False)


def foreign_config_fields(info, family):
    """The config fields a file without a stored config fixes by its tensor shapes."""
    table = family.converter
    if table is None:
        return {}
    return table.config_fields_from_shapes(_shapes(info, foreign_rename(info, family)))


def size_mismatch_error(path, info, name, family, want, diff, *, heads=None):
    """The error for a checkpoint of another size than the preset ``name`` asked for: a
    ShapeMismatchError naming the first tensor (in file order) whose shape differs."""
    detail = ", ".join(f"{k}: preset {a!r} vs file {b!r}" for k, (a, b) in diff.items())
    table = family.converter
    if heads is None:
        shapes = {n: tuple(s) for n, s, _ in info.tensors}
        try:
            heads = table.heads_from_names(shapes) if table else {}
        except ValueError:
            heads = {}
    block = build(family, want, heads)        # not initialized: allocates nothing
    params = mxc.structural_params(block)
    for tensor, shape, _ in info.tensors:
        target = tensor if tensor in params else resolve_declared(block, tensor)
        param = params.get(target)
        if param is None or not param.shape or 0 in param.shape:
            continue
        if tuple(param.shape) != tuple(shape):
            return ShapeMismatchError(
                f"{path}: holds a different model than {name!r} ({detail}): first "
                f"mismatching tensor {tensor!r} has shape {tuple(shape)} in the file but "
                f"{tuple(param.shape)} in {name!r}; pass the family name "
                f"{family.name!r} to take the file's size")
    return CheckpointError(f"{path}: holds a different model than {name!r} ({detail}); "
                           f"pass the family name {family.name!r} to take the file's size")
