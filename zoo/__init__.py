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
import logging
import warnings

import mxnet as mx

from . import _registry
from ._registry import UnknownModelError, list_families, list_models, register_model
from . import bert  # noqa: F401  (registers the BERT presets)
from .bert import BertConfig

__all__ = ["get_model", "list_models", "list_families", "register_model", "get_config",
           "UnknownModelError", "BertConfig"]

_log = logging.getLogger(__name__)


def get_config(name, **overrides):
    """The config of a preset or family name, with ``overrides`` applied."""
    return _with_overrides(_registry.get_entry(name).config, overrides)


def get_model(name, *, pretrained=None, use_mlm=False, use_nsp=False, ctx=None,
              task=None, num_classes=None, **overrides):
    """Build an initialized model.

    name: a preset (``"bert_tiny"``, ...; see :func:`list_models`) or a family (``"bert"``:
        its default preset, or with ``pretrained`` whatever size the checkpoint holds).
    pretrained: a checkpoint path. The architecture comes from the config stored in it; a
        file without one (plain MXNet, GluonNLP 0.10) needs a preset name. Parameters the
        file lacks (a head it was saved without) keep their initializer's values.
    use_mlm, use_nsp: attach the pretraining heads (outputs appended in this order).
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
        config = _config_from_checkpoint(name, entry, pretrained)
    config = _with_overrides(config, overrides)
    model = entry.builder(config, use_mlm=use_mlm, use_nsp=use_nsp, task=task,
                          num_classes=num_classes)
    if pretrained is None:
        model.initialize(ctx=ctx or mx.cpu())
    else:
        _load_pretrained(model, pretrained, ctx)
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


def _checkpoint_api():
    try:
        from checkpoints import inspect, load
    except ImportError as e:
        raise NotImplementedError(
            "get_model(pretrained=...) needs checkpoints.inspect and checkpoints.load, "
            "which this installation does not provide yet") from e
    return inspect, load


def _config_from_checkpoint(name, entry, path):
    inspect, _ = _checkpoint_api()
    stored = inspect(path).config
    config_cls = type(entry.config)
    if not stored:
        if _registry.is_family(name):
            raise ValueError(
                f"{path}: the checkpoint stores no model config (plain MXNet or GluonNLP "
                f"file?), so the family name {name!r} does not say which size to build; "
                f"pass a preset name instead: {', '.join(list_models(entry.family))}")
        return entry.config
    family = stored.get("family", config_cls.family)
    if family != entry.family:
        raise ValueError(f"{path} holds a {family!r} model, not a {entry.family!r} one "
                         f"(asked for {name!r})")
    config = config_cls.from_dict(stored)
    if not _registry.is_family(name):
        want, got = entry.config.architecture(), config.architecture()
        diff = {k: (want[k], got[k]) for k in want if want[k] != got[k]}
        if diff:
            detail = ", ".join(f"{k}: preset {a!r} vs file {b!r}" for k, (a, b) in diff.items())
            raise ValueError(f"{path} does not hold a {name!r} model ({detail}); pass the "
                             f"family name {entry.family!r} to take the file's size")
    return config


def _load_pretrained(model, path, ctx):
    _, load = _checkpoint_api()
    many = isinstance(ctx, (list, tuple))
    report = load(model, path, ctx=None if many else ctx)
    _log.info("loaded %s: %s", path, report)
    backbone_missing = [n for n in getattr(report, "missing", ())
                        if not n.startswith(("mlm_decoder.", "nsp_classifier.", "head."))]
    if backbone_missing:
        warnings.warn(f"{path}: backbone parameters not in the checkpoint, left at their "
                      f"initial values: {', '.join(backbone_missing)}", stacklevel=3)
    if many:
        model.collect_params().reset_ctx(ctx)
    model.load_report = report
    return model
