"""Model zoo: one folder per family (``zoo/models/``), presets as data, one forward contract
per kind of model.

Usage (inputs/token_types (B, L), valid_length (B,), masked_positions (B, P))::

    import zoo
    model = zoo.get_model("bert_test")                           # initialized backbone
    seq, pooled = model(inputs, token_types, valid_length)       # (B,L,U), (B,U)
    pre = zoo.get_model("bert_test", use_mlm=True, use_nsp=True)
    seq, pooled, mlm_scores, nsp_scores = pre(inputs, token_types, valid_length, masked_positions)
    clf = zoo.get_model("bert_test", task="classification", num_classes=3)
    scores = clf(inputs, token_types, valid_length)              # (B, 3)
"""
import dataclasses
import logging
import warnings

# A distributed job's scheduler and servers live inside `import mxnet` (MXNet runs them at
# import): what ends them when the job fails starts first (zoo/distributed.py).
from . import distributed as _distributed
_distributed.join_at_import()

import mxnet as mx  # noqa: E402

from checkpoints import inspect, load
from checkpoints._mx_compat import configure_onednn_isa

from . import _native, registry
from . import models  # noqa: F401  (registers the zoo's families)
from .registry import (Family, UnknownModelError, family_of, get_family, list_families,
                       list_models, register_family, register_preset)
from .generation import GenerationError, generate
from .resize import resize_token_embeddings
from .tokenizers import get_tokenizer

__all__ = ["get_model", "get_config", "get_tokenizer", "list_models", "list_families",
           "get_family", "family_of", "register_family", "register_preset", "Family",
           "resize_token_embeddings", "UnknownModelError", "generate", "GenerationError"]

_log = logging.getLogger(__name__)

# Before any model runs: MXNet's oneDNN reads its kernel choice once (see the function).
ONEDNN_ISA = configure_onednn_isa()
# tiezoo's native operators (built on first use; MXNet's own ones when unavailable)
_native.load()


def get_config(name, **overrides):
    """The config of a preset or family name, with ``overrides`` applied."""
    return _with_overrides(registry.resolve(name)[1], overrides)


def get_model(name, *, pretrained=None, ctx=None, task=None, num_classes=None, **kwargs):
    """Build an initialized model.

    name: a preset (``"bert_tiny"``, ...; see :func:`list_models`) or a family (``"bert"``:
        its default preset, or with ``pretrained`` whatever size the checkpoint holds).
    pretrained: a checkpoint path. The architecture comes from the config stored in it; a
        file without one (plain MXNet, GluonNLP 0.10) needs a preset name. Parameters the
        file lacks (a head it was saved without) keep their initializer's values.
    head switches (``use_mlm=True``, ``use_nsp=True``, ``use_sop=True``, ...): the family's
        pretraining heads (``get_family(name).flags`` lists them); outputs are appended in
        the order of the forward contract. For ELECTRA, ``use_mlm=True`` gives the generator
        + discriminator pretraining model.
    task: ``"classification"``, ``"regression"``, ``"tagging"`` or ``"qa"``: attach that
        task head instead (see :mod:`heads`); ``num_classes`` for classification/tagging
        (``num_classes`` alone implies classification).
    ctx: a context or list of contexts (default CPU).
    other keyword arguments: config fields (``vocab_size=``, ``num_layers=``, ``dropout=``,
        ``tie_word_embeddings=``, ...).
    """
    family, config = registry.resolve(name)
    flags = {k: kwargs.pop(k) for k in list(kwargs) if k in family.flags or k.startswith("use_")}
    family.check_flags(flags)
    flags = {k: v for k, v in flags.items() if v}
    if num_classes is not None and task is None:
        task = "classification"
    if task is not None and family.tasks is not None and task not in family.tasks:
        raise ValueError(f"unknown task {task!r} for {family.name} models; known: "
                         f"{', '.join(family.tasks)}")
    if pretrained is not None:
        config = _config_from_checkpoint(name, family, pretrained, kwargs)
    config = _with_overrides(config, kwargs)
    extra = {"task": task, "num_classes": num_classes} if (task or num_classes) else {}
    model = family.build(config, **flags, **extra)
    if pretrained is None:
        model.initialize(ctx=ctx or mx.cpu())
    else:
        _load_pretrained(model, pretrained, ctx, family)
    return model


def _with_overrides(config, overrides):
    if not overrides:
        return config
    known = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown {type(config).__name__} override(s) {unknown}; "
                        f"known: {sorted(known)}")
    return dataclasses.replace(config, **overrides)


def _config_from_checkpoint(name, family, path, overrides=None):
    from . import convert as _convert
    info = inspect(path)
    stored = info.config
    if not stored:
        if registry.is_family(name):
            raise ValueError(
                f"{path}: the checkpoint stores no model config (plain MXNet or GluonNLP "
                f"file?), so the family name {name!r} does not say which size to build; "
                f"pass a preset name instead: {', '.join(list_models(family.name))}")
        # the preset gives the size; the tensors still fix the vocabulary & table sizes
        return dataclasses.replace(registry.resolve(name)[1],
                                   **_convert.foreign_config_fields(info, family))
    stored_family = stored.get("family", family.name)
    if stored_family != family.name:
        raise ValueError(f"{path} holds a {stored_family!r} model, not a {family.name!r} one "
                         f"(asked for {name!r})")
    config = family.config_class.from_dict(stored)
    if not registry.is_family(name):
        # The preset (with the caller's overrides) names a size; the file's own table sizes
        # (vocabulary, ...) stand. Anything else that differs is a checkpoint of another
        # size: a CheckpointError naming the first tensor whose shape differs.
        decides = family.file_decides
        want = _with_overrides(registry.resolve(name)[1],
                               {k: v for k, v in (overrides or {}).items() if k not in decides})
        want = dataclasses.replace(want, **{k: getattr(config, k) for k in decides})
        got = config.architecture()
        diff = {k: (a, got[k]) for k, a in want.architecture().items() if a != got[k]}
        if diff:
            raise _convert.size_mismatch_error(path, info, name, family, want, diff)
    return config


def _load_pretrained(model, path, ctx, family):
    many = isinstance(ctx, (list, tuple))
    rename = None
    info = inspect(path)
    if not info.format_version:
        # A foreign file (GluonNLP 0.10's BERTModel): its own names, mapped by the family table.
        from . import convert as _convert
        rename = _convert.foreign_rename(info, family)
    report = load(model, path, ctx=None if many else ctx, rename=rename)
    _log.info("loaded %s: %s", path, report)
    backbone_missing = [n for n in getattr(report, "missing", ())
                        if not n.startswith(tuple(family.head_prefixes))]
    if backbone_missing:
        warnings.warn(f"{path}: backbone parameters not in the checkpoint, left at their "
                      f"initial values: {', '.join(backbone_missing)}", stacklevel=3)
    if many:
        model.collect_params().reset_ctx(ctx)
    model.load_report = report
    return model


def _register_external_families():
    """Families defined outside the zoo register themselves when their module is imported:
    the modules named in ``TIEZOO_FAMILIES`` (comma-separated, on the Python path) and the
    ``tiezoo.families`` entry points of installed packages, so that the ``zoo`` programs
    know them too."""
    import importlib
    import importlib.metadata
    import os
    for module in filter(None, (m.strip() for m in os.environ.get("TIEZOO_FAMILIES", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ImportError(f"TIEZOO_FAMILIES names {module!r}, which cannot be imported "
                              f"({e}); put its folder on PYTHONPATH or fix the name") from None
    for entry in importlib.metadata.entry_points(group="tiezoo.families"):
        entry.load()


_register_external_families()
