"""Model zoo: presets as data, one builder per family, one forward contract for all.

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
import inspect as _inspect
import logging
import warnings

# A distributed job's scheduler and servers live inside `import mxnet` (MXNet runs them at
# import): what ends them when the job fails starts first (zoo/distributed.py).
from . import distributed as _distributed
_distributed.join_at_import()

import mxnet as mx  # noqa: E402

from checkpoints import inspect, load
from checkpoints._mx_compat import configure_onednn_isa

from . import _native, _registry
from ._registry import UnknownModelError, list_families, list_models, register_model
from . import bert  # noqa: F401  (registers the BERT presets)
from . import roberta, albert, electra  # noqa: F401,E401  (register their presets)
from .bert import BertConfig
from .tokenizers import get_tokenizer

__all__ = ["get_tokenizer", "get_model", "list_models", "list_families", "register_model", "get_config",
           "UnknownModelError", "BertConfig"]

_log = logging.getLogger(__name__)

# Before any model runs: MXNet's oneDNN reads its kernel choice once (see the function).
ONEDNN_ISA = configure_onednn_isa()
# tiezoo's native operators (built on first use; MXNet's own ones when unavailable)
_native.load()

# Parameters outside the backbone: a checkpoint without them is no reason for a warning.
_HEAD_PREFIXES = ("mlm_decoder.", "nsp_classifier.", "head.", "sop_classifier.",
                  "rtd_classifier.", "generator.")


def get_config(name, **overrides):
    """The config of a preset or family name, with ``overrides`` applied."""
    return _with_overrides(_registry.get_entry(name).config, overrides)


def get_model(name, *, pretrained=None, use_mlm=False, use_nsp=False, ctx=None,
              task=None, num_classes=None, use_sop=False, **overrides):
    """Build an initialized model.

    name: a preset (``"bert_tiny"``, ...; see :func:`list_models`) or a family (``"bert"``:
        its default preset, or with ``pretrained`` whatever size the checkpoint holds).
    pretrained: a checkpoint path. The architecture comes from the config stored in it; a
        file without one (plain MXNet, GluonNLP 0.10) needs a preset name. Parameters the
        file lacks (a head it was saved without) keep their initializer's values.
    use_mlm, use_nsp: attach the pretraining heads (outputs appended in this order).
        For ELECTRA, ``use_mlm=True`` gives the generator + discriminator pretraining model.
    use_sop: ALBERT's sentence-order-prediction head (``sop_scores`` (B, 2) appended last);
        only families whose builder takes ``use_sop`` accept it.
    task: ``"classification"``, ``"regression"``, ``"tagging"`` or ``"qa"``: attach that
        task head instead (see :mod:`heads`); ``num_classes`` for classification/tagging
        (``num_classes`` alone implies classification).
    ctx: a context or list of contexts (default CPU).
    **overrides: config fields (``vocab_size=``, ``num_layers=``, ``dropout=``, ...).
    """
    entry = _registry.get_entry(name)
    if num_classes is not None and task is None:
        task = "classification"
    config = entry.config
    if pretrained is not None:
        config = _config_from_checkpoint(name, entry, pretrained, overrides)
    config = _with_overrides(config, overrides)
    heads = {}
    if use_sop:
        if "use_sop" not in _inspect.signature(entry.builder).parameters:
            raise ValueError(f"{entry.family!r} models have no sentence-order-prediction head "
                             f"(use_sop)")
        heads["use_sop"] = True
    model = entry.builder(config, use_mlm=use_mlm, use_nsp=use_nsp, task=task,
                          num_classes=num_classes, **heads)
    if pretrained is None:
        model.initialize(ctx=ctx or mx.cpu())
    else:
        _load_pretrained(model, pretrained, ctx, entry.family)
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


def _config_from_checkpoint(name, entry, path, overrides=None):
    info = inspect(path)
    stored = info.config
    config_cls = type(entry.config)
    from . import convert as _convert
    if not stored:
        if _registry.is_family(name):
            raise ValueError(
                f"{path}: the checkpoint stores no model config (plain MXNet or GluonNLP "
                f"file?), so the family name {name!r} does not say which size to build; "
                f"pass a preset name instead: {', '.join(list_models(entry.family))}")
        # the preset gives the size; the tensors still fix the vocabulary & table sizes
        return dataclasses.replace(entry.config,
                                   **_convert.foreign_config_fields(info, entry.family))
    family = stored.get("family", config_cls.family)
    if family != entry.family:
        raise ValueError(f"{path} holds a {family!r} model, not a {entry.family!r} one "
                         f"(asked for {name!r})")
    config = config_cls.from_dict(stored)
    if not _registry.is_family(name):
        # The preset (with the caller's overrides) names a size; the file's own table sizes
        # (vocabulary, ...) stand. Anything else that differs is a checkpoint of another
        # size: a CheckpointError naming the first tensor whose shape differs.
        decides = getattr(_convert._tables().get(entry.family), "FILE_DECIDES", ())
        want = _with_overrides(entry.config, {k: v for k, v in (overrides or {}).items()
                                              if k not in decides})
        want = dataclasses.replace(want, **{k: getattr(config, k) for k in decides})
        got = config.architecture()
        diff = {k: (a, got[k]) for k, a in want.architecture().items() if a != got[k]}
        if diff:
            raise _convert.size_mismatch_error(path, info, entry, want, diff)
    return config


def _load_pretrained(model, path, ctx, family=None):
    many = isinstance(ctx, (list, tuple))
    rename = None
    info = inspect(path)
    if not info.format_version:
        # A foreign file (GluonNLP 0.10's BERTModel): its own names, mapped by the family table.
        from . import convert as _convert
        rename = _convert.foreign_rename(info, family or model.config.family)
    report = load(model, path, ctx=None if many else ctx, rename=rename)
    _log.info("loaded %s: %s", path, report)
    backbone_missing = [n for n in getattr(report, "missing", ())
                        if not n.startswith(_HEAD_PREFIXES)]
    if backbone_missing:
        warnings.warn(f"{path}: backbone parameters not in the checkpoint, left at their "
                      f"initial values: {', '.join(backbone_missing)}", stacklevel=3)
    if many:
        model.collect_params().reset_ctx(ctx)
    model.load_report = report
    return model
