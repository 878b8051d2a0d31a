"""Name-table helpers for converter tables: the family-agnostic part.

A family's converter (``zoo/models/<family>/convert.py``) states its correspondence with
another framework as data: ``(tiezoo name, other name)`` templates where ``{i}`` stands for
a layer index. Tables are built from module-level correspondences (tiezoo module, other
module, kind), so that a table states only the names that differ: a ``"dense"`` module has
``weight``/``bias`` everywhere, a ``"norm"`` module ``gamma``/``beta`` in tiezoo (and
GluonNLP 0.10) and ``weight``/``bias`` in Hugging Face, an ``"embed"`` table ``weight``.
"""
import re

__all__ = ["HF_PARAMS", "GLUONNLP_PARAMS", "name_pairs", "check_architecture", "hf_activation",
           "fields_from_hf", "fields_to_hf", "hf_task_architectures", "compile_pairs",
           "lookup", "lookup_hf_name", "task_from_names", "name_matcher"]

# Parameter names of each kind of module, per framework.
_TIEZOO_PARAMS = {"dense": ("weight", "bias"), "norm": ("gamma", "beta"), "embed": ("weight",)}
HF_PARAMS = {"dense": ("weight", "bias"), "norm": ("weight", "bias"), "embed": ("weight",)}
GLUONNLP_PARAMS = {"dense": ("weight", "bias"), "norm": ("gamma", "beta"), "embed": ("weight",)}


def name_pairs(modules, params=HF_PARAMS):
    """``(tiezoo, other)`` parameter-name pairs from ``(tiezoo module, other module, kind)``."""
    return tuple((f"{tz}.{ours}", f"{other}.{theirs}") for tz, other, kind in modules
                 for ours, theirs in zip(_TIEZOO_PARAMS[kind], params[kind]))


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


def hf_task_architectures(model):
    """task -> the Hugging Face architecture of a ``model`` ("Bert", "Roberta", ...) with it."""
    return {"classification": f"{model}ForSequenceClassification",
            "regression": f"{model}ForSequenceClassification",
            "tagging": f"{model}ForTokenClassification",
            "qa": f"{model}ForQuestionAnswering"}


def compile_pairs(pairs, src, dst):
    """[(regex over the src name, dst template)] from ``(tiezoo, other)`` template pairs."""
    out = []
    for pair in pairs:
        pattern = re.escape(pair[src]).replace(r"\{i\}", r"(?P<i>\d+)")
        out.append((re.compile(pattern + r"\Z"), pair[dst]))
    return out


def name_matcher(templates):
    """Whether a name is one of ``templates`` (``{i}`` stands for a layer index): a
    predicate, e.g. over a table's :data:`HF_TRANSPOSED`."""
    regexes = [re.compile(re.escape(t).replace(r"\{i\}", r"\d+") + r"\Z") for t in templates]
    return lambda name: name is not None and any(r.match(name) for r in regexes)


def lookup(rules, name):
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
    out = lookup(heads, name)
    if out is None:
        bare = name[len(prefix):] if name.startswith(prefix) else name
        out = lookup(backbone, bare)
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


