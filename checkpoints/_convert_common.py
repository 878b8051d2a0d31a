"""Converter-table helpers shared by the RoBERTa, ALBERT and ELECTRA tables (``zoo.convert``'s
interface; ``checkpoints/convert_bert.py`` is the reference implementation)."""

__all__ = ["task_from_names", "config_fields_from_shapes", "drop_unloaded"]


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
        block._children.pop("pooler", None)
        block.__dict__.pop("pooler", None)
        block.use_pooler = False
        if hasattr(block, "_clear_cached_op"):
            block._clear_cached_op()
        missing = [n for n in missing if n not in pooler]
    return missing
