"""Test-side helpers for comparing tiezoo models with tiny random ``transformers`` models.

``load_hf_state_dict`` copies a transformers ``state_dict`` into a tiezoo model through a
family's name table (``checkpoints/convert_<family>.py``) and the model's own ``@tied``
declarations, checking that two source names for one tensor agree. (The real conversion
path is ``zoo convert``; this keeps the equivalence tests independent of it.)
"""
import mxnet as mx
import numpy as np

from checkpoints.ties import resolve_declared

ATOL = 1e-4


def randomize_torch(module, seed=0):
    """Every parameter random (LayerNorm scales around 1), so no swap hides behind a constant."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():       # tied tensors are listed once
            noise = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(1.0 + noise if name.lower().endswith("norm.weight") else noise)


def randomize_mx(block, seed=0):
    rng = np.random.RandomState(seed)
    for name, p in block.collect_params().items():     # shared parameters once
        noise = rng.normal(0, 0.1, size=p.shape).astype("float32")
        p.set_data(mx.nd.array(1.0 + noise if name.endswith("gamma") else noise))


def load_hf_state_dict(model, state_dict, table, architecture):
    """Copy ``state_dict`` (name -> torch tensor) into ``model`` via ``table``.

    Returns the set of canonical tiezoo names filled; a tensor whose tiezoo name the model
    lacks (a head it was built without) is skipped.
    """
    params = model._collect_params_with_prefix()
    filled = set()
    for name, tensor in state_dict.items():
        ours = table.hf_to_tiezoo_name(name, architecture)
        if ours is None:
            continue
        ours = resolve_declared(model, ours)
        if ours not in params:
            continue
        value = tensor.detach().cpu().numpy()
        if ours in filled:
            np.testing.assert_array_equal(params[ours].data().asnumpy(), value,
                                          err_msg=f"two source tensors for {ours} differ")
            continue
        assert tuple(params[ours].shape) == value.shape, (name, ours, params[ours].shape,
                                                           value.shape)
        params[ours].set_data(mx.nd.array(value))
        filled.add(ours)
    return filled


def batch(vocab, B=3, L=12, P=4, seed=0, pad_id=None, low=0):
    """Random ids, token types, valid lengths < L (padding), masked positions < length.

    Padding positions hold ``pad_id`` when given, else arbitrary ids (which must not matter).
    """
    rng = np.random.RandomState(seed)
    ids = rng.randint(low, vocab, size=(B, L))
    valid = np.array([L, L - 5, 3][:B])
    types = (np.arange(L)[None, :] >= (valid[:, None] // 2)).astype(np.int64)
    for b in range(B):
        types[b, valid[b]:] = 0
        if pad_id is not None:
            ids[b, valid[b]:] = pad_id
    # position 0 holds [CLS], which pretraining never masks (0 pads masked_positions)
    masked = np.stack([rng.choice(np.arange(1, valid[b]), size=P, replace=valid[b] - 1 < P)
                       for b in range(B)])
    return ids, types, valid, masked


def nd(*arrays):
    return [mx.nd.array(a, dtype="float32") for a in arrays]


def attention_mask(ids, valid):
    return (np.arange(ids.shape[1])[None, :] < valid[:, None]).astype(np.int64)


def assert_valid_close(ours, theirs, valid, what, atol=ATOL):
    """Compare (B, L, ...) outputs at the valid positions of each example only."""
    for b, n in enumerate(valid):
        np.testing.assert_allclose(ours[b, :n], theirs[b, :n], atol=atol, rtol=0,
                                   err_msg=f"{what}, example {b}")


def gather(scores, positions):
    """scores (B, L, ...) numpy, positions (B, P) -> (B, P, ...)."""
    return scores[np.arange(len(scores))[:, None], positions]


def to_hf_state_dict(model, table, architecture):
    """``model``'s canonical parameters under ``architecture``'s Hugging Face names (what a
    converter writes: tied aliases left out, names the architecture has no place for
    dropped), as torch tensors."""
    import torch
    from checkpoints import ties_of
    ties = ties_of(model)
    out = {}
    for name, param in model._collect_params_with_prefix().items():
        if name in ties:
            continue
        hf_name = table.tiezoo_to_hf_name(name, architecture)
        if hf_name is not None:
            out[hf_name] = torch.tensor(param.data().asnumpy())
    return out


def load_into_hf(hf_model, state):
    """Load ``state`` into a transformers model: no tensor may be unexpected, and every
    parameter must come from ``state`` itself or be tied to one that does."""
    result = hf_model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    params = dict(hf_model.named_parameters(remove_duplicate=False))
    loaded = {id(params[k]) for k in state if k in params}
    not_written = [n for n in result.missing_keys if n in params and id(params[n]) not in loaded]
    assert not not_written, f"not written by the converter: {not_written}"
    return hf_model
