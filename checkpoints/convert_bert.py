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

This module imports neither ``zoo`` nor ``transformers``: configs are plain dicts. It is
also the BERT *converter table* that ``zoo.convert`` (the family-agnostic driver) dispatches
to: the attributes under "converter table" below are that interface (see ``zoo/convert.py``).
"""
import re

__all__ = ["FAMILY", "HF_MODEL_TYPES", "HF_BACKBONE", "HF_HEADS", "HF_TASK_HEADS",
           "HF_IGNORED", "HF_TRANSPOSED", "HF_BACKBONE_PREFIX", "HF_ARCHITECTURES",
           "GLUONNLP_NAMES", "HF_CONFIG_FIELDS",
           "hf_to_tiezoo_name", "tiezoo_to_hf_name", "gluonnlp_to_tiezoo_name",
           "config_from_hf", "config_to_hf", "hf_heads", "hf_architecture",
           "hf_architecture_from_names", "hf_config_extra", "heads_from_names",
           "config_fields_from_shapes", "is_gluonnlp_naming", "drop_unloaded", "FILE_DECIDES"]

FAMILY = "bert"                  # the zoo family these tables convert
HF_MODEL_TYPES = ("bert",)       # Hugging Face ``config.json`` model_type values
# Config fields a checkpoint's tensors decide even when a preset name is given (the table
# sizes: a bert_base with a cased or multilingual vocabulary is still a bert_base).
FILE_DECIDES = ("vocab_size", "type_vocab_size", "max_length")

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
_HF_TO_TZ_TASK = {task: _compile(pairs, 1, 0) for task, pairs in HF_TASK_HEADS.items()}
_TZ_TO_HF_BACKBONE = _compile(HF_BACKBONE, 0, 1)
_TZ_TO_HF_HEADS = _compile(HF_HEADS, 0, 1)   # first match wins: cls.predictions.bias
_TZ_TO_HF_TASK = _compile([p for pairs in HF_TASK_HEADS.values() for p in pairs], 0, 1)
_GLUONNLP_TO_TZ = _compile(GLUONNLP_NAMES, 1, 0)
_HF_IGNORED = [re.compile(p + r"\Z") for p in HF_IGNORED]


def _arch_info(architecture):
    try:
        return HF_ARCHITECTURES[architecture]
    except KeyError:
        raise KeyError(f"unsupported Hugging Face architecture {architecture!r}; supported: "
                       f"{', '.join(HF_ARCHITECTURES)}") from None


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
    out = _lookup(_HF_TO_TZ_HEADS, name)
    if out is None and task is not None:
        out = _lookup(_HF_TO_TZ_TASK[task], name)
    if out is None:
        bare = name[len(HF_BACKBONE_PREFIX):] if name.startswith(HF_BACKBONE_PREFIX) else name
        out = _lookup(_HF_TO_TZ_BACKBONE, bare)
    if out is None:
        raise KeyError(f"Hugging Face tensor {name!r} has no tiezoo BERT counterpart")
    return out


def tiezoo_to_hf_name(name, architecture="BertForPreTraining"):
    """The Hugging Face name of a tiezoo BERT parameter for ``architecture``.

    Backbone names get the ``bert.`` prefix in architectures with heads; head names are
    those of ``BertForPreTraining`` and of the task architectures. Returns ``None`` for a
    known name that ``architecture`` has no place for (the pooler of ``BertForMaskedLM``, an
    MLM head in ``BertModel``): converting to that architecture drops it. Raises
    ``KeyError`` for names with no counterpart at all.
    """
    info = _arch_info(architecture)
    out = _lookup(_TZ_TO_HF_BACKBONE, name)
    if out is not None:
        if name.startswith("pooler.") and not info["pooler"]:
            return None
        return info["prefix"] + out
    out = _lookup(_TZ_TO_HF_HEADS, name)
    if out is not None:
        carried = info["use_mlm"] if name.startswith("mlm_decoder.") else info["use_nsp"]
        return out if carried else None
    out = _lookup(_TZ_TO_HF_TASK, name)
    if out is None:
        raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face BERT counterpart")
    return out if info["task"] is not None else None


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
           "position_embedding_type": "absolute", "tie_word_embeddings": True}
    for ours, theirs in HF_CONFIG_FIELDS:
        if ours in config:
            out[theirs] = config[ours]
    return out


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
        return {"classification": "BertForSequenceClassification",
                "regression": "BertForSequenceClassification",
                "tagging": "BertForTokenClassification",
                "qa": "BertForQuestionAnswering"}[task]
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


def heads_from_names(shapes):
    """The ``get_model`` head flags for tiezoo tensor names -> shapes (aliases resolved or not).

    ``head.classifier`` is a sequence classifier when the file has a pooler and a token
    tagger when it has none (tagging models are built without one).
    """
    names = set(shapes)
    heads = {"use_mlm": any(n.startswith("mlm_decoder.") for n in names),
             "use_nsp": any(n.startswith("nsp_classifier.") for n in names),
             "task": None, "num_classes": None}
    if "head.classifier.weight" in names:
        heads["task"] = "classification" if "pooler.weight" in names else "tagging"
        heads["num_classes"] = int(shapes["head.classifier.weight"][0])
    elif "head.regressor.weight" in names:
        heads["task"] = "regression"
    elif "head.span.weight" in names:
        heads["task"] = "qa"
    if heads["task"] and (heads["use_mlm"] or heads["use_nsp"]):
        raise ValueError("tensors of both a task head and pretraining heads")
    return heads


def config_fields_from_shapes(shapes):
    """Config fields that a file without a stored config still fixes through its tensor
    shapes (tiezoo names): the vocabulary, token type and position table sizes."""
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
    missing = list(missing)
    pooler = {"pooler.weight", "pooler.bias"}
    if pooler <= set(missing) and getattr(block, "use_pooler", False) \
            and not getattr(block, "use_nsp", False) \
            and getattr(getattr(block, "head", None), "uses_pooled", False) is False:
        block._children.pop("pooler", None)
        block.__dict__.pop("pooler", None)
        block.use_pooler = False
        if hasattr(block, "_clear_cached_op"):
            block._clear_cached_op()
        missing = [n for n in missing if n not in pooler]
    return missing
