"""T5 parameter-name correspondence: tiezoo <-> Hugging Face, as data; T5's converter table
for ``zoo.convert`` (the interface is documented in zoo/convert/__init__.py).

Hugging Face's ``shared.weight`` is tiezoo's ``word_embed.weight``; the stacks'
``embed_tokens`` are ties to it (transformers 5 leaves them out of its files, older releases
wrote copies). The relative position bias lives in Hugging Face's first block of each stack
and in tiezoo's stack itself (``{stack}.position_bias``), since every layer reads it.

The LM head: T5 ties and scales it, T5 v1.1 keeps a separate ``lm_head.weight`` and does not
scale. Older configs said both with ``tie_word_embeddings: false``; transformers 5 writes
``tie_word_embeddings: true`` always, says the scaling with ``scale_decoder_outputs`` and
keeps the untied head in the file: the conversion driver unties a tie declared with
``when=`` where the file holds both tensors with different values.
"""
import json
import re

from ...convert.names import check_architecture, compile_pairs, fields_from_hf, fields_to_hf, lookup
from .config import T5Config

__all__ = ["FAMILY", "MODEL_TYPE", "HF_MODEL_TYPES", "HF_BACKBONE", "HF_HEADS", "HF_IGNORED",
           "HF_TRANSPOSED", "HF_ARCHITECTURES", "HF_CONFIG_FIELDS", "FILE_DECIDES",
           "hf_to_tiezoo_name", "tiezoo_to_hf_name", "config_from_hf", "config_to_hf",
           "hf_heads", "hf_architecture", "hf_architecture_from_names", "hf_config_extra",
           "heads_from_names", "config_fields_from_shapes", "drop_unloaded", "describe_heads",
           "check_tokenizer"]

FAMILY = "t5"
MODEL_TYPE = "t5"
HF_MODEL_TYPES = (MODEL_TYPE,)
FILE_DECIDES = ("vocab_size",) + T5Config.TOKEN_FIELDS


def _layer_pairs(stack, sublayers):
    """(tiezoo, HF) weight names of one stack's layers; ``sublayers``: HF sublayer index ->
    (tiezoo attention name or None, HF attention module or None)."""
    pairs = []
    for index, (ours, theirs) in sublayers.items():
        hf = f"{stack}.block.{{i}}.layer.{index}"
        tz = f"{stack}.layers.{{i}}"
        if ours is None:                                       # the feed-forward sublayer
            for o, t in (("ffn_1", "wi"), ("ffn_gate", "wi_0"), ("ffn_linear", "wi_1"),
                         ("ffn_2", "wo")):
                pairs.append((f"{tz}.{o}.weight", f"{hf}.DenseReluDense.{t}.weight"))
            pairs.append((f"{tz}.ffn_layer_norm.gamma", f"{hf}.layer_norm.weight"))
            continue
        for o, t in (("query", "q"), ("key", "k"), ("value", "v"), ("proj", "o")):
            pairs.append((f"{tz}.{ours}.{o}.weight", f"{hf}.{theirs}.{t}.weight"))
        pairs.append((f"{tz}.{ours}_layer_norm.gamma", f"{hf}.layer_norm.weight"))
    return pairs


HF_BACKBONE = tuple(
    [("word_embed.weight", "shared.weight")]
    + [pair for stack in ("encoder", "decoder") for pair in (
        (f"{stack}.embed_tokens.weight", f"{stack}.embed_tokens.weight"),
        (f"{stack}.position_bias.weight",
         f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
        (f"{stack}.final_layer_norm.gamma", f"{stack}.final_layer_norm.weight"))]
    + _layer_pairs("encoder", {0: ("attention", "SelfAttention"), 1: (None, None)})
    + _layer_pairs("decoder", {0: ("self_attention", "SelfAttention"),
                               1: ("cross_attention", "EncDecAttention"), 2: (None, None)}))
HF_HEADS = (("lm_head.weight", "lm_head.weight"),)
HF_TRANSPOSED = frozenset()
# Older files hold a relative bias in the first cross-attention too, which T5 never reads.
HF_IGNORED = (r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias\.weight",)

HF_ARCHITECTURES = {
    "T5Model": {"use_lm": False, "encoder_only": False},
    "T5ForConditionalGeneration": {"use_lm": True, "encoder_only": False},
    "T5EncoderModel": {"use_lm": False, "encoder_only": True},
}

# (tiezoo T5Config field, Hugging Face T5Config field)
HF_CONFIG_FIELDS = (
    ("vocab_size", "vocab_size"),
    ("units", "d_model"),
    ("hidden_size", "d_ff"),
    ("head_dim", "d_kv"),
    ("num_layers", "num_layers"),
    ("num_heads", "num_heads"),
    ("relative_attention_num_buckets", "relative_attention_num_buckets"),
    ("relative_attention_max_distance", "relative_attention_max_distance"),
    ("max_length", "n_positions"),
    ("dropout", "dropout_rate"),
    ("attention_dropout", "dropout_rate"),
    ("layer_norm_eps", "layer_norm_epsilon"),
    ("initializer_factor", "initializer_factor"),
    ("pad_token_id", "pad_token_id"),
    ("eos_token_id", "eos_token_id"),
    ("decoder_start_token_id", "decoder_start_token_id"),
)
# Hugging Face activation names (the last part of feed_forward_proj) -> tiezoo's
_HF_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "gelu_new": "gelu_tanh",
                   "gelu_pytorch_tanh": "gelu_tanh"}

_HF_TO_TZ = compile_pairs(HF_BACKBONE + HF_HEADS, 1, 0)
_TZ_TO_HF = compile_pairs(HF_BACKBONE + HF_HEADS, 0, 1)
_HF_IGNORED_RE = [re.compile(p + r"\Z") for p in HF_IGNORED]


def _arch_info(architecture):
    return check_architecture(HF_ARCHITECTURES, architecture)


def hf_to_tiezoo_name(name, architecture=None, task=None):
    """The tiezoo name of a Hugging Face T5 tensor; ``None`` for known non-parameters;
    ``KeyError`` naming the tensor otherwise."""
    if architecture is not None:
        _arch_info(architecture)
    if any(r.match(name) for r in _HF_IGNORED_RE):
        return None
    out = lookup(_HF_TO_TZ, name)
    if out is None:
        raise KeyError(f"Hugging Face tensor {name!r} has no tiezoo T5 counterpart")
    return out


def tiezoo_to_hf_name(name, architecture="T5ForConditionalGeneration"):
    """The Hugging Face name of a tiezoo T5 parameter for ``architecture``; ``None`` for what
    the architecture has no place for (the head in ``T5Model``, the decoder in
    ``T5EncoderModel``); ``KeyError`` for a name with no counterpart."""
    info = _arch_info(architecture)
    out = lookup(_TZ_TO_HF, name)
    if out is None:
        raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face T5 counterpart")
    if (name.startswith("lm_head.") and not info["use_lm"]) or \
            (name.startswith("decoder.") and info["encoder_only"]):
        return None
    return out


def _feed_forward(hf_config):
    """(activation, gated) of a Hugging Face ``feed_forward_proj``."""
    proj = hf_config.get("feed_forward_proj", "relu")
    parts = str(proj).split("-")
    if len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
        raise ValueError(f"feed_forward_proj {proj!r} is not 'ACT' or 'gated-ACT'")
    # transformers reads "gated-gelu" as the tanh GELU (T5 v1.1 was trained with it)
    act = "gelu_new" if proj == "gated-gelu" else parts[-1]
    if act not in _HF_ACTIVATIONS:
        raise ValueError(f"feed_forward_proj {proj!r}: activation {act!r} is not supported; "
                         f"supported: {sorted(_HF_ACTIVATIONS)}")
    return _HF_ACTIVATIONS[act], len(parts) == 2


def config_from_hf(hf_config):
    """A tiezoo T5Config dict from a Hugging Face T5 config dict (either convention for the
    head; the tensors may still untie it, see the module docstring)."""
    if hf_config.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise ValueError(f"not a T5 config: model_type {hf_config.get('model_type')!r}")
    out = fields_from_hf({"family": FAMILY}, hf_config, HF_CONFIG_FIELDS)
    layers = hf_config.get("num_decoder_layers")
    if layers is not None and layers != out.get("num_layers", T5Config.num_layers):
        out["num_decoder_layers"] = int(layers)
    out["activation"], out["gated_activation"] = _feed_forward(hf_config)
    tied = hf_config.get("tie_word_embeddings", True) is not False
    out["tie_word_embeddings"] = tied
    out["scale_decoder_outputs"] = bool(hf_config.get("scale_decoder_outputs", tied))
    if hf_config.get("decoder_start_token_id") is None:
        out["decoder_start_token_id"] = out.get("pad_token_id", T5Config.pad_token_id)
    return out


def config_to_hf(config, architecture="T5ForConditionalGeneration"):
    """A Hugging Face ``config.json`` dict from a tiezoo T5Config dict: the head said as
    older releases say it (``tie_word_embeddings``) and as transformers 5 does
    (``scale_decoder_outputs``), so that either reads it right."""
    _arch_info(architecture)
    out = {"model_type": MODEL_TYPE, "architectures": [architecture],
           "is_encoder_decoder": True}
    fields_to_hf(out, config, HF_CONFIG_FIELDS)
    if "num_layers" in config:
        out["num_decoder_layers"] = config.get("num_decoder_layers") or config["num_layers"]
    if "activation" in config:
        act = {v: k for k, v in _HF_ACTIVATIONS.items() if k != "gelu_pytorch_tanh"}[
            config["activation"]]
        if config.get("gated_activation"):
            if act == "gelu":
                raise ValueError("a gated exact GELU has no Hugging Face feed_forward_proj "
                                 "('gated-gelu' means the tanh GELU there)")
            out["feed_forward_proj"] = "gated-gelu" if act == "gelu_new" else f"gated-{act}"
        else:
            out["feed_forward_proj"] = act
    out["tie_word_embeddings"] = bool(config.get("tie_word_embeddings", True))
    out["scale_decoder_outputs"] = bool(config.get("scale_decoder_outputs", True))
    return out


def hf_heads(architecture, hf_config=None):
    """The ``get_model`` flags of a Hugging Face ``architecture``."""
    info = _arch_info(architecture)
    return {"use_lm": info["use_lm"], "encoder_only": info["encoder_only"], "task": None,
            "num_classes": None}


def hf_architecture(heads):
    if heads.get("encoder_only"):
        return "T5EncoderModel"
    return "T5ForConditionalGeneration" if heads.get("use_lm") else "T5Model"


def hf_architecture_from_names(names):
    names = list(names)
    return hf_architecture({"use_lm": "lm_head.weight" in names,
                            "encoder_only": not any(n.startswith("decoder.") for n in names)})


def hf_config_extra(heads, hf_config=None):
    return {}


def heads_from_names(shapes):
    """The ``get_model`` flags that tiezoo tensor names -> shapes call for."""
    unknown = sorted(n for n in shapes if n.startswith("head."))
    if unknown:
        raise ValueError(f"T5 has no task heads, but the file holds {unknown[0]!r}")
    return {"use_lm": "lm_head.weight" in shapes,
            "encoder_only": not any(n.startswith("decoder.") for n in shapes),
            "task": None, "num_classes": None}


def config_fields_from_shapes(shapes):
    """Config fields a file without a stored config fixes by its tensor shapes."""
    if len(shapes.get("word_embed.weight", ())) >= 1:
        return {"vocab_size": int(shapes["word_embed.weight"][0])}
    return {}


def drop_unloaded(block, missing):
    """T5 has no optional blocks: whatever the source lacks stays missing (an error)."""
    return list(missing)


def describe_heads(block, heads):
    """The heads of a converted model, for the printed summary."""
    if heads.get("encoder_only"):
        return ["none (encoder only)"]
    if not heads.get("use_lm"):
        return []
    c = block.config
    tie = "tied to word_embed" if c.tie_word_embeddings else "untied"
    return [f"LM ({tie}, {'scaled' if c.scale_decoder_outputs else 'unscaled'})"]


# T5's embedding is its SentencePiece vocabulary and sentinels, padded up to a multiple of 128
_PADDING = 128


def check_tokenizer(config, assets):
    """``ValueError`` when the folder's ``spiece.model`` (plus its ``extra_ids`` sentinels,
    100 unless tokenizer_config.json says otherwise) is not the vocabulary the model was
    trained with: more ids than the embedding has rows (those tokens have no embedding),
    or fewer than the embedding less its padding (the sentinels, counted from the end of
    the tokenizer's vocabulary, would not be the model's)."""
    model = assets.get("tokenizer/spiece.model")
    if model is None:
        return
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor()
    try:
        sp.LoadFromSerializedProto(bytes(model))
    except Exception as e:  # sentencepiece raises RuntimeError/OSError with terse text
        raise ValueError(f"spiece.model is not a valid SentencePiece model ({e})") from None
    extra = 100
    raw = assets.get("tokenizer/tokenizer_config.json")
    if raw is not None:
        try:
            extra = int(json.loads(raw).get("extra_ids", extra))
        except (ValueError, TypeError, AttributeError):
            pass
    pieces = sp.get_piece_size()
    if sp.piece_to_id("<extra_id_0>") != sp.unk_id():
        extra = 0                                # the model file holds the sentinels itself
    ids, rows = pieces + extra, config.vocab_size
    if not rows - _PADDING < ids <= rows:
        raise ValueError(
            f"the vocabulary does not match the SentencePiece model: spiece.model gives {ids} "
            f"token ids ({pieces} pieces + {extra} sentinels) but the model's embedding has "
            f"{rows} rows (a T5 embedding is its tokenizer's ids padded to a multiple of "
            f"{_PADDING}); put the spiece.model the model was trained with in the folder")
