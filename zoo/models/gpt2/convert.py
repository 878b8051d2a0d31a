"""GPT-2 parameter-name correspondence: tiezoo <-> Hugging Face, as data; GPT-2's converter
table for ``zoo.convert`` (the interface is documented in zoo/convert/__init__.py).

Hugging Face's GPT-2 keeps its projections in ``Conv1D`` modules whose weight is stored
``(in, out)``, the transpose of a ``Dense``/``nn.Linear`` weight: :data:`HF_TRANSPOSED`
names those tiezoo parameters and the driver transposes them on the way in and out. The
fused ``c_attn`` keeps its q|k|v row order in tiezoo, so nothing else changes. The LM head
(an ``nn.Linear``) is ``lm_head.weight``, tied to ``wte.weight`` unless the config unties
it; ``GPT2LMHeadModel`` files written by transformers leave it out when tied.
"""
import re

from ...convert.names import (check_architecture, compile_pairs, fields_from_hf, fields_to_hf,
                              hf_activation, lookup, lookup_hf_name, name_pairs)

__all__ = ["FAMILY", "MODEL_TYPE", "HF_MODEL_TYPES", "HF_BACKBONE", "HF_HEADS", "HF_IGNORED",
           "HF_TRANSPOSED", "HF_BACKBONE_PREFIX", "HF_ARCHITECTURES", "HF_CONFIG_FIELDS",
           "FILE_DECIDES", "hf_to_tiezoo_name", "tiezoo_to_hf_name", "config_from_hf",
           "config_to_hf", "hf_heads", "hf_architecture", "hf_architecture_from_names",
           "hf_config_extra", "heads_from_names", "config_fields_from_shapes", "drop_unloaded",
           "describe_heads"]

FAMILY = "gpt2"
MODEL_TYPE = "gpt2"
HF_MODEL_TYPES = (MODEL_TYPE,)
# Config fields a checkpoint's tensors decide even when a preset name is given.
FILE_DECIDES = ("vocab_size", "max_length")

# (tiezoo, Hugging Face) for the backbone; prefixed with "transformer." in GPT2LMHeadModel.
HF_BACKBONE = name_pairs((
    ("word_embed", "wte", "embed"),
    ("position_embed", "wpe", "embed"),
    ("layers.{i}.attention_layer_norm", "h.{i}.ln_1", "norm"),
    ("layers.{i}.attention.qkv", "h.{i}.attn.c_attn", "dense"),
    ("layers.{i}.attention.proj", "h.{i}.attn.c_proj", "dense"),
    ("layers.{i}.ffn_layer_norm", "h.{i}.ln_2", "norm"),
    ("layers.{i}.ffn_1", "h.{i}.mlp.c_fc", "dense"),
    ("layers.{i}.ffn_2", "h.{i}.mlp.c_proj", "dense"),
    ("final_layer_norm", "ln_f", "norm"),
))
HF_BACKBONE_PREFIX = "transformer."
# The LM head, never prefixed; tied to word_embed unless the config unties it.
HF_HEADS = (("lm_head.weight", "lm_head.weight"),)

# tiezoo names whose tensor is the transpose of the Hugging Face one (Conv1D weights).
HF_TRANSPOSED = frozenset({"layers.{i}.attention.qkv.weight", "layers.{i}.attention.proj.weight",
                           "layers.{i}.ffn_1.weight", "layers.{i}.ffn_2.weight"})

# Non-parameter buffers of older GPT-2 files (the causal mask and its fill value).
HF_IGNORED = (r"(transformer\.)?h\.\d+\.attn\.(masked_)?bias",)

HF_ARCHITECTURES = {
    "GPT2Model": {"prefix": "", "use_lm": False},
    "GPT2LMHeadModel": {"prefix": HF_BACKBONE_PREFIX, "use_lm": True},
}

# (tiezoo GPT2Config field, Hugging Face GPT2Config field)
HF_CONFIG_FIELDS = (
    ("vocab_size", "vocab_size"),
    ("units", "n_embd"),
    ("hidden_size", "n_inner"),
    ("num_layers", "n_layer"),
    ("num_heads", "n_head"),
    ("max_length", "n_positions"),
    ("dropout", "resid_pdrop"),
    ("embed_dropout", "embd_pdrop"),
    ("attention_dropout", "attn_pdrop"),
    ("layer_norm_eps", "layer_norm_epsilon"),
    ("initializer_range", "initializer_range"),
    ("tie_word_embeddings", "tie_word_embeddings"),
)
# Hugging Face activation_function -> tiezoo activation (the same function), and back.
HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                  "gelu_fast": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
_TO_HF_ACTIVATIONS = {"gelu_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}
# GPT2Config switches that change the function computed; tiezoo has their defaults only.
_HF_FIXED = {"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
             "reorder_and_upcast_attn": False, "add_cross_attention": False}

_HF_TO_TZ_BACKBONE = compile_pairs(HF_BACKBONE, 1, 0)
_HF_TO_TZ_HEADS = compile_pairs(HF_HEADS, 1, 0)
_TZ_TO_HF_BACKBONE = compile_pairs(HF_BACKBONE, 0, 1)
_HF_IGNORED_RE = [re.compile(p + r"\Z") for p in HF_IGNORED]


def _arch_info(architecture):
    return check_architecture(HF_ARCHITECTURES, architecture)


def hf_to_tiezoo_name(name, architecture=None, task=None):
    """The tiezoo name of a Hugging Face GPT-2 tensor (with or without ``transformer.``);
    ``None`` for known non-parameters; ``KeyError`` naming the tensor otherwise."""
    if architecture is not None:
        _arch_info(architecture)
    return lookup_hf_name(name, _HF_IGNORED_RE, _HF_TO_TZ_HEADS, _HF_TO_TZ_BACKBONE,
                          HF_BACKBONE_PREFIX, "GPT-2")


def tiezoo_to_hf_name(name, architecture="GPT2LMHeadModel"):
    """The Hugging Face name of a tiezoo GPT-2 parameter for ``architecture``; ``None`` for
    the LM head in ``GPT2Model``; ``KeyError`` for a name with no counterpart."""
    info = _arch_info(architecture)
    out = lookup(_TZ_TO_HF_BACKBONE, name)
    if out is not None:
        return info["prefix"] + out
    if name == "lm_head.weight":
        return name if info["use_lm"] else None
    raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face GPT-2 counterpart")


def config_from_hf(hf_config):
    """A tiezoo GPT2Config dict from a Hugging Face GPT-2 config dict."""
    if hf_config.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise ValueError(f"not a GPT-2 config: model_type {hf_config.get('model_type')!r}")
    for key, value in _HF_FIXED.items():
        if hf_config.get(key, value) != value:
            raise ValueError(f"{key}={hf_config[key]!r} is not supported (tiezoo's GPT-2 "
                             f"computes {key}={value})")
    out = fields_from_hf({"family": FAMILY}, hf_config, HF_CONFIG_FIELDS)
    if "hidden_size" not in out:                 # n_inner null: 4 x n_embd
        out["hidden_size"] = 4 * int(hf_config.get("n_embd", 768))
    out["activation"] = hf_activation(hf_config | {"hidden_act": hf_config.get(
        "activation_function", "gelu_new")}, HF_ACTIVATIONS)
    return out


def config_to_hf(config, architecture="GPT2LMHeadModel"):
    """A Hugging Face ``config.json`` dict from a tiezoo GPT2Config dict."""
    _arch_info(architecture)
    out = {"model_type": MODEL_TYPE, "architectures": [architecture], **_HF_FIXED,
           "tie_word_embeddings": bool(config.get("tie_word_embeddings", True))}
    fields_to_hf(out, config, HF_CONFIG_FIELDS)
    if "activation" in config:
        out["activation_function"] = _TO_HF_ACTIVATIONS[config["activation"]]
    return out


def hf_heads(architecture, hf_config=None):
    """The ``get_model`` flags of a Hugging Face ``architecture``."""
    return {"use_lm": _arch_info(architecture)["use_lm"], "task": None, "num_classes": None}


def hf_architecture(heads):
    if heads.get("task") is not None:
        return f"GPT2For{heads['task']}"          # not converted: the driver says so
    return "GPT2LMHeadModel" if heads.get("use_lm") else "GPT2Model"


def hf_architecture_from_names(names):
    names = list(names)
    return hf_architecture({"use_lm": "lm_head.weight" in names or
                            any(n.startswith(HF_BACKBONE_PREFIX) for n in names)})


def hf_config_extra(heads, hf_config=None):
    return {}


def heads_from_names(shapes):
    """The ``get_model`` flags that tiezoo tensor names -> shapes call for."""
    unknown = sorted(n for n in shapes if n.startswith("head."))
    if unknown:
        raise ValueError(f"GPT-2 has no task heads, but the file holds {unknown[0]!r}")
    return {"use_lm": "lm_head.weight" in shapes, "task": None, "num_classes": None}


def config_fields_from_shapes(shapes):
    """Config fields a file without a stored config fixes by its tensor shapes."""
    out = {}
    for field_, name in (("vocab_size", "word_embed.weight"),
                         ("max_length", "position_embed.weight")):
        if len(shapes.get(name, ())) >= 1:
            out[field_] = int(shapes[name][0])
    return out


def drop_unloaded(block, missing):
    """GPT-2 has no optional blocks: whatever the source lacks stays missing (an error)."""
    return list(missing)


def describe_heads(block, heads):
    """The heads of a converted model, for the printed summary."""
    if not heads.get("use_lm"):
        return []
    return ["LM" + (" (tied to word_embed)" if block.config.tie_word_embeddings else " (untied)")]
