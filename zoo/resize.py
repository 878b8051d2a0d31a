"""Grow or shrink a model's vocabulary in place: :func:`resize_token_embeddings`."""
import dataclasses

import mxnet as mx
import numpy as np

from checkpoints import _mx_compat as mxc
from checkpoints import ties_of

from .registry import family_of

__all__ = ["resize_token_embeddings"]


def _matches(pattern, name):
    p, n = pattern.split("."), name.split(".")
    return len(p) == len(n) and all(a == "*" or a == b for a, b in zip(p, n))


def resize_token_embeddings(model, vocab_size, *, seed=None):
    """Resize the vocabulary of a built, initialized ``model`` of any family to ``vocab_size``.

    Every parameter the family lists in ``vocab_parameters`` (the word embedding, an untied
    LM decoder, vocabulary-sized biases) keeps its first ``min(old, new)`` rows unchanged;
    ties are kept (a tied decoder *is* the embedding, resized once); the config's
    ``vocab_size`` follows, in the model and in every sub-model with a config of its own
    (ELECTRA's generator), so the model saves and reloads like any other. New rows of a
    matrix start at the mean of the old rows plus normal noise of the config's
    ``initializer_range`` (new tokens start near the average token and apart from each
    other, as Hugging Face's mean resizing does); new entries of a bias at the old mean.
    ``seed`` makes the noise reproducible. Returns the model.

    Do this before creating a ``gluon.Trainer`` for the model (its optimizer state has the
    old shapes).
    """
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "vocab_size"):
        raise ValueError(f"{type(model).__name__} has no config with a vocab_size to resize")
    family = family_of(config)
    old = config.vocab_size
    params = mxc.structural_params(model)
    ties = ties_of(model)
    targets = {}
    for name, param in params.items():
        if any(_matches(p, name) for p in family.vocab_parameters):
            canonical = ties.get(name, name)
            targets.setdefault(id(params[canonical]), (canonical, params[canonical]))
    if not targets:
        raise ValueError(f"{family.name}: none of the vocabulary parameters "
                         f"{list(family.vocab_parameters)} is in this model")
    # Every new config first: a size the config refuses (RoBERTa's padding id out of range)
    # fails before any parameter changes.
    new_configs = [(sub, dataclasses.replace(sub.__dict__["config"], vocab_size=vocab_size))
                   for _path, sub in mxc.iter_blocks(model)
                   if getattr(sub.__dict__.get("config"), "vocab_size", None) == old]
    std = float(getattr(config, "initializer_range", 0.02))
    rng = np.random.RandomState(seed)
    for name, param in targets.values():
        if not mxc.is_initialized(param):
            raise ValueError(f"{name}: initialize the model (and run it once) before resizing")
        data = param.data().asnumpy()
        if data.shape[0] != old:
            raise ValueError(f"{name} has {data.shape[0]} rows but the config says "
                             f"vocab_size={old}")
        kept = data[:min(old, vocab_size)]
        grow = vocab_size - kept.shape[0]
        if grow > 0:
            mean = data.mean(axis=0, keepdims=True)
            extra = np.repeat(mean, grow, axis=0)
            if data.ndim > 1:
                extra = extra + rng.normal(0.0, std, size=extra.shape)
            kept = np.concatenate([kept, extra.astype(data.dtype)], axis=0)
        mxc.replace_data(param, mx.nd.array(kept, dtype=data.dtype))
    mxc.sync_layer_sizes(model)
    for sub, new_config in new_configs:
        object.__setattr__(sub, "config", new_config)
    return model
