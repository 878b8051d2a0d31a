"""RoBERTa parameter-name correspondence: tiezoo <-> Hugging Face, as data.

Hugging Face's RoBERTa backbone names are BERT's (``embeddings.word_embeddings.weight``,
``encoder.layer.{i}.attention.self.query.weight``, ``pooler.dense.weight``, ...) under the
``roberta.`` prefix, and tiezoo's RoBERTa names are tiezoo's BERT names, so the backbone
table is :data:`zoo.models.bert.convert.HF_BACKBONE` itself. The MLM head is
``lm_head.*``; ``lm_head.decoder.weight`` maps to the tiezoo alias
``mlm_decoder.decoder.weight`` (tied to ``word_embed.weight``), and ``lm_head.bias`` and
``lm_head.decoder.bias`` are one tensor. No tensor is transposed.

The position table keeps Hugging Face's layout (``max_length`` = 512 + 2 rows, the first
``pad_token_id + 1`` unused), since tiezoo computes the same offset position ids.

This module imports neither ``zoo`` nor ``transformers``: configs are plain dicts. It is
also RoBERTa's *converter table* for ``zoo.convert`` (the functions at the end).
"""
import re

from ...convert.names import (check_architecture, compile_pairs, fields_from_hf, hf_activation,
                              hf_task_architectures, lookup, lookup_hf_name)
from ..bert.convert import (check_absolute_positions, config_fields_from_shapes,
                            drop_optional_pooler as drop_unloaded, heads_from_prefixes,
                            HF_BACKBONE as _BERT_BACKBONE, hf_config_dict, hf_config_fields,
                            hf_ignored, hf_mlm_head_pairs)

__all__ = ["HF_READ_FIRST", "HF_UNTIED_NAMES", "HF_BACKBONE", "HF_HEADS", "HF_IGNORED",
           "HF_TRANSPOSED", "HF_BACKBONE_PREFIX", "HF_ARCHITECTURES", "HF_CONFIG_FIELDS",
           "HF_ACTIVATIONS", "FAMILY", "MODEL_TYPE", "HF_MODEL_TYPES", "FILE_DECIDES",
           "hf_to_tiezoo_name", "tiezoo_to_hf_name", "config_from_hf", "config_to_hf",
           "hf_heads", "hf_architecture", "hf_architecture_from_names", "hf_config_extra",
           "heads_from_names", "config_fields_from_shapes", "drop_unloaded"]

FAMILY = "roberta"          # tiezoo family (zoo.get_model name / config "family")
MODEL_TYPE = "roberta"      # Hugging Face config "model_type"

# (tiezoo, Hugging Face) for the backbone; prefixed with "roberta." in RobertaForMaskedLM.
HF_BACKBONE = _BERT_BACKBONE
HF_BACKBONE_PREFIX = "roberta."

# (tiezoo, Hugging Face) for the MLM head; never prefixed. The first Hugging Face name of a
# tiezoo name is the one written when converting to Hugging Face.
HF_HEADS = hf_mlm_head_pairs(
    "lm_head.dense", "lm_head.layer_norm", "lm_head.decoder.weight",   # tied to word_embed
    ("lm_head.bias", "lm_head.decoder.bias"),                          # same tensor in HF
)

# Non-parameter buffers that Hugging Face checkpoints may carry.
# The MLM bias has two names in Hugging Face files. Tied, they are one tensor (saved under
# the first). transformers 5 with tie_word_embeddings=False unties them too, and its forward
# pass reads the decoder's own bias: where a file holds both, that one is read, and an untied
# model writes both.
HF_READ_FIRST = ("lm_head.decoder.bias",)
HF_UNTIED_NAMES = {"mlm_decoder.decoder.bias": ("lm_head.decoder.bias",)}

HF_IGNORED = hf_ignored(HF_BACKBONE_PREFIX)

HF_TRANSPOSED = frozenset()

# Hugging Face architectures and the tiezoo heads they carry (zoo.get_model flags).
HF_ARCHITECTURES = {
    "RobertaModel": {"prefix": "", "use_mlm": False, "pooler": True},
    "RobertaForMaskedLM": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": True, "pooler": False},
}

# (tiezoo RobertaConfig field, Hugging Face RobertaConfig field)
HF_CONFIG_FIELDS = hf_config_fields(append=(("pad_token_id", "pad_token_id"),))
# Hugging Face hidden_act -> tiezoo activation (the same function)
HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh",
                  "gelu_pytorch_tanh": "gelu_tanh"}
_TO_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_tanh": "gelu_new"}

_HF_TO_TZ_BACKBONE = compile_pairs(HF_BACKBONE, 1, 0)
_HF_TO_TZ_HEADS = compile_pairs(HF_HEADS, 1, 0)
_TZ_TO_HF_BACKBONE = compile_pairs(HF_BACKBONE, 0, 1)
_TZ_TO_HF_HEADS = compile_pairs(HF_HEADS, 0, 1)
_HF_IGNORED = [re.compile(p + r"\Z") for p in HF_IGNORED]


def _check_architecture(architecture):
    return check_architecture(HF_ARCHITECTURES, architecture)


def hf_to_tiezoo_name(name, architecture=None, task=None):
    """The tiezoo name of a Hugging Face RoBERTa tensor; ``None`` for known non-parameters.

    Accepts names with or without the ``roberta.`` prefix (``architecture`` and ``task`` are
    accepted for the driver's interface; RoBERTa's names do not depend on them, and no task
    architecture is converted). ``KeyError`` names the tensor for anything else.
    """
    if architecture is not None:
        _check_architecture(architecture)
    return lookup_hf_name(name, _HF_IGNORED, _HF_TO_TZ_HEADS, _HF_TO_TZ_BACKBONE,
                          HF_BACKBONE_PREFIX, "RoBERTa")


def tiezoo_to_hf_name(name, architecture="RobertaForMaskedLM"):
    """The Hugging Face name of a tiezoo RoBERTa parameter for ``architecture``; ``None``
    for a name the architecture has no place for (the pooler of ``RobertaForMaskedLM``, the
    MLM head in ``RobertaModel``); ``KeyError`` for a name with no counterpart at all."""
    info = _check_architecture(architecture)
    out = lookup(_TZ_TO_HF_BACKBONE, name)
    if out is not None:
        if name.startswith("pooler.") and not info["pooler"]:
            return None
        return info["prefix"] + out
    out = lookup(_TZ_TO_HF_HEADS, name)
    if out is None:
        raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face RoBERTa counterpart")
    return out if info["use_mlm"] else None


def config_from_hf(hf_config):
    """A tiezoo RobertaConfig dict (``zoo.roberta.RobertaConfig.from_dict``) from a Hugging
    Face config dict."""
    if hf_config.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise ValueError(f"not a RoBERTa config: model_type {hf_config.get('model_type')!r}")
    act = hf_activation(hf_config, HF_ACTIVATIONS)
    check_absolute_positions(hf_config)
    out = fields_from_hf({"family": FAMILY}, hf_config, HF_CONFIG_FIELDS)
    out["activation"] = act
    return out


def config_to_hf(config, architecture="RobertaForMaskedLM"):
    """A Hugging Face ``config.json`` dict from a tiezoo RobertaConfig dict."""
    _check_architecture(architecture)
    return hf_config_dict(MODEL_TYPE, architecture, config, HF_CONFIG_FIELDS, _TO_HF_ACTIVATIONS)


# ----------------------------------------------------------------- converter table
# What ``zoo.convert`` asks of a family (see its module docstring); "heads" is the dict of
# ``zoo.get_model`` flags ``{"use_mlm", "task", "num_classes"}``.

HF_MODEL_TYPES = (MODEL_TYPE,)
# Config fields a checkpoint's tensors decide even when a preset name is given.
FILE_DECIDES = ("vocab_size", "type_vocab_size", "max_length")


def hf_heads(architecture, hf_config=None):
    """The ``get_model`` head flags of a Hugging Face ``architecture``."""
    info = _check_architecture(architecture)
    return {"use_mlm": info["use_mlm"], "task": None, "num_classes": None}


def hf_architecture(heads):
    """The Hugging Face architecture carrying these heads (a task head names an architecture
    this table does not convert, which the driver reports as unsupported)."""
    task = heads.get("task")
    if task is not None:
        return hf_task_architectures("Roberta")[task]
    return "RobertaForMaskedLM" if heads.get("use_mlm") else "RobertaModel"


def hf_architecture_from_names(names):
    """The architecture of a Hugging Face file whose config names none."""
    names = list(names)
    if any(n.startswith(("classifier.", "qa_outputs.")) for n in names):
        return None
    return hf_architecture({"use_mlm": any(n.startswith("lm_head.") for n in names)})


def hf_config_extra(heads, hf_config=None):
    return {}


_NO_NSP = "RoBERTa has no next-sentence-prediction head (nsp_classifier.*)"


def heads_from_names(shapes):
    """The ``get_model`` head flags that tiezoo tensor names -> shapes call for."""
    return heads_from_prefixes(shapes, {"use_mlm": "mlm_decoder."},
                               refused={"nsp_classifier.": _NO_NSP})
