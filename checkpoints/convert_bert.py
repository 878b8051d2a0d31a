"""BERT parameter-name correspondence: tiezoo <-> Hugging Face, GluonNLP 0.10 -> tiezoo.

The maps are data: one table of ``(tiezoo, other)`` name templates per framework, where
``{i}`` stands for a layer index. Only names move; no tensor needs a transpose, because
Hugging Face's ``nn.Linear.weight`` and MXNet's ``Dense.weight`` are both ``(out, in)``
and GluonNLP 0.10 keeps query/key/value as separate ``(units, units)`` matrices
(:data:`HF_TRANSPOSED` is empty for that reason and kept so that a converter can check).

Aliases: several source names may map to one tiezoo name (Hugging Face stores the MLM
bias as ``cls.predictions.bias`` and again as ``cls.predictions.decoder.bias``), and a tied
name maps to the tiezoo alias (``cls.predictions.decoder.weight`` and GluonNLP's
``decoder.3.weight`` -> ``mlm_decoder.decoder.weight``), which the model's
``@tied("mlm_decoder.decoder.weight", "word_embed.weight")`` resolves to the canonical name.

This module imports neither ``zoo`` nor ``transformers``: configs are plain dicts.
"""
import re

__all__ = ["HF_BACKBONE", "HF_HEADS", "HF_IGNORED", "HF_TRANSPOSED", "HF_BACKBONE_PREFIX",
           "HF_ARCHITECTURES", "GLUONNLP_NAMES", "HF_CONFIG_FIELDS",
           "hf_to_tiezoo_name", "tiezoo_to_hf_name", "gluonnlp_to_tiezoo_name",
           "config_from_hf", "config_to_hf"]

# (tiezoo, Hugging Face) for the backbone; Hugging Face prefixes these with "bert." in every
# architecture with a head (BertForPreTraining, BertForMaskedLM, ...).
HF_BACKBONE = (
    ("word_embed.weight", "embeddings.word_embeddings.weight"),
    ("token_type_embed.weight", "embeddings.token_type_embeddings.weight"),
    ("position_embed.weight", "embeddings.position_embeddings.weight"),
    ("embed_layer_norm.gamma", "embeddings.LayerNorm.weight"),
    ("embed_layer_norm.beta", "embeddings.LayerNorm.bias"),
    ("encoder.layers.{i}.attention.query.weight", "encoder.layer.{i}.attention.self.query.weight"),
    ("encoder.layers.{i}.attention.query.bias", "encoder.layer.{i}.attention.self.query.bias"),
    ("encoder.layers.{i}.attention.key.weight", "encoder.layer.{i}.attention.self.key.weight"),
    ("encoder.layers.{i}.attention.key.bias", "encoder.layer.{i}.attention.self.key.bias"),
    ("encoder.layers.{i}.attention.value.weight", "encoder.layer.{i}.attention.self.value.weight"),
    ("encoder.layers.{i}.attention.value.bias", "encoder.layer.{i}.attention.self.value.bias"),
    ("encoder.layers.{i}.attention_proj.weight", "encoder.layer.{i}.attention.output.dense.weight"),
    ("encoder.layers.{i}.attention_proj.bias", "encoder.layer.{i}.attention.output.dense.bias"),
    ("encoder.layers.{i}.attention_layer_norm.gamma",
     "encoder.layer.{i}.attention.output.LayerNorm.weight"),
    ("encoder.layers.{i}.attention_layer_norm.beta",
     "encoder.layer.{i}.attention.output.LayerNorm.bias"),
    ("encoder.layers.{i}.ffn_1.weight", "encoder.layer.{i}.intermediate.dense.weight"),
    ("encoder.layers.{i}.ffn_1.bias", "encoder.layer.{i}.intermediate.dense.bias"),
    ("encoder.layers.{i}.ffn_2.weight", "encoder.layer.{i}.output.dense.weight"),
    ("encoder.layers.{i}.ffn_2.bias", "encoder.layer.{i}.output.dense.bias"),
    ("encoder.layers.{i}.ffn_layer_norm.gamma", "encoder.layer.{i}.output.LayerNorm.weight"),
    ("encoder.layers.{i}.ffn_layer_norm.beta", "encoder.layer.{i}.output.LayerNorm.bias"),
    ("pooler.weight", "pooler.dense.weight"),
    ("pooler.bias", "pooler.dense.bias"),
)
HF_BACKBONE_PREFIX = "bert."

# (tiezoo, Hugging Face) for the pretraining heads; never prefixed. The first Hugging Face
# name of a tiezoo name is the one written when converting to Hugging Face.
HF_HEADS = (
    ("mlm_decoder.transform.weight", "cls.predictions.transform.dense.weight"),
    ("mlm_decoder.transform.bias", "cls.predictions.transform.dense.bias"),
    ("mlm_decoder.layer_norm.gamma", "cls.predictions.transform.LayerNorm.weight"),
    ("mlm_decoder.layer_norm.beta", "cls.predictions.transform.LayerNorm.bias"),
    ("mlm_decoder.decoder.weight", "cls.predictions.decoder.weight"),   # tied to word_embed
    ("mlm_decoder.decoder.bias", "cls.predictions.bias"),
    ("mlm_decoder.decoder.bias", "cls.predictions.decoder.bias"),       # same tensor in HF
    ("nsp_classifier.weight", "cls.seq_relationship.weight"),
    ("nsp_classifier.bias", "cls.seq_relationship.bias"),
)

# Non-parameter buffers that Hugging Face checkpoints may carry (int64 position ids).
HF_IGNORED = (
    r"(bert\.)?embeddings\.position_ids",
    r"(bert\.)?embeddings\.token_type_ids",
)

# tiezoo names whose tensor is the transpose of the Hugging Face one: none for BERT.
HF_TRANSPOSED = frozenset()

# Hugging Face architectures and the tiezoo heads they carry.
HF_ARCHITECTURES = {
    "BertModel": {"prefix": "", "use_mlm": False, "use_nsp": False, "pooler": True},
    "BertForPreTraining": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": True, "use_nsp": True,
                           "pooler": True},
    "BertForMaskedLM": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": True, "use_nsp": False,
                        "pooler": False},
}

# (tiezoo, GluonNLP 0.10 BERTModel) as ``_collect_params_with_prefix`` /
# ``save_parameters`` name them. GluonNLP's classifier is the NSP head and its decoder the
# MLM head (decoder.1 is the GELU, which has no parameters).
GLUONNLP_NAMES = (
    ("word_embed.weight", "word_embed.0.weight"),
    ("token_type_embed.weight", "token_type_embed.0.weight"),
    ("position_embed.weight", "encoder.position_weight"),
    ("embed_layer_norm.gamma", "encoder.layer_norm.gamma"),
    ("embed_layer_norm.beta", "encoder.layer_norm.beta"),
    ("encoder.layers.{i}.attention.query.weight",
     "encoder.transformer_cells.{i}.attention_cell.proj_query.weight"),
    ("encoder.layers.{i}.attention.query.bias",
     "encoder.transformer_cells.{i}.attention_cell.proj_query.bias"),
    ("encoder.layers.{i}.attention.key.weight",
     "encoder.transformer_cells.{i}.attention_cell.proj_key.weight"),
    ("encoder.layers.{i}.attention.key.bias",
     "encoder.transformer_cells.{i}.attention_cell.proj_key.bias"),
    ("encoder.layers.{i}.attention.value.weight",
     "encoder.transformer_cells.{i}.attention_cell.proj_value.weight"),
    ("encoder.layers.{i}.attention.value.bias",
     "encoder.transformer_cells.{i}.attention_cell.proj_value.bias"),
    ("encoder.layers.{i}.attention_proj.weight", "encoder.transformer_cells.{i}.proj.weight"),
    ("encoder.layers.{i}.attention_proj.bias", "encoder.transformer_cells.{i}.proj.bias"),
    ("encoder.layers.{i}.attention_layer_norm.gamma",
     "encoder.transformer_cells.{i}.layer_norm.gamma"),
    ("encoder.layers.{i}.attention_layer_norm.beta",
     "encoder.transformer_cells.{i}.layer_norm.beta"),
    ("encoder.layers.{i}.ffn_1.weight", "encoder.transformer_cells.{i}.ffn.ffn_1.weight"),
    ("encoder.layers.{i}.ffn_1.bias", "encoder.transformer_cells.{i}.ffn.ffn_1.bias"),
    ("encoder.layers.{i}.ffn_2.weight", "encoder.transformer_cells.{i}.ffn.ffn_2.weight"),
    ("encoder.layers.{i}.ffn_2.bias", "encoder.transformer_cells.{i}.ffn.ffn_2.bias"),
    ("encoder.layers.{i}.ffn_layer_norm.gamma",
     "encoder.transformer_cells.{i}.ffn.layer_norm.gamma"),
    ("encoder.layers.{i}.ffn_layer_norm.beta",
     "encoder.transformer_cells.{i}.ffn.layer_norm.beta"),
    ("pooler.weight", "pooler.weight"),
    ("pooler.bias", "pooler.bias"),
    ("nsp_classifier.weight", "classifier.weight"),
    ("nsp_classifier.bias", "classifier.bias"),
    ("mlm_decoder.transform.weight", "decoder.0.weight"),
    ("mlm_decoder.transform.bias", "decoder.0.bias"),
    ("mlm_decoder.layer_norm.gamma", "decoder.2.gamma"),
    ("mlm_decoder.layer_norm.beta", "decoder.2.beta"),
    ("mlm_decoder.decoder.weight", "decoder.3.weight"),     # tied to word_embed.0.weight
    ("mlm_decoder.decoder.bias", "decoder.3.bias"),
)

# (tiezoo BertConfig field, Hugging Face BertConfig field)
HF_CONFIG_FIELDS = (
    ("vocab_size", "vocab_size"),
    ("units", "hidden_size"),
    ("hidden_size", "intermediate_size"),
    ("num_layers", "num_hidden_layers"),
    ("num_heads", "num_attention_heads"),
    ("max_length", "max_position_embeddings"),
    ("type_vocab_size", "type_vocab_size"),
    ("dropout", "hidden_dropout_prob"),
    ("attention_dropout", "attention_probs_dropout_prob"),
    ("layer_norm_eps", "layer_norm_eps"),
    ("activation", "hidden_act"),
    ("initializer_range", "initializer_range"),
)
# Hugging Face ``hidden_act`` values that are the functions tiezoo names this way.
_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu"}


def _compile(pairs, src, dst):
    """[(regex over the src name, dst template)] from ``(tiezoo, other)`` template pairs."""
    out = []
    for pair in pairs:
        pattern = re.escape(pair[src]).replace(r"\{i\}", r"(?P<i>\d+)")
        out.append((re.compile(pattern + r"\Z"), pair[dst]))
    return out


def _lookup(rules, name):
    for regex, template in rules:
        m = regex.match(name)
        if m:
            return template.replace("{i}", m.group("i")) if "{i}" in template else template
    return None


_HF_TO_TZ_BACKBONE = _compile(HF_BACKBONE, 1, 0)
_HF_TO_TZ_HEADS = _compile(HF_HEADS, 1, 0)
_TZ_TO_HF_BACKBONE = _compile(HF_BACKBONE, 0, 1)
_TZ_TO_HF_HEADS = _compile(HF_HEADS, 0, 1)   # first match wins: cls.predictions.bias
_GLUONNLP_TO_TZ = _compile(GLUONNLP_NAMES, 1, 0)
_HF_IGNORED = [re.compile(p + r"\Z") for p in HF_IGNORED]


def hf_to_tiezoo_name(name):
    """The tiezoo name of a Hugging Face BERT tensor name; ``None`` for known non-parameters.

    Accepts names with or without the ``bert.`` prefix. Raises ``KeyError`` naming the
    tensor for anything else (another architecture's tensors must not pass silently).
    """
    if any(r.match(name) for r in _HF_IGNORED):
        return None
    out = _lookup(_HF_TO_TZ_HEADS, name)
    if out is None:
        bare = name[len(HF_BACKBONE_PREFIX):] if name.startswith(HF_BACKBONE_PREFIX) else name
        out = _lookup(_HF_TO_TZ_BACKBONE, bare)
    if out is None:
        raise KeyError(f"Hugging Face tensor {name!r} has no tiezoo BERT counterpart")
    return out


def tiezoo_to_hf_name(name, architecture="BertForPreTraining"):
    """The Hugging Face name of a tiezoo BERT parameter for ``architecture``.

    Backbone names get the ``bert.`` prefix in architectures with heads; head names are
    those of ``BertForPreTraining``. Raises ``KeyError`` for names with no counterpart.
    """
    try:
        prefix = HF_ARCHITECTURES[architecture]["prefix"]
    except KeyError:
        raise KeyError(f"unsupported Hugging Face architecture {architecture!r}; supported: "
                       f"{', '.join(HF_ARCHITECTURES)}") from None
    out = _lookup(_TZ_TO_HF_BACKBONE, name)
    if out is not None:
        return prefix + out
    out = _lookup(_TZ_TO_HF_HEADS, name)
    if out is None:
        raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face BERT counterpart")
    return out


def gluonnlp_to_tiezoo_name(name):
    """The tiezoo name of a GluonNLP 0.10 ``BERTModel`` parameter; ``KeyError`` otherwise."""
    out = _lookup(_GLUONNLP_TO_TZ, name)
    if out is None:
        raise KeyError(f"GluonNLP tensor {name!r} has no tiezoo BERT counterpart")
    return out


def config_from_hf(hf_config):
    """A tiezoo BertConfig dict (``zoo.BertConfig.from_dict``) from a Hugging Face config dict."""
    if hf_config.get("model_type", "bert") != "bert":
        raise ValueError(f"not a BERT config: model_type {hf_config.get('model_type')!r}")
    act = hf_config.get("hidden_act", "gelu")
    if act not in _HF_ACTIVATIONS:
        raise ValueError(f"Hugging Face hidden_act {act!r} is not supported; supported: "
                         f"{sorted(_HF_ACTIVATIONS)}")
    pet = hf_config.get("position_embedding_type", "absolute")
    if pet != "absolute":
        raise ValueError(f"position_embedding_type {pet!r} is not supported (only 'absolute')")
    out = {"family": "bert"}
    for ours, theirs in HF_CONFIG_FIELDS:
        if theirs in hf_config:
            out[ours] = hf_config[theirs]
    out["activation"] = _HF_ACTIVATIONS[act]
    return out


def config_to_hf(config, architecture="BertForPreTraining"):
    """A Hugging Face ``config.json`` dict from a tiezoo BertConfig dict."""
    out = {"model_type": "bert", "architectures": [architecture],
           "position_embedding_type": "absolute"}
    for ours, theirs in HF_CONFIG_FIELDS:
        if ours in config:
            out[theirs] = config[ours]
    return out
