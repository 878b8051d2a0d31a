"""One test over every registered model: sizes, forward shapes, hybridize, the MLM tie.

Presets small enough to run on CI's CPUs in well under a second run as they are. Larger ones
(bert_base, bert_large) are built *uninitialized* at full size, which allocates nothing, to
check every parameter shape against the published parameter count; they then run with
``num_layers`` and ``vocab_size`` overridden down, at their real width and head count.
"""
import mxnet as mx
import numpy as np
import pytest

import zoo
from checkpoints import ties_of
from zoo import _registry

RUN_FULL_BELOW = 50_000_000        # parameters; bert_medium (41M) runs as is
SHRINK = dict(num_layers=2, vocab_size=128)

# Hugging Face BertModel parameter counts of the published checkpoints (with pooler).
PUBLISHED = {"bert_base": 109_482_240, "bert_large": 335_141_888}


def _count(block):
    # collect_params() lists a shared Parameter once: the tied decoder weight is not counted
    return sum(int(np.prod(p.shape)) for p in block.collect_params().values())


def _expected_count(c, use_mlm=False, use_nsp=False):
    U, I = c.units, c.hidden_size
    embed = (c.vocab_size + c.max_length + c.type_vocab_size) * U + 2 * U
    layer = 4 * (U * U + U) + (U * I + I) + (I * U + U) + 2 * 2 * U
    total = embed + c.num_layers * layer + U * U + U
    if use_mlm:
        total += U * U + U + 2 * U + c.vocab_size    # transform, LayerNorm, decoder bias
    if use_nsp:
        total += 2 * U + 2
    return total


def _inputs(config, B=2, L=9, P=3, seed=0):
    rng = np.random.RandomState(seed)
    ids = rng.randint(0, config.vocab_size, size=(B, L))
    types = rng.randint(0, config.type_vocab_size, size=(B, L))
    valid = np.array([L, 4])
    masked = np.array([[0, 3, 8], [1, 2, 3]])
    return [mx.nd.array(a) for a in (ids, types, valid, masked)]


@pytest.mark.parametrize("name", zoo.list_models())
def test_registered_model(name):
    config = zoo.get_config(name)
    full = _registry.create(name, use_mlm=True, use_nsp=True)      # not initialized
    assert _count(full) == _expected_count(config, use_mlm=True, use_nsp=True)
    headless = _registry.create(name)
    assert _count(headless) == _expected_count(config)
    if name in PUBLISHED:
        assert _count(headless) == PUBLISHED[name]

    overrides = {} if _count(full) < RUN_FULL_BELOW else SHRINK
    model = zoo.get_model(name, use_mlm=True, use_nsp=True, dropout=0.0,
                          attention_dropout=0.0, **overrides)
    c = model.config
    assert ties_of(model) == {"mlm_decoder.decoder.weight": "word_embed.weight"}
    assert ties_of(zoo.get_model(name, **overrides)) == {}

    inputs = _inputs(c)
    B, L = inputs[0].shape
    P = inputs[3].shape[1]
    imperative = [o.asnumpy() for o in model(*inputs)]
    assert [o.shape for o in imperative] == [(B, L, c.units), (B, c.units),
                                             (B, P, c.vocab_size), (B, 2)]
    model.hybridize()
    hybrid = [o.asnumpy() for o in model(*inputs)]
    for i, (a, b) in enumerate(zip(imperative, hybrid)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5, err_msg=f"output {i}")
    assert ties_of(model) == {"mlm_decoder.decoder.weight": "word_embed.weight"}
