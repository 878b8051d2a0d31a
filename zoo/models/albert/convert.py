"""ALBERT parameter-name correspondence: tiezoo <-> Hugging Face, as data.

Hugging Face stores the one shared layer once, as
``encoder.albert_layer_groups.0.albert_layers.0.*``, and tiezoo stores it once too, as the
canonical ``encoder.layers.0.*`` (layers 1.. are aliases declared by
``@tied("encoder.layers.*", "encoder.layers.0")``), so the tables name layer 0 only.
Only Hugging Face's default grouping is representable: ``num_hidden_groups == 1`` and
``inner_group_num == 1`` (:func:`config_from_hf` refuses others).

The factorized embedding's projection is Hugging Face's
``encoder.embedding_hidden_mapping_in``, tiezoo's top-level ``embed_proj``. The MLM head is
``predictions.*`` (``predictions.decoder.weight`` -> the tiezoo alias
``mlm_decoder.decoder.weight``; ``predictions.bias`` and ``predictions.decoder.bias`` are one
tensor), the SOP head ``sop_classifier.classifier.*``. No tensor is transposed.

This module imports neither ``zoo`` nor ``transformers``: configs are plain dicts. It is
also ALBERT's *converter table* for ``zoo.convert`` (the functions at the end); its head
flags include ``use_sop``, which ``build_albert`` takes.
"""
import re

from ...convert.names import (check_architecture, compile_pairs, fields_from_hf, hf_activation,
                              hf_task_architectures, lookup, lookup_hf_name, name_pairs)
from ..bert.convert import (check_absolute_positions, config_fields_from_shapes,
                            drop_optional_pooler as drop_unloaded, encoder_layer_pairs,
                            heads_from_prefixes, hf_config_dict, hf_config_fields,
                            HF_EMBEDDING_MODULES, hf_ignored, hf_mlm_head_pairs)

__all__ = ["HF_READ_FIRST", "HF_UNTIED_NAMES", "HF_BACKBONE", "HF_HEADS", "HF_IGNORED",
           "HF_TRANSPOSED", "HF_BACKBONE_PREFIX", "HF_ARCHITECTURES", "HF_CONFIG_FIELDS",
           "HF_ACTIVATIONS", "FAMILY", "MODEL_TYPE", "HF_MODEL_TYPES", "FILE_DECIDES",
           "hf_to_tiezoo_name", "tiezoo_to_hf_name", "config_from_hf", "config_to_hf",
           "hf_heads", "hf_architecture", "hf_architecture_from_names", "hf_config_extra",
           "heads_from_names", "config_fields_from_shapes", "drop_unloaded"]

FAMILY = "albert"
MODEL_TYPE = "albert"

_L = "encoder.albert_layer_groups.0.albert_layers.0."
# (tiezoo, Hugging Face) for the backbone; prefixed with "albert." in architectures with heads.
HF_BACKBONE = name_pairs(HF_EMBEDDING_MODULES + (
    ("embed_proj", "encoder.embedding_hidden_mapping_in", "dense"),
)) + encoder_layer_pairs(
    "encoder.layers.0.", _L,
    {"attention.query": "attention.query", "attention.key": "attention.key",
     "attention.value": "attention.value", "attention_proj": "attention.dense",
     "attention_layer_norm": "attention.LayerNorm", "ffn_1": "ffn", "ffn_2": "ffn_output",
     "ffn_layer_norm": "full_layer_layer_norm"},
) + name_pairs((("pooler", "pooler", "dense"),))
HF_BACKBONE_PREFIX = "albert."

# (tiezoo, Hugging Face) for the pretraining heads; never prefixed. The first Hugging Face
# name of a tiezoo name is the one written when converting to Hugging Face.
HF_HEADS = hf_mlm_head_pairs(
    "predictions.dense", "predictions.LayerNorm", "predictions.decoder.weight",  # tied
    ("predictions.bias", "predictions.decoder.bias"),                   # same tensor in HF
) + name_pairs((("sop_classifier", "sop_classifier.classifier", "dense"),))

# The MLM bias has two names in Hugging Face files. Tied, they are one tensor (saved under
# the first). transformers 5 with tie_word_embeddings=False unties them too, and its forward
# pass reads the decoder's own bias: where a file holds both, that one is read, and an untied
# model writes both.
HF_READ_FIRST = ("predictions.decoder.bias",)
HF_UNTIED_NAMES = {"mlm_decoder.decoder.bias": ("predictions.decoder.bias",)}

HF_IGNORED = hf_ignored(HF_BACKBONE_PREFIX)

HF_TRANSPOSED = frozenset()

# Hugging Face architectures and the tiezoo heads they carry (zoo.get_model flags).
HF_ARCHITECTURES = {
    "AlbertModel": {"prefix": "", "use_mlm": False, "use_sop": False, "pooler": True},
    "AlbertForPreTraining": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": True, "use_sop": True,
                             "pooler": True},
    "AlbertForMaskedLM": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": True, "use_sop": False,
                          "pooler": False},
}

# (tiezoo AlbertConfig field, Hugging Face AlbertConfig field)
HF_CONFIG_FIELDS = hf_config_fields(
    after={"vocab_size": (("embed_size", "embedding_size"),)})
HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh",
                  "gelu_pytorch_tanh": "gelu_tanh"}
_TO_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_tanh": "gelu_new"}

_HF_TO_TZ_BACKBONE = compile_pairs(HF_BACKBONE, 1, 0)
_HF_TO_TZ_HEADS = compile_pairs(HF_HEADS, 1, 0)
_TZ_TO_HF_BACKBONE = compile_pairs(HF_BACKBONE, 0, 1)
_TZ_TO_HF_HEADS = compile_pairs(HF_HEADS, 0, 1)
_HF_IGNORED = [re.compile(p + r"\Z") for p in HF_IGNORED]
_SHARED_LAYER = re.compile(r"encoder\.layers\.(\d+)\.")


def _check_architecture(architecture):
    return check_architecture(HF_ARCHITECTURES, architecture)


def hf_to_tiezoo_name(name, architecture=None, task=None):
    """The tiezoo name of a Hugging Face ALBERT tensor; ``None`` for known non-parameters.

    Accepts names with or without the ``albert.`` prefix. ``KeyError`` names the tensor for
    anything else, including layers of groups other than Hugging Face's default single one.
    """
    if architecture is not None:
        _check_architecture(architecture)
    return lookup_hf_name(name, _HF_IGNORED, _HF_TO_TZ_HEADS, _HF_TO_TZ_BACKBONE,
                          HF_BACKBONE_PREFIX, "ALBERT")


def tiezoo_to_hf_name(name, architecture="AlbertForPreTraining"):
    """The Hugging Face name of a tiezoo ALBERT parameter for ``architecture``; ``None`` for
    a name the architecture has no place for (the pooler of ``AlbertForMaskedLM``, a head
    it lacks).

    ``encoder.layers.{i}.*`` for i > 0 are aliases of layer 0 (never stored); asking for
    one raises ``KeyError`` saying so, as does a name with no counterpart at all.
    """
    info = _check_architecture(architecture)
    m = _SHARED_LAYER.match(name)
    if m and m.group(1) != "0":
        raise KeyError(f"tiezoo tensor {name!r} is an alias of "
                       f"{_SHARED_LAYER.sub('encoder.layers.0.', name, count=1)!r} (ALBERT "
                       f"shares one layer); convert the canonical name")
    out = lookup(_TZ_TO_HF_BACKBONE, name)
    if out is not None:
        if name.startswith("pooler.") and not info["pooler"]:
            return None
        return info["prefix"] + out
    out = lookup(_TZ_TO_HF_HEADS, name)
    if out is None:
        raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face ALBERT counterpart")
    carried = info["use_mlm"] if name.startswith("mlm_decoder.") else info["use_sop"]
    return out if carried else None


def config_from_hf(hf_config):
    """A tiezoo AlbertConfig dict (``zoo.albert.AlbertConfig.from_dict``) from a Hugging Face
    config dict."""
    if hf_config.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise ValueError(f"not an ALBERT config: model_type {hf_config.get('model_type')!r}")
    for key in ("num_hidden_groups", "inner_group_num"):
        if hf_config.get(key, 1) != 1:
            raise ValueError(f"ALBERT {key}={hf_config[key]} is not supported (only 1: every "
                             f"layer shares one set of parameters)")
    act = hf_activation(hf_config, HF_ACTIVATIONS, default="gelu_new")
    check_absolute_positions(hf_config)
    out = fields_from_hf({"family": FAMILY}, hf_config, HF_CONFIG_FIELDS)
    out["activation"] = act
    return out


def config_to_hf(config, architecture="AlbertForPreTraining"):
    """A Hugging Face ``config.json`` dict from a tiezoo AlbertConfig dict."""
    _check_architecture(architecture)
    return hf_config_dict(MODEL_TYPE, architecture, config, HF_CONFIG_FIELDS, _TO_HF_ACTIVATIONS,
                          num_hidden_groups=1, inner_group_num=1)


# ----------------------------------------------------------------- converter table
# What ``zoo.convert`` asks of a family (see its module docstring); "heads" is the dict of
# ``zoo.get_model`` flags, here ``{"use_mlm", "use_sop", "task", "num_classes"}``.

HF_MODEL_TYPES = (MODEL_TYPE,)
FILE_DECIDES = ("vocab_size", "type_vocab_size", "max_length")


def hf_heads(architecture, hf_config=None):
    """The ``get_model`` head flags of a Hugging Face ``architecture``."""
    info = _check_architecture(architecture)
    return {"use_mlm": info["use_mlm"], "use_sop": info["use_sop"],
            "task": None, "num_classes": None}


def hf_architecture(heads):
    """The Hugging Face architecture carrying these heads (task heads and SOP alone name
    architectures this table does not convert; the driver reports them unsupported)."""
    task = heads.get("task")
    if task is not None:
        return hf_task_architectures("Albert")[task]
    mlm, sop = bool(heads.get("use_mlm")), bool(heads.get("use_sop"))
    return {(True, True): "AlbertForPreTraining", (True, False): "AlbertForMaskedLM",
            (False, True): "AlbertForPreTraining (without its MLM head)",
            (False, False): "AlbertModel"}[(mlm, sop)]


def hf_architecture_from_names(names):
    """The architecture of a Hugging Face file whose config names none."""
    names = list(names)
    if any(n.startswith(("classifier.", "qa_outputs.")) for n in names):
        return None
    mlm = any(n.startswith("predictions.") for n in names)
    sop = any(n.startswith("sop_classifier.") for n in names)
    if sop and not mlm:
        return None
    return hf_architecture({"use_mlm": mlm, "use_sop": sop})


def hf_config_extra(heads, hf_config=None):
    return {}


_NO_NSP = "ALBERT has no next-sentence-prediction head (nsp_classifier.*)"


def heads_from_names(shapes):
    """The ``get_model`` head flags that tiezoo tensor names -> shapes call for."""
    return heads_from_prefixes(shapes, {"use_mlm": "mlm_decoder.",
                                        "use_sop": "sop_classifier."},
                               refused={"nsp_classifier.": _NO_NSP})
