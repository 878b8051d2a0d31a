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

Configs are plain dicts here (no model is built, ``transformers`` is not needed). This
module is the BERT *converter table* that ``zoo.convert`` (the family-agnostic driver)
dispatches to: the attributes under "converter table" below are that interface (see
``zoo/convert/__init__.py``). Its first section holds the tables of every BERT-shaped model
(embeddings, encoder layer, MLM head), which RoBERTa's, ALBERT's and ELECTRA's converters
import from here.
"""
import re

from checkpoints._mx_compat import remove_child

from ...convert.names import (GLUONNLP_PARAMS, HF_PARAMS, check_architecture, compile_pairs,
                              fields_from_hf, fields_to_hf, hf_activation,
                              hf_task_architectures, lookup, lookup_hf_name, name_pairs,
                              task_from_names)

__all__ = ["HF_READ_FIRST", "HF_UNTIED_NAMES", "ENCODER_LAYER_MODULES", "HF_EMBEDDING_MODULES",
           "encoder_layer_pairs", "hf_mlm_head_pairs", "hf_ignored", "hf_config_fields",
           "check_absolute_positions", "hf_config_dict", "drop_optional_pooler",
           "heads_from_prefixes", "FAMILY", "HF_MODEL_TYPES", "HF_BACKBONE", "HF_HEADS",
           "HF_TASK_HEADS", "HF_IGNORED", "HF_TRANSPOSED", "HF_BACKBONE_PREFIX",
           "HF_ARCHITECTURES", "GLUONNLP_NAMES", "HF_CONFIG_FIELDS", "hf_to_tiezoo_name",
           "tiezoo_to_hf_name", "gluonnlp_to_tiezoo_name", "config_from_hf", "config_to_hf",
           "hf_heads", "hf_architecture", "hf_architecture_from_names", "hf_config_extra",
           "heads_from_names", "config_fields_from_shapes", "is_gluonnlp_naming",
           "drop_unloaded", "FILE_DECIDES"]

# ------------------------------------------------ BERT-shaped tables, shared by
# RoBERTa, ALBERT and ELECTRA (their converters import them from here)

# tiezoo's encoder layer (zoo/models/bert/layers.py), in table order: (module, kind).
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
    ("tie_word_embeddings", "tie_word_embeddings"),
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


def check_absolute_positions(hf_config, what=""):
    """``ValueError`` (prefixed ``what``) for a non-absolute ``position_embedding_type``."""
    pet = hf_config.get("position_embedding_type", "absolute")
    if pet != "absolute":
        raise ValueError(f"{what}position_embedding_type {pet!r} is not supported "
                         f"(only 'absolute')")


def hf_config_dict(model_type, architecture, config, fields, activations=None, **extra):
    """The ``config.json`` dict every family writes: model type, architecture, absolute
    positions, tied embeddings, ``extra`` keys, the mapped ``fields`` and (with an
    ``activations`` table, tiezoo name -> HF name) ``hidden_act``."""
    out = {"model_type": model_type, "architectures": [architecture],
           "position_embedding_type": "absolute", **extra,
           "tie_word_embeddings": bool(config.get("tie_word_embeddings", True))}
    fields_to_hf(out, config, fields)
    if activations is not None and "activation" in config:
        out["hidden_act"] = activations[config["activation"]]
    return out


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


def drop_optional_pooler(block, missing, *, keep_pooler_for=("use_nsp", "use_sop")):
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


# ------------------------------------------------------------------- BERT's tables

FAMILY = "bert"                  # the zoo family these tables convert
HF_MODEL_TYPES = ("bert",)       # Hugging Face ``config.json`` model_type values
# Config fields a checkpoint's tensors decide even when a preset name is given (the table
# sizes: a bert_base with a cased or multilingual vocabulary is still a bert_base).
FILE_DECIDES = ("vocab_size", "type_vocab_size", "max_length")

# (tiezoo, Hugging Face) for the backbone; Hugging Face prefixes these with "bert." in every
# architecture with a head (BertForPreTraining, BertForMaskedLM, ...).
HF_BACKBONE = name_pairs(HF_EMBEDDING_MODULES) + encoder_layer_pairs(
    "encoder.layers.{i}.", "encoder.layer.{i}.",
    {"attention.query": "attention.self.query", "attention.key": "attention.self.key",
     "attention.value": "attention.self.value", "attention_proj": "attention.output.dense",
     "attention_layer_norm": "attention.output.LayerNorm", "ffn_1": "intermediate.dense",
     "ffn_2": "output.dense", "ffn_layer_norm": "output.LayerNorm"},
) + name_pairs((("pooler", "pooler.dense", "dense"),))
HF_BACKBONE_PREFIX = "bert."

# (tiezoo, Hugging Face) for the pretraining heads; never prefixed. The first Hugging Face
# name of a tiezoo name is the one written when converting to Hugging Face.
HF_HEADS = hf_mlm_head_pairs(
    "cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
    "cls.predictions.decoder.weight",                                   # tied to word_embed
    ("cls.predictions.bias", "cls.predictions.decoder.bias"),           # same tensor in HF
) + name_pairs((("nsp_classifier", "cls.seq_relationship", "dense"),))

# Non-parameter buffers that Hugging Face checkpoints may carry (int64 position ids).
# The MLM bias has two names in Hugging Face files. Tied, they are one tensor (saved under
# the first). transformers 5 with tie_word_embeddings=False unties them too, and its forward
# pass reads the decoder's own bias: where a file holds both, that one is read, and an untied
# model writes both.
HF_READ_FIRST = ("cls.predictions.decoder.bias",)
HF_UNTIED_NAMES = {"mlm_decoder.decoder.bias": ("cls.predictions.decoder.bias",)}

HF_IGNORED = hf_ignored(HF_BACKBONE_PREFIX)

# tiezoo names whose tensor is the transpose of the Hugging Face one: none for BERT.
HF_TRANSPOSED = frozenset()

# (tiezoo, Hugging Face) for the finetuning heads of ``get_model(task=...)``, per task.
# Never prefixed; ``classifier`` means a different head in different architectures, which is
# why Hugging Face -> tiezoo needs the task (``hf_heads`` derives it from the config).
HF_TASK_HEADS = {
    "classification": (("head.classifier.weight", "classifier.weight"),
                       ("head.classifier.bias", "classifier.bias")),
    "regression": (("head.regressor.weight", "classifier.weight"),
                   ("head.regressor.bias", "classifier.bias")),
    "tagging": (("head.classifier.weight", "classifier.weight"),
                ("head.classifier.bias", "classifier.bias")),
    "qa": (("head.span.weight", "qa_outputs.weight"),
           ("head.span.bias", "qa_outputs.bias")),
}

# Hugging Face architectures and the tiezoo heads they carry. ``pooler``: whether the
# architecture has ``bert.pooler`` (Hugging Face builds BertForMaskedLM, token
# classification and QA models without one). ``task`` "classification" becomes
# "regression" for a config with num_labels == 1 or problem_type "regression".
HF_ARCHITECTURES = {
    "BertModel": {"prefix": "", "use_mlm": False, "use_nsp": False, "pooler": True,
                  "task": None},
    "BertForPreTraining": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": True, "use_nsp": True,
                           "pooler": True, "task": None},
    "BertForMaskedLM": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": True, "use_nsp": False,
                        "pooler": False, "task": None},
    "BertForNextSentencePrediction": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": False,
                                      "use_nsp": True, "pooler": True, "task": None},
    "BertForSequenceClassification": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": False,
                                      "use_nsp": False, "pooler": True,
                                      "task": "classification"},
    "BertForTokenClassification": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": False,
                                   "use_nsp": False, "pooler": False, "task": "tagging"},
    "BertForQuestionAnswering": {"prefix": HF_BACKBONE_PREFIX, "use_mlm": False,
                                 "use_nsp": False, "pooler": False, "task": "qa"},
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
) + encoder_layer_pairs(
    "encoder.layers.{i}.", "encoder.transformer_cells.{i}.",
    {"attention.query": "attention_cell.proj_query", "attention.key": "attention_cell.proj_key",
     "attention.value": "attention_cell.proj_value", "attention_proj": "proj",
     "attention_layer_norm": "layer_norm", "ffn_1": "ffn.ffn_1", "ffn_2": "ffn.ffn_2",
     "ffn_layer_norm": "ffn.layer_norm"},
    GLUONNLP_PARAMS,
) + name_pairs((("pooler", "pooler", "dense"), ("nsp_classifier", "classifier", "dense"),
                ("mlm_decoder.transform", "decoder.0", "dense"),
                ("mlm_decoder.layer_norm", "decoder.2", "norm"),
                ("mlm_decoder.decoder", "decoder.3", "dense")),  # decoder.3.weight: tied
               GLUONNLP_PARAMS)

# (tiezoo BertConfig field, Hugging Face BertConfig field)
HF_CONFIG_FIELDS = hf_config_fields(
    after={"layer_norm_eps": (("activation", "hidden_act"),)})

# Hugging Face ``hidden_act`` values that are the functions tiezoo names this way.
_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu"}


_HF_TO_TZ_BACKBONE = compile_pairs(HF_BACKBONE, 1, 0)
_HF_TO_TZ_HEADS = compile_pairs(HF_HEADS, 1, 0)
_HF_TO_TZ_TASK = {task: compile_pairs(pairs, 1, 0) for task, pairs in HF_TASK_HEADS.items()}
_TZ_TO_HF_BACKBONE = compile_pairs(HF_BACKBONE, 0, 1)
_TZ_TO_HF_HEADS = compile_pairs(HF_HEADS, 0, 1)   # first match wins: cls.predictions.bias
_TZ_TO_HF_TASK = compile_pairs([p for pairs in HF_TASK_HEADS.values() for p in pairs], 0, 1)
_GLUONNLP_TO_TZ = compile_pairs(GLUONNLP_NAMES, 1, 0)
_HF_IGNORED = [re.compile(p + r"\Z") for p in HF_IGNORED]


def _arch_info(architecture):
    return check_architecture(HF_ARCHITECTURES, architecture)


def hf_to_tiezoo_name(name, architecture=None, task=None):
    """The tiezoo name of a Hugging Face BERT tensor name; ``None`` for known non-parameters.

    Accepts names with or without the ``bert.`` prefix. Task-head names (``classifier.*``,
    ``qa_outputs.*``) need the ``task`` (or an ``architecture`` that implies it). Raises
    ``KeyError`` naming the tensor for anything else (another architecture's tensors must
    not pass silently).
    """
    if any(r.match(name) for r in _HF_IGNORED):
        return None
    if task is None and architecture is not None:
        task = _arch_info(architecture)["task"]
    heads = _HF_TO_TZ_HEADS + (_HF_TO_TZ_TASK[task] if task is not None else [])
    return lookup_hf_name(name, _HF_IGNORED, heads, _HF_TO_TZ_BACKBONE, HF_BACKBONE_PREFIX,
                          "BERT")


def tiezoo_to_hf_name(name, architecture="BertForPreTraining"):
    """The Hugging Face name of a tiezoo BERT parameter for ``architecture``.

    Backbone names get the ``bert.`` prefix in architectures with heads; head names are
    those of ``BertForPreTraining`` and of the task architectures. Returns ``None`` for a
    known name that ``architecture`` has no place for (the pooler of ``BertForMaskedLM``, an
    MLM head in ``BertModel``): converting to that architecture drops it. Raises
    ``KeyError`` for names with no counterpart at all.
    """
    info = _arch_info(architecture)
    out = lookup(_TZ_TO_HF_BACKBONE, name)
    if out is not None:
        if name.startswith("pooler.") and not info["pooler"]:
            return None
        return info["prefix"] + out
    out = lookup(_TZ_TO_HF_HEADS, name)
    if out is not None:
        carried = info["use_mlm"] if name.startswith("mlm_decoder.") else info["use_nsp"]
        return out if carried else None
    out = lookup(_TZ_TO_HF_TASK, name)
    if out is None:
        raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face BERT counterpart")
    return out if info["task"] is not None else None


def gluonnlp_to_tiezoo_name(name):
    """The tiezoo name of a GluonNLP 0.10 ``BERTModel`` parameter; ``KeyError`` otherwise."""
    out = lookup(_GLUONNLP_TO_TZ, name)
    if out is None:
        raise KeyError(f"GluonNLP tensor {name!r} has no tiezoo BERT counterpart")
    return out


def config_from_hf(hf_config):
    """A tiezoo BertConfig dict (``zoo.BertConfig.from_dict``) from a Hugging Face config dict."""
    if hf_config.get("model_type", "bert") != "bert":
        raise ValueError(f"not a BERT config: model_type {hf_config.get('model_type')!r}")
    act = hf_activation(hf_config, _HF_ACTIVATIONS)
    check_absolute_positions(hf_config)
    out = fields_from_hf({"family": "bert"}, hf_config, HF_CONFIG_FIELDS, skip_none=False)
    out["activation"] = act
    return out


def config_to_hf(config, architecture="BertForPreTraining"):
    """A Hugging Face ``config.json`` dict from a tiezoo BertConfig dict."""
    return hf_config_dict("bert", architecture, config, HF_CONFIG_FIELDS)


# ----------------------------------------------------------------- converter table
# What ``zoo.convert`` asks of a family. "heads" is the dict of ``zoo.get_model`` flags
# ``{"use_mlm", "use_nsp", "task", "num_classes"}`` that a checkpoint's tensors call for.

def _num_labels(hf_config):
    labels = hf_config.get("id2label")
    if isinstance(labels, dict) and labels:
        return len(labels)
    return int(hf_config.get("num_labels", 2))


def hf_heads(architecture, hf_config):
    """The ``get_model`` head flags for a Hugging Face ``architecture`` and its config."""
    info = _arch_info(architecture)
    task, num_classes = info["task"], None
    if task == "classification":
        n = _num_labels(hf_config)
        if n == 1 or hf_config.get("problem_type") == "regression":
            task = "regression"
        else:
            num_classes = n
    elif task == "tagging":
        num_classes = _num_labels(hf_config)
    return {"use_mlm": info["use_mlm"], "use_nsp": info["use_nsp"], "task": task,
            "num_classes": num_classes}


def hf_architecture(heads):
    """The Hugging Face architecture that carries exactly these heads."""
    task = heads.get("task")
    if task is not None:
        return hf_task_architectures("Bert")[task]
    mlm, nsp = bool(heads.get("use_mlm")), bool(heads.get("use_nsp"))
    return {(True, True): "BertForPreTraining", (True, False): "BertForMaskedLM",
            (False, True): "BertForNextSentencePrediction",
            (False, False): "BertModel"}[(mlm, nsp)]


def hf_architecture_from_names(names):
    """Guess the architecture of a Hugging Face file whose config names none."""
    names = list(names)
    mlm = any(n.startswith("cls.predictions.") for n in names)
    nsp = any(n.startswith("cls.seq_relationship.") for n in names)
    if any(n.startswith(("classifier.", "qa_outputs.")) for n in names):
        return None          # a task head: which one the tensors alone cannot say
    return hf_architecture({"use_mlm": mlm, "use_nsp": nsp})


def hf_config_extra(heads, hf_config=None):
    """Hugging Face config fields a task head needs (num_labels, problem_type, labels)."""
    task = heads.get("task")
    if task in ("classification", "tagging", "regression"):
        n = 1 if task == "regression" else int(heads["num_classes"])
        out = {"num_labels": n}
        labels = (hf_config or {}).get("id2label")
        if isinstance(labels, dict) and len(labels) == n:
            out["id2label"] = labels
            out["label2id"] = (hf_config or {}).get("label2id") or \
                {v: int(k) for k, v in labels.items()}
        else:
            out["id2label"] = {str(i): f"LABEL_{i}" for i in range(n)}
            out["label2id"] = {f"LABEL_{i}": i for i in range(n)}
        if task == "regression":
            out["problem_type"] = "regression"
        elif task == "classification" and (hf_config or {}).get("problem_type"):
            out["problem_type"] = hf_config["problem_type"]
        return out
    return {}


def heads_from_prefixes(shapes, switches, *, refused=None, pooled_classifier=None):
    """The ``get_model`` head flags that tiezoo tensor names -> shapes (aliases resolved or
    not) call for, in a BERT-shaped family whose ``switches`` map each flag to the parameter
    prefixes it adds. ``refused``: ``{prefix: message}`` of heads the family has not (a
    ValueError). ``head.classifier`` is a sequence classifier where ``pooled_classifier``
    says so (default: when the file has a pooler) and a token tagger otherwise (tagging
    models are built without one)."""
    names = set(shapes)
    for prefix, message in (refused or {}).items():
        if any(n.startswith(prefix) for n in names):
            raise ValueError(message)
    heads = {flag: any(n.startswith(prefixes) for n in names) for flag, prefixes in switches.items()}
    heads.update(task=None, num_classes=None)
    if pooled_classifier is None:
        pooled_classifier = "pooler.weight" in names
    return task_from_names(heads, shapes, pooled_classifier=pooled_classifier)


def heads_from_names(shapes):
    """The ``get_model`` head flags for tiezoo tensor names -> shapes (aliases resolved or not)."""
    return heads_from_prefixes(shapes, {"use_mlm": "mlm_decoder.",
                                        "use_nsp": "nsp_classifier."})


_GLUONNLP_ONLY = re.compile(r"(word_embed\.0\.|token_type_embed\.0\.|encoder\.position_weight"
                            r"|encoder\.transformer_cells\.|encoder\.layer_norm\.|decoder\.\d+\.)")


def is_gluonnlp_naming(names):
    """Whether tensor names are GluonNLP 0.10 ``BERTModel``'s (not tiezoo's own)."""
    return any(_GLUONNLP_ONLY.match(n) for n in names)


def drop_unloaded(block, missing):
    """Remove from a built model the optional blocks a source did not have.

    Hugging Face's BertForMaskedLM (and token classification / QA models) carry no pooler;
    the converter must not write a freshly initialized one as if it had been converted.
    Returns the names still missing (each an error for the converter).
    """
    return drop_optional_pooler(block, missing, keep_pooler_for=("use_nsp",))
