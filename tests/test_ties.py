"""The ``@tied`` registry: one shared Parameter everywhere MXNet looks."""
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import HybridBlock, nn

from checkpoints import TieError, tied, ties_of
from toy_models import Chain, EmbedWithDecoder, SharedLayers, TwoDense, built, tokens


def test_tie_holds_right_after_construction():
    m = EmbedWithDecoder(use_mlm=True)
    assert m.mlm_decoder[1].weight is m.word_embed.weight
    assert m.mlm_decoder[1].bias is not m.word_embed.weight
    assert ties_of(m) == {"mlm_decoder.1.weight": "word_embed.weight"}


def test_block_tie_shares_every_parameter():
    m = TwoDense(use_mlm=True)
    assert m.l2.weight is m.l1.weight and m.l2.bias is m.l1.bias
    assert ties_of(m) == {"l2.weight": "l1.weight", "l2.bias": "l1.bias"}


def test_alias_absent_is_inactive():
    assert ties_of(EmbedWithDecoder(use_mlm=False)) == {}
    assert ties_of(TwoDense(use_mlm=False)) == {}


def test_deferred_shape_takes_canonical_shape():
    m = EmbedWithDecoder(use_mlm=True, vocab=30, units=6)
    assert m.mlm_decoder[1].weight.shape == (30, 6)


def test_collect_params_counts_shared_once():
    m = EmbedWithDecoder(use_mlm=True)
    params = m.collect_params()
    assert len(list(params.values())) == 4  # embed weight, dense0 weight+bias, dense1 bias
    assert sum(1 for p in params.values() if p is m.word_embed.weight) == 1


def test_initialize_and_forward_use_one_tensor():
    x = tokens()
    m = built(EmbedWithDecoder(use_mlm=True), x)
    w = m.word_embed.weight.data().asnumpy()
    np.testing.assert_array_equal(m.mlm_decoder[1].weight.data().asnumpy(), w)


def test_hybridized_equals_imperative():
    x = tokens()
    m = built(EmbedWithDecoder(use_mlm=True), x)
    ref = m(x).asnumpy()
    m.hybridize()
    np.testing.assert_allclose(m(x).asnumpy(), ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m(x).asnumpy(), ref, rtol=1e-6, atol=1e-6)


def test_trainer_updates_shared_parameter_once():
    x = tokens()
    m = built(EmbedWithDecoder(use_mlm=True), x)
    before = m.word_embed.weight.data().asnumpy().copy()
    trainer = mx.gluon.Trainer(m.collect_params(), "sgd", {"learning_rate": 0.5})
    assert len(trainer._params) == 4
    with mx.autograd.record():
        loss = m(x).sum()
    loss.backward()
    grad = m.word_embed.weight.grad().asnumpy().copy()
    trainer.step(1)
    after = m.word_embed.weight.data().asnumpy()
    # One SGD step with the gradient summed over both uses, applied once.
    np.testing.assert_allclose(after, before - 0.5 * grad, rtol=1e-5, atol=1e-6)
    # A second step raises no stale-gradient error either.
    with mx.autograd.record():
        loss = m(x).sum()
    loss.backward()
    trainer.step(1)


def test_gradient_sums_both_uses():
    """The shared weight's gradient is exactly the sum of its two uses (embedding lookup and
    decoder), computed here by hand for loss = sum(decoder(dense(embed(x))))."""
    x = tokens()
    m = built(EmbedWithDecoder(use_mlm=True), x)
    with mx.autograd.record():
        m(x).sum().backward()
    g = m.word_embed.weight.grad().asnumpy()
    W = m.word_embed.weight.data().asnumpy()                       # (V, U), shared
    A = m.mlm_decoder[0].weight.data().asnumpy()                   # (U, U)
    ids = x.asnumpy().astype(int).reshape(-1)
    h = m.mlm_decoder[0](m.word_embed(x)).asnumpy().reshape(len(ids), -1)   # decoder input
    as_decoder = np.tile(h.sum(axis=0), (W.shape[0], 1))          # d/dW of sum(h @ W.T)
    as_embedding = np.zeros_like(W)                                # rows looked up get
    np.add.at(as_embedding, ids, W.sum(axis=0) @ A)                # dL/dE = 1 @ W @ A
    np.testing.assert_allclose(g, as_decoder + as_embedding, rtol=1e-5, atol=1e-5)
    assert np.abs(as_embedding).max() > 1e-3 and np.abs(as_decoder).max() > 1e-3


def test_export_writes_shared_tensor_once(tmp_path):
    x = tokens()
    m = built(EmbedWithDecoder(use_mlm=True), x)
    m.hybridize()
    m(x)
    m.export(str(tmp_path / "model"))
    saved = mx.nd.load(str(tmp_path / "model-0000.params"))
    weights = [k for k in saved if k.endswith("weight")]
    assert len(saved) == 4 and len(weights) == 2
    sym = mx.sym.load(str(tmp_path / "model-symbol.json"))
    out = mx.gluon.SymbolBlock(sym, mx.sym.var("data"))
    out.collect_params().load(str(tmp_path / "model-0000.params"), ctx=mx.cpu())
    np.testing.assert_allclose(out(x).asnumpy(), m(x).asnumpy(), rtol=1e-5, atol=1e-6)


def test_star_pattern_shares_all_layers():
    m = SharedLayers(num_layers=4)
    for i in range(1, 4):
        assert m.layers[i].weight is m.layers[0].weight
        assert m.layers[i].bias is m.layers[0].bias
    assert len(list(m.collect_params().values())) == 2
    assert ties_of(m)["layers.3.weight"] == "layers.0.weight"


def test_chain_resolves_to_root():
    m = Chain()
    assert m.a.weight is m.c.weight and m.b.weight is m.c.weight
    assert ties_of(m) == {"a.weight": "c.weight", "a.bias": "c.bias",
                          "b.weight": "c.weight", "b.bias": "c.bias"}


def test_inherited_and_subclass_adding_blocks_after_super_init():
    class WithLateHead(EmbedWithDecoder):
        def __init__(self):
            super().__init__(use_mlm=False)
            # The head arrives after the base constructor returned.
            self.mlm_decoder = nn.HybridSequential()
            self.mlm_decoder.add(nn.Dense(8, flatten=False))
            self.mlm_decoder.add(nn.Dense(50, flatten=False))

    m = WithLateHead()
    assert m.mlm_decoder[1].weight is m.word_embed.weight


def test_stacked_on_subclass_extends_inherited_ties():
    @tied("extra", "mlm_decoder.0")
    class More(EmbedWithDecoder):
        def __init__(self):
            super().__init__(use_mlm=True)
            self.extra = nn.Dense(8, flatten=False)

    m = More()
    assert m.mlm_decoder[1].weight is m.word_embed.weight
    assert m.extra.weight is m.mlm_decoder[0].weight
    base = EmbedWithDecoder(use_mlm=True)               # the subclass's tie is not the base's
    assert ties_of(base) == {"mlm_decoder.1.weight": "word_embed.weight"}
    assert ties_of(m) == {"mlm_decoder.1.weight": "word_embed.weight",
                          "extra.weight": "mlm_decoder.0.weight",
                          "extra.bias": "mlm_decoder.0.bias"}


def test_nested_block_ties_are_reported_with_prefix():
    class Outer(HybridBlock):
        def __init__(self):
            super().__init__()
            self.body = SharedLayers(num_layers=2)

    assert ties_of(Outer()) == {"body.layers.1.weight": "body.layers.0.weight",
                                "body.layers.1.bias": "body.layers.0.bias"}


def test_missing_canonical_raises_naming_both():
    @tied("head.weight", "nowhere.weight")
    class Bad(HybridBlock):
        def __init__(self):
            super().__init__()
            self.head = nn.Dense(4, in_units=4)

    with pytest.raises(TieError, match=r"head\.weight.*nowhere\.weight"):
        Bad()


def test_cycle_raises():
    @tied("a", "b")
    @tied("b", "a")
    class Cycle(HybridBlock):
        def __init__(self):
            super().__init__()
            self.a = nn.Dense(4, in_units=4)
            self.b = nn.Dense(4, in_units=4)

    with pytest.raises(TieError, match="cycle"):
        Cycle()


def test_shape_conflict_raises_naming_both():
    @tied("b.weight", "a.weight")
    class Conflict(HybridBlock):
        def __init__(self):
            super().__init__()
            self.a = nn.Dense(4, in_units=3)
            self.b = nn.Dense(4, in_units=5)

    with pytest.raises(TieError, match=r"b\.weight.*a\.weight.*\(4, 5\).*\(4, 3\)"):
        Conflict()


def test_dtype_conflict_raises():
    @tied("b.weight", "a.weight")
    class Conflict(HybridBlock):
        def __init__(self):
            super().__init__()
            self.a = nn.Dense(4, in_units=3)
            self.b = nn.Dense(4, in_units=3, dtype="float16")

    with pytest.raises(TieError, match="dtype"):
        Conflict()


def test_bad_declarations_rejected_at_decoration():
    with pytest.raises(TieError):
        tied("a..b", "c")
    with pytest.raises(TieError):
        tied("a", "layers.*")
    with pytest.raises(TypeError):
        tied("a", "b")(object)


def test_failed_constructor_does_not_apply_ties():
    @tied("b", "a")
    class Fails(HybridBlock):
        def __init__(self):
            super().__init__()
            self.a = nn.Dense(4, in_units=4)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        Fails()
