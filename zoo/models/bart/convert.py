"""BART parameter-name correspondence: tiezoo <-> Hugging Face, as data; BART's converter
table for ``zoo.convert`` (the interface is documented in zoo/convert/__init__.py).

Hugging Face's ``shared.weight`` is tiezoo's ``word_embed.weight``; the two stacks'
``embed_tokens`` are ties to it (files written by transformers 5 leave them out, older ones
hold copies, which must be equal). ``final_logits_bias`` (1, vocab) is ``lm_head.bias``
(vocab,): :data:`HF_FLATTENED` tells the driver to reshape it on the way in and out.
``BartForConditionalGeneration`` prefixes the backbone with ``model.``.
"""
import re

from ...convert.names import (check_architecture, compile_pairs, fields_from_hf, fields_to_hf,
                              hf_activation, lookup, lookup_hf_name, name_pairs)
from .config import POSITION_OFFSET, BartConfig

__all__ = ["FAMILY", "MODEL_TYPE", "HF_MODEL_TYPES", "HF_BACKBONE", "HF_HEADS", "HF_IGNORED",
           "HF_TRANSPOSED", "HF_FLATTENED", "HF_UNTIED_ALIASES", "HF_BACKBONE_PREFIX", "HF_ARCHITECTURES",
           "HF_CONFIG_FIELDS", "FILE_DECIDES", "hf_to_tiezoo_name", "tiezoo_to_hf_name",
           "config_from_hf", "config_to_hf", "hf_heads", "hf_architecture",
           "hf_architecture_from_names", "hf_config_extra", "heads_from_names",
           "config_fields_from_shapes", "drop_unloaded", "describe_heads", "stack_pairs"]

FAMILY = "bart"
MODEL_TYPE = "bart"
HF_MODEL_TYPES = (MODEL_TYPE,)
# Config fields a checkpoint decides even when a preset is named: table sizes and the
# special-token ids of its vocabulary.
FILE_DECIDES = ("vocab_size", "max_length") + BartConfig.TOKEN_FIELDS


def stack_pairs(stack, layer_modules, extra=()):
    """``(tiezoo module, Hugging Face module, kind)`` for one stack's layers: the same
    module path on both sides except for ``layer_modules`` (tiezoo -> HF renames)."""
    return tuple((f"{stack}.layers.{{i}}.{ours}", f"{stack}.layers.{{i}}.{theirs}", kind)
                 for ours, (theirs, kind) in layer_modules.items()) + tuple(extra)


def _attention(ours, theirs):
    return {f"{ours}.{o}": (f"{theirs}.{t}", "dense")
            for o, t in (("query", "q_proj"), ("key", "k_proj"), ("value", "v_proj"),
                         ("proj", "out_proj"))}


_FFN = {"ffn_1": ("fc1", "dense"), "ffn_2": ("fc2", "dense"),
        "ffn_layer_norm": ("final_layer_norm", "norm")}
_EMBEDDINGS = tuple(
    pair for stack in ("encoder", "decoder") for pair in (
        (f"{stack}.embed_tokens", f"{stack}.embed_tokens", "embed"),
        (f"{stack}.position_embed", f"{stack}.embed_positions", "embed"),
        (f"{stack}.embed_layer_norm", f"{stack}.layernorm_embedding", "norm")))

# (tiezoo, Hugging Face) for the backbone; prefixed with "model." in the LM architecture.
HF_BACKBONE = name_pairs(
    (("word_embed", "shared", "embed"),) + _EMBEDDINGS
    + stack_pairs("encoder", {**_attention("attention", "self_attn"),
                              "attention_layer_norm": ("self_attn_layer_norm", "norm"), **_FFN})
    + stack_pairs("decoder", {**_attention("self_attention", "self_attn"),
                              "self_attention_layer_norm": ("self_attn_layer_norm", "norm"),
                              **_attention("cross_attention", "encoder_attn"),
                              "cross_attention_layer_norm": ("encoder_attn_layer_norm", "norm"),
                              **_FFN}))
HF_BACKBONE_PREFIX = "model."
# The LM head, never prefixed; its weight tied to word_embed unless the config unties it.
HF_HEADS = (("lm_head.weight", "lm_head.weight"), ("lm_head.bias", "final_logits_bias"))
# tiezoo names whose tensor is Hugging Face's flattened: (1, vocab) there, (vocab,) here.
HF_FLATTENED = frozenset({"lm_head.bias"})
HF_TRANSPOSED = frozenset()
# transformers 5 ties the stacks' tables to shared only when the config ties the LM head
# too: an untied folder carries them as copies (as files of older releases do)
HF_UNTIED_ALIASES = ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
# fairseq-era buffers some converted files carry
HF_IGNORED = (r"(model\.)?(encoder|decoder)\.version",)

HF_ARCHITECTURES = {
    "BartModel": {"prefix": "", "use_lm": False},
    "BartForConditionalGeneration": {"prefix": HF_BACKBONE_PREFIX, "use_lm": True},
}

# (tiezoo BartConfig field, Hugging Face BartConfig field)
HF_CONFIG_FIELDS = (
    ("vocab_size", "vocab_size"),
    ("units", "d_model"),
    ("hidden_size", "encoder_ffn_dim"),
    ("num_layers", "encoder_layers"),
    ("num_heads", "encoder_attention_heads"),
    ("max_length", "max_position_embeddings"),
    ("dropout", "dropout"),
    ("attention_dropout", "attention_dropout"),
    ("activation_dropout", "activation_dropout"),
    ("initializer_range", "init_std"),
    ("scale_embedding", "scale_embedding"),
    ("tie_word_embeddings", "tie_word_embeddings"),
    ("pad_token_id", "pad_token_id"),
    ("bos_token_id", "bos_token_id"),
    ("eos_token_id", "eos_token_id"),
    ("decoder_start_token_id", "decoder_start_token_id"),
)
# Hugging Face fields the decoder mirrors: tiezoo has one value for both stacks.
_MIRRORED = (("decoder_ffn_dim", "encoder_ffn_dim"),
             ("decoder_attention_heads", "encoder_attention_heads"))
_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh",
                   "gelu_pytorch_tanh": "gelu_tanh"}
_TO_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_tanh": "gelu_new"}
# Switches of older BartConfigs that change the function; tiezoo computes these values.
_HF_FIXED = {"normalize_before": False, "add_final_layer_norm": False,
             "static_position_embeddings": False, "normalize_embedding": True,
             "add_bias_logits": False}

_HF_TO_TZ_BACKBONE = compile_pairs(HF_BACKBONE, 1, 0)
_HF_TO_TZ_HEADS = compile_pairs(HF_HEADS, 1, 0)
_TZ_TO_HF_BACKBONE = compile_pairs(HF_BACKBONE, 0, 1)
_TZ_TO_HF_HEADS = compile_pairs(HF_HEADS, 0, 1)
_HF_IGNORED_RE = [re.compile(p + r"\Z") for p in HF_IGNORED]


def _arch_info(architecture):
    return check_architecture(HF_ARCHITECTURES, architecture)


def hf_to_tiezoo_name(name, architecture=None, task=None):
    """The tiezoo name of a Hugging Face BART tensor (with or without ``model.``); ``None``
    for known non-parameters; ``KeyError`` naming the tensor otherwise."""
    if architecture is not None:
        _arch_info(architecture)
    return lookup_hf_name(name, _HF_IGNORED_RE, _HF_TO_TZ_HEADS, _HF_TO_TZ_BACKBONE,
                          HF_BACKBONE_PREFIX, "BART")


def tiezoo_to_hf_name(name, architecture="BartForConditionalGeneration"):
    """The Hugging Face name of a tiezoo BART parameter for ``architecture``; ``None`` for
    the LM head in ``BartModel``; ``KeyError`` for a name with no counterpart."""
    info = _arch_info(architecture)
    out = lookup(_TZ_TO_HF_BACKBONE, name)
    if out is not None:
        return info["prefix"] + out
    out = lookup(_TZ_TO_HF_HEADS, name)
    if out is not None:
        return out if info["use_lm"] else None
    raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face BART counterpart")


def config_from_hf(hf_config):
    """A tiezoo BartConfig dict from a Hugging Face BART config dict."""
    if hf_config.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise ValueError(f"not a BART config: model_type {hf_config.get('model_type')!r}")
    for key, value in _HF_FIXED.items():
        if hf_config.get(key, value) != value:
            raise ValueError(f"{key}={hf_config[key]!r} is not supported (tiezoo's BART "
                             f"computes {key}={value})")
    for decoder_field, encoder_field in _MIRRORED:
        if decoder_field in hf_config and encoder_field in hf_config \
                and hf_config[decoder_field] != hf_config[encoder_field]:
            raise ValueError(f"{decoder_field}={hf_config[decoder_field]} differs from "
                             f"{encoder_field}={hf_config[encoder_field]}; tiezoo's BART has "
                             f"one value for both stacks")
    out = fields_from_hf({"family": FAMILY}, hf_config, HF_CONFIG_FIELDS)
    layers = hf_config.get("decoder_layers")
    if layers is not None and layers != out.get("num_layers", BartConfig.num_layers):
        out["num_decoder_layers"] = int(layers)
    out["activation"] = hf_activation({"hidden_act": hf_config.get("activation_function",
                                                                   "gelu")}, _HF_ACTIVATIONS)
    return out


def config_to_hf(config, architecture="BartForConditionalGeneration"):
    """A Hugging Face ``config.json`` dict from a tiezoo BartConfig dict."""
    _arch_info(architecture)
    out = {"model_type": MODEL_TYPE, "architectures": [architecture],
           "is_encoder_decoder": True}
    fields_to_hf(out, config, HF_CONFIG_FIELDS)
    for decoder_field, encoder_field in _MIRRORED:
        if encoder_field in out:
            out[decoder_field] = out[encoder_field]
    if "num_layers" in config:
        out["decoder_layers"] = config.get("num_decoder_layers") or config["num_layers"]
    if "activation" in config:
        out["activation_function"] = _TO_HF_ACTIVATIONS[config["activation"]]
    return out


def hf_heads(architecture, hf_config=None):
    """The ``get_model`` flags of a Hugging Face ``architecture``."""
    return {"use_lm": _arch_info(architecture)["use_lm"], "task": None, "num_classes": None}


def hf_architecture(heads):
    if heads.get("encoder_only"):
        return "BartEncoder"            # no such architecture: the driver says so
    return "BartForConditionalGeneration" if heads.get("use_lm") else "BartModel"


def hf_architecture_from_names(names):
    names = list(names)
    return hf_architecture({"use_lm": any(n in ("lm_head.weight", "final_logits_bias") or
                                          n.startswith(HF_BACKBONE_PREFIX) for n in names)})


def hf_config_extra(heads, hf_config=None):
    return {}


def heads_from_names(shapes):
    """The ``get_model`` flags that tiezoo tensor names -> shapes call for."""
    unknown = sorted(n for n in shapes if n.startswith("head."))
    if unknown:
        raise ValueError(f"BART has no task heads, but the file holds {unknown[0]!r}")
    return {"use_lm": any(n.startswith("lm_head.") for n in shapes),
            "encoder_only": not any(n.startswith("decoder.") for n in shapes),
            "task": None, "num_classes": None}


def config_fields_from_shapes(shapes):
    """Config fields a file without a stored config fixes by its tensor shapes."""
    out = {}
    if len(shapes.get("word_embed.weight", ())) >= 1:
        out["vocab_size"] = int(shapes["word_embed.weight"][0])
    if len(shapes.get("encoder.position_embed.weight", ())) >= 1:
        out["max_length"] = int(shapes["encoder.position_embed.weight"][0]) - POSITION_OFFSET
    return out


def drop_unloaded(block, missing):
    """A file without ``final_logits_bias`` (transformers accepts one) keeps the bias at
    its initial zeros; anything else the source lacks stays missing (an error)."""
    return [n for n in missing if n != "lm_head.bias"]


def describe_heads(block, heads):
    """The heads of a converted model, for the printed summary."""
    if heads.get("encoder_only"):
        return ["none (encoder only)"]
    if not heads.get("use_lm"):
        return []
    return ["LM" + (" (tied to word_embed)" if block.config.tie_word_embeddings else " (untied)")]
