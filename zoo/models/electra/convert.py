"""ELECTRA parameter-name correspondence: tiezoo <-> Hugging Face, as data.

Hugging Face keeps the two ELECTRA models apart: ``ElectraForPreTraining`` is the
discriminator (``electra.*`` + ``discriminator_predictions.*``), ``ElectraForMaskedLM`` the
generator (``electra.*`` + ``generator_predictions.*`` + ``generator_lm_head.*``), and
``ElectraModel`` the bare discriminator. tiezoo's pretraining model holds both: the
discriminator at the top level and the generator under ``generator.``
(:data:`HF_ARCHITECTURES` ``tiezoo_prefix``). So the Hugging Face -> tiezoo name of a tensor
depends on which model it came from, and every function here takes ``architecture``.

The generator's word, position and token-type tables are aliases of the discriminator's in
tiezoo (``generator.word_embed.weight`` -> ``word_embed.weight``, ...; see
:data:`SHARED_EMBEDDINGS`): converting an ``ElectraForMaskedLM`` gives the alias names,
which a model's ``@tied`` declarations (``checkpoints.ties.resolve_declared``) resolve, and
converting to ``ElectraForMaskedLM`` writes the canonical tables as the generator's
``electra.embeddings.*``. ``generator_lm_head.weight`` is tied to the word table as well.

``embed_proj`` is Hugging Face's ``embeddings_project`` (present when ``embedding_size`` !=
``hidden_size``). There is no pooler. No tensor is transposed.

This module imports neither ``zoo`` nor ``transformers``: configs are plain dicts. It is
also ELECTRA's *converter table* for ``zoo.convert`` (the functions at the end). One
Hugging Face folder holds one half of tiezoo's pretraining model: tiezoo -> Hugging Face
writes the discriminator (``ElectraForPreTraining``, the default) or, asked for
``ElectraForMaskedLM``, the generator; Hugging Face -> tiezoo of the pretraining model needs
both folders (:data:`HF_PAIRS`) loaded into one model, each with its own architecture's
names; ``ElectraModel`` converts alone, both ways.
"""
import re

from checkpoints._mx_compat import remove_child, structural_params

from ...convert.names import (compile_pairs, lookup, check_architecture, fields_from_hf,
                              hf_activation, hf_task_architectures, name_pairs, task_from_names)
from ..bert.convert import (HF_BACKBONE as _BERT_BACKBONE, check_absolute_positions,
                            config_fields_from_shapes, hf_config_dict, hf_config_fields,
                            hf_ignored, hf_mlm_head_pairs)

__all__ = ["HF_BACKBONE", "HF_HEADS", "HF_IGNORED", "HF_TRANSPOSED", "HF_BACKBONE_PREFIX",
           "HF_ARCHITECTURES", "HF_CONFIG_FIELDS", "HF_ACTIVATIONS", "FAMILY", "MODEL_TYPE",
           "SHARED_EMBEDDINGS", "GENERATOR_PREFIX", "HF_PAIRS", "HF_PAIR", "HF_PAIR_PREFIX",
           "HF_MODEL_TYPES", "FILE_DECIDES",
           "hf_to_tiezoo_name", "tiezoo_to_hf_name", "config_from_hf", "config_to_hf",
           "hf_heads", "hf_architecture", "hf_architecture_from_names", "hf_config_extra",
           "heads_from_names", "config_fields_from_shapes", "drop_unloaded"]

FAMILY = "electra"
MODEL_TYPE = "electra"
GENERATOR_PREFIX = "generator."

# (tiezoo, Hugging Face) for a backbone (discriminator or generator): BERT's table without
# the pooler, plus the embedding projection.
HF_BACKBONE = tuple(p for p in _BERT_BACKBONE if not p[0].startswith("pooler.")) + \
    name_pairs((("embed_proj", "embeddings_project", "dense"),))
HF_BACKBONE_PREFIX = "electra."

# (tiezoo, Hugging Face) per head; tiezoo names relative to the model that owns the head
# (the generator's get the architecture's tiezoo_prefix, "generator.").
HF_HEADS = {
    "rtd": name_pairs((
        ("rtd_classifier.transform", "discriminator_predictions.dense", "dense"),
        ("rtd_classifier.prediction", "discriminator_predictions.dense_prediction", "dense"),
    )),
    "generator": hf_mlm_head_pairs(
        "generator_predictions.dense", "generator_predictions.LayerNorm",
        "generator_lm_head.weight", ("generator_lm_head.bias",)),   # tied to word_embed
}

HF_IGNORED = hf_ignored(HF_BACKBONE_PREFIX)

HF_TRANSPOSED = frozenset()

# Hugging Face architectures: the backbone prefix there, where the model sits in tiezoo's
# pretraining model, its head table, and the zoo.get_model flag that builds a model with it.
HF_ARCHITECTURES = {
    "ElectraModel": {"prefix": "", "tiezoo_prefix": "", "heads": None, "use_mlm": False},
    "ElectraForPreTraining": {"prefix": HF_BACKBONE_PREFIX, "tiezoo_prefix": "",
                              "heads": "rtd", "use_mlm": True},
    "ElectraForMaskedLM": {"prefix": HF_BACKBONE_PREFIX, "tiezoo_prefix": GENERATOR_PREFIX,
                           "heads": "generator", "use_mlm": True},
}

# The two Hugging Face folders that together are tiezoo's pretraining model.
HF_PAIRS = {"ElectraForPreTraining": "ElectraForMaskedLM",
            "ElectraForMaskedLM": "ElectraForPreTraining"}
# For ``zoo.convert``: the pair as (main folder, second folder), and the tiezoo block that
# the second one holds. ``zoo convert DISC DST --generator GEN`` reads both into the
# pretraining model; ``--to hf --generator GEN_OUT`` writes both back.
HF_PAIR = ("ElectraForPreTraining", "ElectraForMaskedLM")
HF_PAIR_PREFIX = GENERATOR_PREFIX

# tiezoo canonical tables that are also the generator's (aliases generator.<name>)
SHARED_EMBEDDINGS = ("word_embed.weight", "position_embed.weight", "token_type_embed.weight")

# (tiezoo ElectraConfig field, Hugging Face ElectraConfig field) for the discriminator; the
# generator's Hugging Face config gives generator_{units,hidden_size,num_heads,num_layers}
# from its hidden_size, intermediate_size, num_attention_heads, num_hidden_layers.
HF_CONFIG_FIELDS = hf_config_fields(
    after={"vocab_size": (("embed_size", "embedding_size"),)})
_GENERATOR_FIELDS = (
    ("generator_units", "hidden_size"),
    ("generator_hidden_size", "intermediate_size"),
    ("generator_num_heads", "num_attention_heads"),
    ("generator_num_layers", "num_hidden_layers"),
)
# The generator's fields that must agree with the discriminator's (shared embedding tables).
_SHARED_FIELDS = ("vocab_size", "embedding_size", "max_position_embeddings", "type_vocab_size")
HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_new": "gelu_tanh",
                  "gelu_pytorch_tanh": "gelu_tanh"}
_TO_HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "gelu_tanh": "gelu_new"}

_HF_TO_TZ_BACKBONE = compile_pairs(HF_BACKBONE, 1, 0)
_TZ_TO_HF_BACKBONE = compile_pairs(HF_BACKBONE, 0, 1)
_HF_TO_TZ_HEADS = {k: compile_pairs(v, 1, 0) for k, v in HF_HEADS.items()}
_TZ_TO_HF_HEADS = {k: compile_pairs(v, 0, 1) for k, v in HF_HEADS.items()}
_HF_IGNORED = [re.compile(p + r"\Z") for p in HF_IGNORED]


def _check_architecture(architecture):
    return check_architecture(HF_ARCHITECTURES, architecture)


def hf_to_tiezoo_name(name, architecture="ElectraForPreTraining", task=None):
    """The tiezoo (pretraining model) name of a tensor of a Hugging Face ``architecture``;
    ``None`` for known non-parameters; ``KeyError`` naming the tensor for anything else.

    ``ElectraForMaskedLM`` (the generator) tensors get the ``generator.`` prefix, so its
    embedding tables come out as the aliases ``generator.word_embed.weight``, ... .
    """
    arch = _check_architecture(architecture)
    if any(r.match(name) for r in _HF_IGNORED):
        return None
    out = None
    if arch["heads"]:
        out = lookup(_HF_TO_TZ_HEADS[arch["heads"]], name)
    if out is None:
        prefix = arch["prefix"]
        bare = name[len(prefix):] if prefix and name.startswith(prefix) else name
        out = lookup(_HF_TO_TZ_BACKBONE, bare)
    if out is None:
        raise KeyError(f"Hugging Face tensor {name!r} has no tiezoo ELECTRA counterpart "
                       f"in {architecture}")
    return arch["tiezoo_prefix"] + out


def tiezoo_to_hf_name(name, architecture="ElectraForPreTraining"):
    """The Hugging Face name, in ``architecture``, of a tiezoo ELECTRA parameter.

    For ``ElectraForMaskedLM`` the generator's parameters (``generator.*``) and the shared
    embedding tables (:data:`SHARED_EMBEDDINGS`) have names; for the discriminator
    architectures, everything but ``generator.*`` (and but the RTD head in
    ``ElectraModel``). ``None`` for a known name that ``architecture`` has no place for (the
    other half of the pretraining model); ``KeyError`` for a name with no counterpart.
    """
    arch = _check_architecture(architecture)
    tz_prefix = arch["tiezoo_prefix"]
    if tz_prefix:
        if name in SHARED_EMBEDDINGS:
            rel = name
        elif name.startswith(tz_prefix):
            rel = name[len(tz_prefix):]
        else:
            _known(name)
            return None                       # the discriminator's, not in the generator
    elif name.startswith(GENERATOR_PREFIX):
        _known(name[len(GENERATOR_PREFIX):])
        return None                           # the generator's: ElectraForMaskedLM has it
    else:
        rel = name
    out = lookup(_TZ_TO_HF_BACKBONE, rel)
    if out is not None:
        return arch["prefix"] + out
    if arch["heads"]:
        out = lookup(_TZ_TO_HF_HEADS[arch["heads"]], rel)
    if out is None:
        _known(name)
        return None
    return out


def _known(name):
    """KeyError unless ``name`` is some ELECTRA parameter (of either model)."""
    rel = name[len(GENERATOR_PREFIX):] if name.startswith(GENERATOR_PREFIX) else name
    if lookup(_TZ_TO_HF_BACKBONE, rel) is None and not any(
            lookup(rules, rel) is not None for rules in _TZ_TO_HF_HEADS.values()):
        raise KeyError(f"tiezoo tensor {name!r} has no Hugging Face ELECTRA counterpart")


def _activation(hf_config):
    return hf_activation(hf_config, HF_ACTIVATIONS)


def _check_config(hf_config, what):
    if hf_config.get("model_type", MODEL_TYPE) != MODEL_TYPE:
        raise ValueError(f"{what}: not an ELECTRA config: model_type "
                         f"{hf_config.get('model_type')!r}")
    check_absolute_positions(hf_config, f"{what}: ")


def config_from_hf(hf_config, generator_config=None):
    """A tiezoo ElectraConfig dict from the discriminator's Hugging Face config dict and,
    optionally, the generator's (``ElectraForMaskedLM``).

    Without a generator config the generator fields take the paper's proportion: a quarter
    of the discriminator's width, 64-wide heads (they matter only for the pretraining model).
    """
    _check_config(hf_config, "discriminator")
    out = fields_from_hf({"family": FAMILY}, hf_config, HF_CONFIG_FIELDS)
    out["activation"] = _activation(hf_config)
    if generator_config is None:
        units = out.get("units", 256)
        gen_units = max(units // 4, 1)
        heads = max(gen_units // 64, 1)
        while gen_units % heads:
            heads -= 1
        out.update(generator_units=gen_units, generator_hidden_size=4 * gen_units,
                   generator_num_heads=heads)
        return out
    _check_config(generator_config, "generator")
    for key in _SHARED_FIELDS:
        a, b = hf_config.get(key), generator_config.get(key)
        if a is not None and b is not None and a != b:
            raise ValueError(f"generator and discriminator configs disagree on {key} "
                             f"({b} vs {a}); they share their embedding tables")
    if "tie_word_embeddings" in generator_config:
        # the generator's LM head is the tie the flag switches (the discriminator has none)
        out["tie_word_embeddings"] = generator_config["tie_word_embeddings"]
    fields_from_hf(out, generator_config, _GENERATOR_FIELDS)
    if _activation(generator_config) != out["activation"]:
        raise ValueError("generator and discriminator configs disagree on hidden_act")
    return out


def config_to_hf(config, architecture="ElectraForPreTraining"):
    """A Hugging Face ``config.json`` dict from a tiezoo ElectraConfig dict; for
    ``ElectraForMaskedLM``, the generator's."""
    arch = _check_architecture(architecture)
    out = hf_config_dict(MODEL_TYPE, architecture, config, HF_CONFIG_FIELDS, _TO_HF_ACTIVATIONS)
    if arch["tiezoo_prefix"]:
        for ours, theirs in _GENERATOR_FIELDS:
            if config.get(ours) is not None:
                out[theirs] = config[ours]
    return out


# ----------------------------------------------------------------- converter table
# What ``zoo.convert`` asks of a family (see its module docstring); "heads" is the dict of
# ``zoo.get_model`` flags ``{"use_mlm", "task", "num_classes"}``.

HF_MODEL_TYPES = (MODEL_TYPE,)
FILE_DECIDES = ("vocab_size", "type_vocab_size", "max_length")


def hf_heads(architecture, hf_config=None):
    """The ``get_model`` head flags of a Hugging Face ``architecture``: either half of the
    pretraining pair builds the pretraining model (``use_mlm=True``)."""
    info = _check_architecture(architecture)
    return {"use_mlm": info["use_mlm"], "task": None, "num_classes": None}


def hf_architecture(heads):
    """The Hugging Face architecture carrying these heads; for the pretraining model, its
    discriminator half (the generator half is ``ElectraForMaskedLM``, asked for by name)."""
    task = heads.get("task")
    if task is not None:
        return hf_task_architectures("Electra")[task]
    return "ElectraForPreTraining" if heads.get("use_mlm") else "ElectraModel"


def hf_architecture_from_names(names):
    """The architecture of a Hugging Face file whose config names none."""
    names = list(names)
    if any(n.startswith(("classifier.", "qa_outputs.")) for n in names):
        return None
    if any(n.startswith("discriminator_predictions.") for n in names):
        return "ElectraForPreTraining"
    if any(n.startswith(("generator_predictions.", "generator_lm_head.")) for n in names):
        return "ElectraForMaskedLM"
    return "ElectraModel"


def hf_config_extra(heads, hf_config=None):
    return {}


def heads_from_names(shapes):
    """The ``get_model`` head flags that tiezoo tensor names -> shapes call for.

    ELECTRA has no pooler, so ``head.classifier`` (sequence classification or token
    tagging: the same tensors) is read as classification.
    """
    names = set(shapes)
    if any(n.startswith("nsp_classifier.") for n in names):
        raise ValueError("ELECTRA has no next-sentence-prediction head (nsp_classifier.*)")
    heads = {"use_mlm": any(n.startswith((GENERATOR_PREFIX, "rtd_classifier.")) for n in names),
             "task": None, "num_classes": None}
    return task_from_names(heads, shapes, pooled_classifier=True)


def drop_unloaded(block, missing):
    """Remove the generator from a pretraining model whose source had none (a lone
    ``ElectraForPreTraining`` folder: the discriminator and its replaced-token-detection
    head), so that nothing freshly initialized is written as if it had been converted; the
    result is the discriminator + RTD head, written and read back as such (it no longer runs
    the pretraining forward). Every other missing name stays missing (an error)."""
    missing = list(missing)
    generator = [n for n in missing if n.startswith(GENERATOR_PREFIX)]
    if generator and getattr(block, "generator", None) is not None:
        own = {n for n in structural_params(block) if n.startswith(GENERATOR_PREFIX)}
        from checkpoints import ties_of
        own -= set(ties_of(block))
        if own <= set(generator):
            remove_child(block, "generator")
            missing = [n for n in missing if not n.startswith(GENERATOR_PREFIX)]
    return missing


def describe_heads(block, heads):
    """What ``zoo convert`` prints for the heads of a built ELECTRA model."""
    out = []
    if getattr(block, "generator", None) is not None:
        out.append("generator mlm")
    if getattr(block, "rtd_classifier", None) is not None:
        out.append("rtd")
    if heads.get("task"):
        out.append(heads["task"])
    return out
