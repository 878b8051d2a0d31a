"""The checkpoint side of finetuning: what a checkpoint holds (config, tokenizer, task
description), the task model built from it, and what a finetuned checkpoint stores.

Every problem is a :class:`~zoo.training.UsageError` naming the checkpoint.
"""
import json
import os

import checkpoints
from checkpoints._mx_compat import structural_params
from heads import make_task_head

from .. import UnknownModelError, family_of, get_config, get_model, get_tokenizer, list_models
from ..tokenizers import TokenizerError
from ..training import UsageError
from .data import TaskDataError

__all__ = ["TASK_ASSET", "HF_CONFIG_ASSET", "read_checkpoint", "stored_task", "load_tokenizer",
           "model_config", "max_positions", "pad_id", "build_model", "finetuned_assets"]

TASK_ASSET = "finetune/task.json"     # the task description stored in a finetuned checkpoint
HF_CONFIG_ASSET = "hf/config.json"    # labels for `zoo convert ... --to hf`


def read_checkpoint(path, what="--pretrained"):
    """``(info, assets)`` of a checkpoint file (assets: {} for a foreign file)."""
    if os.path.isdir(path):
        raise UsageError(f"{what} {path} is a folder; give the checkpoint file in it (for "
                         f"example {os.path.join(path, 'model.params')})")
    try:
        info = checkpoints.inspect(path)
        return info, (checkpoints.read_assets(path) if info.format_version else {})
    except FileNotFoundError:
        raise UsageError(f"{path}: no such checkpoint") from None


def stored_task(assets, path):
    """The task description a finetuned checkpoint carries (a dict), or None."""
    raw = assets.get(TASK_ASSET)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except ValueError:
        raise UsageError(f"{path}: asset {TASK_ASSET} is not valid JSON") from None


def load_tokenizer(path, vocab=None, special_tokens=("cls", "sep")):
    """The tokenizer of ``vocab`` if given, else the checkpoint's own; it must have the
    special tokens the task encodings use (``Task.special_tokens``: [CLS] and [SEP])."""
    try:
        tokenizer = get_tokenizer(vocab or path)
    except TokenizerError as e:
        if vocab:
            raise UsageError(str(e)) from None
        raise UsageError(f"{e}; pass --vocab PATH (the vocabulary it was trained with)") from None
    try:
        tokenizer.require_special_tokens(special_tokens)
    except TokenizerError as e:
        raise UsageError(str(e)) from None
    return tokenizer


def model_config(info, path, preset=None):
    """The model config the checkpoint stores, or the preset's for a file without one."""
    if preset:
        try:
            preset_config = get_config(preset)
        except UnknownModelError as e:
            raise UsageError(f"--model {preset}: {e}") from None
        if not info.config:
            return preset_config
    if not info.config:
        raise UsageError(f"{path}: the checkpoint stores no model config (plain MXNet / "
                         f"GluonNLP 0.10 file); pass --model PRESET (one of "
                         f"{', '.join(list_models())})")
    try:
        return family_of(info.config).config_class.from_dict(info.config)
    except (ValueError, TypeError, UnknownModelError) as e:
        raise UsageError(f"{path}: {e}") from None


def max_positions(config):
    """How many tokens one sequence of the model may hold (the family's config says:
    RoBERTa's position ids start after the padding id)."""
    return config.max_positions


def pad_id(config, tokenizer):
    """The id that pads ``input_ids``: the config's ``pad_token_id`` where the model computes
    with it (RoBERTa's position ids), else the tokenizer's, else 0."""
    pad = getattr(config, "pad_token_id", None)
    if pad is not None:
        return pad
    return tokenizer.pad_id if tokenizer.pad_id is not None else 0


def _head_signature(task, units, num_classes):
    """``({"head.<name>": shape}, uses_pooled)`` of a fresh ``task`` head."""
    head = make_task_head(task, units, num_classes=num_classes)
    shapes = {"head." + n: tuple(p.shape) for n, p in structural_params(head).items()}
    return shapes, getattr(head, "uses_pooled", True)


def build_model(path, task, num_classes, *, name=None, overrides=None, ctx=None, log=print):
    """``zoo.get_model(name or FAMILY, pretrained=path, task=..., num_classes=...)``.

    A head already in the file is kept only when it is this task's head of this size (its
    ``head.*`` tensors have a fresh head's names and shapes, and the file has a pooler exactly
    when the head reads one: a finetuned model continued); otherwise the file's ``head.*``
    tensors are left unused and the head starts fresh. Returns the model
    (``model.load_report`` attached).
    """
    info = checkpoints.inspect(path)
    family = (info.config or {}).get("family")
    name = name or family
    if not name:
        raise UsageError(f"{path}: the checkpoint stores no model config (plain MXNet / "
                         f"GluonNLP 0.10 file); pass --model PRESET (one of "
                         f"{', '.join(list_models())}) or convert it first with "
                         f"`zoo convert {path} ckpt.params --model PRESET`")
    shapes = {n: tuple(s) for n, s, _ in info.tensors}
    file_head = {n: s for n, s in shapes.items() if n.startswith("head.")}
    overrides = dict(overrides or {})
    keep = True
    try:
        if file_head:
            units = (info.config or {}).get("units") or get_config(name).units
            want, uses_pooled = _head_signature(task, units, num_classes)
            has_pooler = any(n.startswith("pooler.") for n in shapes)
            keep = file_head == want and has_pooler == uses_pooled
        if keep:
            model = get_model(name, pretrained=path, task=task, num_classes=num_classes,
                              ctx=ctx, **overrides)
        else:
            log(f"[init] {path} holds a head for another task or label set: a fresh "
                f"{task} head replaces it")
            fields = {k: v for k, v in (info.config or {}).items() if k != "family"}
            fields.update(overrides)
            model = get_model(name, task=task, num_classes=num_classes, ctx=ctx, **fields)
            model.load_report = checkpoints.load(
                model, path, ctx=ctx, rename=lambda n: None if n.startswith("head.") else n)
    except (ValueError, TypeError, UnknownModelError) as e:
        if isinstance(e, (TaskDataError, TokenizerError)):
            raise
        raise UsageError(f"{path}: {e}") from None
    return model


def finetuned_assets(tokenizer, meta, task_class, pretrained_assets):
    """The assets of a finetuned checkpoint: the tokenizer, the task description ``meta``
    (what ``predict`` rebuilds everything from) and a Hugging Face config fragment with the
    labels and problem type (for ``zoo convert ... --to hf``), on top of the one the
    pretrained checkpoint carried."""
    assets = dict(tokenizer.to_assets())
    assets[TASK_ASSET] = json.dumps(meta, sort_keys=True)
    hf = {}
    if HF_CONFIG_ASSET in pretrained_assets:
        try:
            hf = json.loads(pretrained_assets[HF_CONFIG_ASSET].decode("utf-8"))
        except ValueError:
            hf = {}
    for k in ("id2label", "label2id", "num_labels", "problem_type", "architectures"):
        hf.pop(k, None)
    labels = meta.get("labels")
    if labels:
        hf["id2label"] = {str(i): label for i, label in enumerate(labels)}
        hf["label2id"] = {label: i for i, label in enumerate(labels)}
    if task_class.hf_problem_type:
        hf["problem_type"] = task_class.hf_problem_type
    assets[HF_CONFIG_ASSET] = json.dumps(hf, sort_keys=True)
    return assets
