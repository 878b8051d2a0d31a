"""Converter-table helpers shared by the BERT, RoBERTa, ALBERT and ELECTRA tables
(``zoo.convert``'s interface; ``checkpoints/convert_bert.py`` is the reference implementation).

The name tables are built here from module-level correspondences (tiezoo module, other
module, kind), so that a family module states only the names that differ: a ``"dense"``
module has ``weight``/``bias`` everywhere, a ``"norm"`` module ``gamma``/``beta`` in tiezoo
(and GluonNLP 0.10) and ``weight``/``bias`` in Hugging Face, an ``"embed"`` table ``weight``.
"""
import re
from ._mx_compat import remove_child

__all__ = ["task_from_names", "config_fields_from_shapes", "drop_unloaded",
           "ENCODER_LAYER_MODULES", "HF_EMBEDDING_MODULES", "HF_PARAMS", "GLUONNLP_PARAMS",
           "name_pairs", "encoder_layer_pairs", "hf_mlm_head_pairs", "hf_ignored",
           "hf_config_fields", "check_architecture", "hf_activation",
           "check_absolute_positions", "fields_from_hf", "fields_to_hf",
           "hf_task_architectures", "lookup_hf_name"]

# Parameter names of each kind of module, per framework.
_TIEZOO_PARAMS = {"dense": ("weight", "bias"), "norm": ("gamma", "beta"), "embed": ("weight",)}
HF_PARAMS = {"dense": ("weight", "bias"), "norm": ("weight", "bias"), "embed": ("weight",)}
GLUONNLP_PARAMS = {"dense": ("weight", "bias"), "norm": ("gamma", "beta"), "embed": ("weight",)}

# tiezoo's encoder layer (zoo.bert.BertEncoder), in table order: (module, kind).
ENCODER_LAYER_MODULES = (
    ("attention.query", "dense"), ("attention.key", "dense"), ("attention.value", "dense"),
    ("attention_proj", "dense"), ("attention_layer_norm", "norm"),
    ("ffn_1", "dense"), ("ffn_2", "dense"), ("ffn_layer_norm", "norm"),
)

# (tiezoo, Hugging Face, kind) for the embeddings of BERT-shaped Hugging Face models.
HF_EMBEDDING_MODULES = (
    ("word_embed", "embeddings.word_embeddings", "embed"),
    ("token_type_embed", "embeddings.token_type_embeddings", "embed"),
    ("position_embed", "embeddings.position_embeddings", "embed"),
    ("embed_layer_norm", "embeddings.LayerNorm", "norm"),
)


def name_pairs(modules, params=HF_PARAMS):
    """``(tiezoo, other)`` parameter-name pairs from ``(tiezoo module, other module, kind)``."""
    return tuple((f"{tz}.{ours}", f"{other}.{theirs}") for tz, other, kind in modules
                 for ours, theirs in zip(_TIEZOO_PARAMS[kind], params[kind]))


def encoder_layer_pairs(tiezoo_layer, other_layer, modules, params=HF_PARAMS):
    """The name pairs of one encoder layer: ``modules`` maps each tiezoo module of
    :data:`ENCODER_LAYER_MODULES` to its name under ``other_layer``."""
    return name_pairs(((tiezoo_layer + m, other_layer + modules[m], kind)
                       for m, kind in ENCODER_LAYER_MODULES), params)


def hf_mlm_head_pairs(transform, layer_norm, decoder_weight, biases):
    """The name pairs of an MLM head (``heads.MLMHead``): the Hugging Face transform Dense,
    LayerNorm, decoder weight (tied to ``word_embed``) and the names of the decoder bias,
    the first of which is written (Hugging Face keeps one tensor under several names)."""
    return name_pairs((("mlm_decoder.transform", transform, "dense"),
                       ("mlm_decoder.layer_norm", layer_norm, "norm"))) + \
        (("mlm_decoder.decoder.weight", decoder_weight),) + \
        tuple(("mlm_decoder.decoder.bias", b) for b in biases)


def hf_ignored(prefix):
    """The non-parameter buffers (int64 position / token type ids) a Hugging Face file of a
    BERT-shaped model under ``prefix`` may carry, as regexes."""
    p = re.escape(prefix)
    return (rf"({p})?embeddings\.position_ids", rf"({p})?embeddings\.token_type_ids")


# (tiezoo config field, Hugging Face config field) common to the BERT-shaped families.
_HF_CONFIG_FIELDS = (
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
    ("initializer_range", "initializer_range"),
)


def hf_config_fields(after=None, append=()):
    """The common config-field pairs, with ``after[field]`` pairs inserted after ``field``
    and ``append`` at the end (the order is that of a written ``config.json``)."""
    after = after or {}
    out = []
    for pair in _HF_CONFIG_FIELDS:
        out.append(pair)
        out.extend(after.get(pair[0], ()))
    return tuple(out) + tuple(append)


def check_architecture(architectures, architecture):
    """``architectures[architecture]``; ``KeyError`` listing the supported ones otherwise."""
    if architecture not in architectures:
        raise KeyError(f"unsupported Hugging Face architecture {architecture!r}; supported: "
                       f"{', '.join(architectures)}")
    return architectures[architecture]


def hf_activation(hf_config, activations, default="gelu"):
    """The tiezoo activation of a Hugging Face config's ``hidden_act``."""
    act = hf_config.get("hidden_act", default)
    if act not in activations:
        raise ValueError(f"Hugging Face hidden_act {act!r} is not supported; supported: "
                         f"{sorted(activations)}")
    return activations[act]


def check_absolute_positions(hf_config, what=""):
    """``ValueError`` (prefixed ``what``) for a non-absolute ``position_embedding_type``."""
    pet = hf_config.get("position_embedding_type", "absolute")
    if pet != "absolute":
        raise ValueError(f"{what}position_embedding_type {pet!r} is not supported "
                         f"(only 'absolute')")


def fields_from_hf(out, hf_config, fields, *, skip_none=True):
    """Copy Hugging Face config fields into the tiezoo dict ``out`` (``skip_none``: a field
    whose value is ``None`` counts as absent)."""
    for ours, theirs in fields:
        if (hf_config.get(theirs) is not None) if skip_none else (theirs in hf_config):
            out[ours] = hf_config[theirs]
    return out


def fields_to_hf(out, config, fields):
    """Copy tiezoo config fields into the Hugging Face dict ``out``."""
    for ours, theirs in fields:
        if ours in config:
            out[theirs] = config[ours]
    return out


def hf_config_dict(model_type, architecture, config, fields, activations=None, **extra):
    """The ``config.json`` dict every family writes: model type, architecture, absolute
    positions, tied embeddings, ``extra`` keys, the mapped ``fields`` and (with an
    ``activations`` table, tiezoo name -> HF name) ``hidden_act``."""
    out = {"model_type": model_type, "architectures": [architecture],
           "position_embedding_type": "absolute", **extra, "tie_word_embeddings": True}
    fields_to_hf(out, config, fields)
    if activations is not None and "activation" in config:
        out["hidden_act"] = activations[config["activation"]]
    return out


def hf_task_architectures(model):
    """task -> the Hugging Face architecture of a ``model`` ("Bert", "Roberta", ...) with it."""
    return {"classification": f"{model}ForSequenceClassification",
            "regression": f"{model}ForSequenceClassification",
            "tagging": f"{model}ForTokenClassification",
            "qa": f"{model}ForQuestionAnswering"}


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


def lookup_hf_name(name, ignored, heads, backbone, prefix, family):
    """The tiezoo name of a Hugging Face tensor through compiled head rules, then backbone
    rules (the name with or without ``prefix``); ``None`` for a name matching ``ignored``
    (known non-parameters). Raises ``KeyError`` naming the tensor when no rule has it."""
    if any(r.match(name) for r in ignored):
        return None
    out = _lookup(heads, name)
    if out is None:
        bare = name[len(prefix):] if name.startswith(prefix) else name
        out = _lookup(backbone, bare)
    if out is None:
        raise KeyError(f"Hugging Face tensor {name!r} has no tiezoo {family} counterpart")
    return out



def task_from_names(heads, shapes, pooled_classifier):
    """Fill ``task``/``num_classes`` from ``head.*`` names (the task heads of :mod:`heads`).

    ``head.classifier`` is a sequence classifier in a model with a pooler and a token tagger
    in one without (tagging models are built without one)."""
    if "head.classifier.weight" in shapes:
        heads["task"] = "classification" if pooled_classifier else "tagging"
        heads["num_classes"] = int(shapes["head.classifier.weight"][0])
    elif "head.regressor.weight" in shapes:
        heads["task"] = "regression"
    elif "head.span.weight" in shapes:
        heads["task"] = "qa"
    if heads["task"] and any(v for k, v in heads.items() if k.startswith("use_")):
        raise ValueError("tensors of both a task head and pretraining heads")
    return heads


def config_fields_from_shapes(shapes):
    """Config fields a file without a stored config fixes by its tensor shapes."""
    out = {}
    for field_, names in (("vocab_size", ("word_embed.weight", "mlm_decoder.decoder.weight",
                                          "mlm_decoder.decoder.bias")),
                          ("type_vocab_size", ("token_type_embed.weight",)),
                          ("max_length", ("position_embed.weight",))):
        for n in names:
            if n in shapes and len(shapes[n]) >= 1:
                out[field_] = int(shapes[n][0])
                break
    return out


def drop_unloaded(block, missing, *, keep_pooler_for=("use_nsp", "use_sop")):
    """Remove the pooler from a built model whose source had none (Hugging Face's
    ``*ForMaskedLM``), unless a head reads it; returns the names still missing."""
    missing = list(missing)
    pooler = {"pooler.weight", "pooler.bias"}
    if pooler <= set(missing) and getattr(block, "use_pooler", False) \
            and not any(getattr(block, flag, False) for flag in keep_pooler_for) \
            and getattr(getattr(block, "head", None), "uses_pooled", False) is False:
        remove_child(block, "pooler")
        block.use_pooler = False
        missing = [n for n in missing if n not in pooler]
    return missing
