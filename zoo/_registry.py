"""The model registry: a name -> (family, builder, config) table and nothing more.

A preset is *data*: a frozen config instance registered under a name. A family module
(``zoo/bert.py``) registers its presets at import time with :func:`register_model`;
everything else (``get_model``, ``zoo list``, the scripts, the tests) reads this table.

    register_model("bert_tiny", family="bert", builder=build_bert, config=BertConfig(...))

The builder has one signature for every family, so ``get_model`` needs no per-family code::

    builder(config, *, use_mlm=False, use_nsp=False, task=None, num_classes=None) -> Block

(a family with a further head adds its flag after these, e.g. ALBERT's ``use_sop=False``,
which ``get_model`` passes only when it is set), and the config class of a family is
``type(config)``; it provides ``to_dict()``, ``from_dict(d)`` and
``dataclasses.replace``-able fields (overrides).
"""
import dataclasses
import difflib

__all__ = ["ModelEntry", "UnknownModelError", "register_model", "list_models",
           "list_families", "get_entry", "family_default", "is_family", "create"]


class UnknownModelError(KeyError):
    """A model name that is neither a preset nor a family; the message lists the known ones."""

    def __str__(self):  # KeyError would repr() the message, quotes and all
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    builder: object      # callable, see the module docstring for its signature
    config: object       # frozen config dataclass instance


_MODELS = {}             # preset name -> ModelEntry
_FAMILY_DEFAULT = {}     # family name -> preset used when only the family is named


def register_model(name, family, builder, config, *, family_default=False):
    """Register the preset ``name``. ``family_default=True`` makes ``family`` resolve to it."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"register_model({name!r}): config must be a config dataclass instance")
    if name in _MODELS or name in _FAMILY_DEFAULT:
        raise ValueError(f"model name {name!r} is already registered")
    if family in _MODELS:
        raise ValueError(f"family name {family!r} clashes with a preset name")
    _MODELS[name] = ModelEntry(name, family, builder, config)
    if family_default:
        if family in _FAMILY_DEFAULT:
            raise ValueError(f"family {family!r} already has a default preset "
                             f"({_FAMILY_DEFAULT[family]!r})")
        _FAMILY_DEFAULT[family] = name


def list_models(family=None):
    """Sorted preset names (of one family if given). Family names are not listed."""
    return sorted(n for n, e in _MODELS.items() if family is None or e.family == family)


def list_families():
    return sorted({e.family for e in _MODELS.values()})


def family_default(family):
    """The preset a bare family name stands for."""
    return _FAMILY_DEFAULT[family]


def get_entry(name):
    """The :class:`ModelEntry` for a preset or family name; unknown names list the known ones."""
    if name in _MODELS:
        return _MODELS[name]
    if name in _FAMILY_DEFAULT:
        return _MODELS[_FAMILY_DEFAULT[name]]
    known = list_families() + list_models()
    close = difflib.get_close_matches(str(name), known, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise UnknownModelError(f"unknown model {name!r}.{hint} Known models: {', '.join(known)}")


def is_family(name):
    return name in _FAMILY_DEFAULT and name not in _MODELS


def create(name, *, config=None, **build_kwargs):
    """Build (uninitialized) the model ``name``; ``config`` replaces the preset's config."""
    entry = get_entry(name)
    return entry.builder(entry.config if config is None else config, **build_kwargs)
