"""The family registry: what the generic code may ask about a model family, and nothing more.

A family is one folder (``zoo/models/bert/``) that builds one :class:`Family` and is
registered by one line (``register_family(bert.FAMILY)`` in ``zoo/models/__init__.py``,
or anywhere for a family defined outside the zoo). ``get_model``, conversion, ``zoo list``
and the programs read these declarations and never branch on a family's name.

A preset is data: a frozen config instance under a name. A family brings its presets (the
published sizes and a tiny one for tests); more can be added with :func:`register_preset`.
"""
import dataclasses
import difflib
from typing import Callable, Mapping, Optional

__all__ = ["Family", "UnknownModelError", "register_family", "register_preset", "get_family",
           "family_of", "resolve", "is_family", "list_models", "list_families", "families"]


class UnknownModelError(KeyError):
    """A model name that is neither a preset nor a family; the message lists the known ones."""

    def __str__(self):  # KeyError would repr() the message, quotes and all
        return str(self.args[0])


ENCODER, DECODER, ENCODER_DECODER = "encoder", "decoder", "encoder-decoder"


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family as the rest of the code sees it.

    name: the family name (``"bert"``), stored in every checkpoint's config.
    config_class: a frozen dataclass with ``to_dict()``, ``from_dict(d)``,
        ``architecture()`` (the fields tensors and outputs depend on), ``family`` and
        ``max_positions`` (the longest input the model takes).
    build: ``build(config, *, task=None, num_classes=None, **flags) -> Block`` (not
        initialized), where ``flags`` are among :attr:`flags`.
    presets: preset name -> config instance; ``default_preset`` is what the bare family
        name builds.
    flags: the ``get_model`` head switches the builder takes, each with what it attaches
        (``{"use_mlm": "masked-LM head", ...}``).
    head_prefixes: parameter-name prefixes outside the backbone (heads, generators): a
        checkpoint without them is no reason for a warning.
    kind: ``"encoder"``, ``"decoder"`` or ``"encoder-decoder"``: which forward contract of
        API.md the backbone keeps.
    tasks: the finetuning tasks its task models support; None (encoder families, whose task
        model is the backbone plus any head of :mod:`heads` on ``(seq, pooled)``): every
        registered task head.
    recipe: the pretraining recipe (see :mod:`zoo.recipes`), or None; its ``flags`` are the
        switches of the model that pretraining trains.
    vocab_kind: the vocabulary ``zoo pretrain --vocab-size`` trains for it (``build_vocab``
        kind: ``"wordpiece"``, ``"sentencepiece"``, ``"byte_bpe"``), with ``vocab_options``
        (further ``build_vocab`` arguments, e.g. ``{"layout": "t5"}``).
    converter: the module with its Hugging Face / GluonNLP name tables (see
        :mod:`zoo.convert`), or None.
    vocab_parameters: parameter names (``*`` = one component) whose first axis is the
        vocabulary: what :func:`zoo.resize_token_embeddings` resizes.
    file_decides: config fields a checkpoint's tensors decide even when a preset is named
        (table sizes: a bert_base with a larger vocabulary is still a bert_base).
    """
    name: str
    config_class: type
    build: Callable
    presets: Mapping[str, object]
    default_preset: str
    flags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    head_prefixes: tuple = ("head.",)
    kind: str = ENCODER
    tasks: Optional[tuple] = None
    recipe: Optional[object] = None
    vocab_kind: str = "wordpiece"
    vocab_options: Mapping[str, object] = dataclasses.field(default_factory=dict)
    converter: Optional[object] = None
    vocab_parameters: tuple = ()
    file_decides: tuple = ("vocab_size",)
    description: str = ""

    def __post_init__(self):
        if self.default_preset not in self.presets:
            raise ValueError(f"family {self.name!r}: default preset {self.default_preset!r} "
                             f"is not one of its presets")
        if self.kind not in (ENCODER, DECODER, ENCODER_DECODER):
            raise ValueError(f"family {self.name!r}: kind {self.kind!r} is not one of "
                             f"{ENCODER!r}, {DECODER!r}, {ENCODER_DECODER!r}")
        for preset, config in self.presets.items():
            if not isinstance(config, self.config_class):
                raise TypeError(f"family {self.name!r}: preset {preset!r} is not a "
                                f"{self.config_class.__name__}")
        if getattr(self.config_class, "family", None) != self.name:
            raise ValueError(f"family {self.name!r}: {self.config_class.__name__}.family is "
                             f"{getattr(self.config_class, 'family', None)!r}")

    @property
    def pretraining_flags(self):
        """The ``get_model`` switches of the model its pretraining recipe trains."""
        return dict(self.recipe.flags) if self.recipe is not None else {}

    def check_flags(self, flags):
        """``ValueError`` for a switch that is on but that this family does not have,
        saying what the family has instead."""
        for flag, on in flags.items():
            if on and flag not in self.flags:
                what = _FLAG_HELP.get(flag, "head")
                have = ", ".join(f"{f}=True ({d})" for f, d in self.flags.items()) or "none"
                raise ValueError(f"{self.name} models have no {what} ({flag}); their head "
                                 f"switches: {have}")


_FAMILIES = {}       # family name -> Family
_FLAG_HELP = {}      # get_model switch -> what it attaches, from every registered family
_PRESETS = {}        # preset name -> (family name, config)


def register_family(family):
    """Register ``family`` and its presets; returns it. Names must be new."""
    if not isinstance(family, Family):
        raise TypeError(f"register_family takes a Family, not {type(family).__name__}")
    if family.name in _FAMILIES or family.name in _PRESETS:
        raise ValueError(f"model name {family.name!r} is already registered")
    clash = sorted(set(family.presets) & (set(_PRESETS) | set(_FAMILIES) | {family.name}))
    if clash:
        raise ValueError(f"family {family.name!r}: preset name(s) {clash} already registered")
    _FAMILIES[family.name] = family
    for flag, what in family.flags.items():
        _FLAG_HELP.setdefault(flag, what)
    for preset, config in family.presets.items():
        _PRESETS[preset] = (family.name, config)
    return family


def register_preset(name, family, config):
    """Add the preset ``name`` (a config instance) to the registered ``family``."""
    fam = get_family(family)
    if name in _PRESETS or name in _FAMILIES:
        raise ValueError(f"model name {name!r} is already registered")
    if not isinstance(config, fam.config_class):
        raise TypeError(f"preset {name!r}: config must be a {fam.config_class.__name__}")
    _PRESETS[name] = (fam.name, config)


def _unknown(name):
    known = list_families() + list_models()
    close = difflib.get_close_matches(str(name), known, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return UnknownModelError(f"unknown model {name!r}.{hint} Known models: {', '.join(known)}")


def get_family(name):
    """The :class:`Family` of a family or preset name."""
    if name in _FAMILIES:
        return _FAMILIES[name]
    if name in _PRESETS:
        return _FAMILIES[_PRESETS[name][0]]
    raise _unknown(name)


def family_of(config):
    """The :class:`Family` a config instance (or config dict with ``family``) belongs to."""
    name = config.get("family") if isinstance(config, dict) else getattr(config, "family", None)
    if name not in _FAMILIES:
        raise _unknown(name)
    return _FAMILIES[name]


def resolve(name):
    """``(family, preset config)`` for a preset or family name (a family: its default)."""
    if name in _PRESETS:
        family, config = _PRESETS[name]
        return _FAMILIES[family], config
    if name in _FAMILIES:
        fam = _FAMILIES[name]
        return fam, fam.presets[fam.default_preset]
    raise _unknown(name)


def is_family(name):
    return name in _FAMILIES


def list_models(family=None):
    """Sorted preset names (of one family if given). Family names are not listed."""
    return sorted(n for n, (f, _) in _PRESETS.items() if family is None or f == family)


def list_families():
    return sorted(_FAMILIES)


def families():
    """Every registered :class:`Family`, in registration order."""
    return list(_FAMILIES.values())
