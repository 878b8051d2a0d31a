"""tiezoo's native extension operators (``zoo/native/*.cc``, loaded by ``zoo._native``): the
LayerNorm equal to MXNet's forward and backward, T5's RMS norm equal to its composition of
MXNet operators, the decoding attention equal to batched products; used only where they are
correct, optional."""
import os
import shutil
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import zoo  # noqa: F401  (loads the library)
from heads._layers import LayerNorm
from zoo import _native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_native = pytest.mark.skipif(not _native.AVAILABLE, reason=_native.STATUS)


def test_library_is_built_wherever_a_compiler_is():
    if shutil.which("g++") or shutil.which("c++"):
        assert _native.AVAILABLE, _native.STATUS


def _forward_backward(fn, x, gamma, beta, dy):
    for v in (x, gamma, beta):
        v.attach_grad()
    with autograd.record():
        y = fn(x, gamma, beta)
    y.backward(dy)
    return [y.asnumpy()] + [v.grad.asnumpy().copy() for v in (x, gamma, beta)]


@needs_native
@pytest.mark.parametrize("shape,eps", [((4096, 512), 1e-12), ((64, 3, 96), 1e-5),
                                       ((5, 7), 1e-3), ((1, 1, 8), 1e-12)])
def test_op_equals_mxnet_layer_norm_forward_and_backward(shape, eps):
    rng = np.random.RandomState(0)
    c = shape[-1]
    x, dy = (mx.nd.array(rng.randn(*shape) * 3 + 1) for _ in range(2))
    gamma, beta = mx.nd.array(rng.randn(c)), mx.nd.array(rng.randn(c))
    ours = _forward_backward(lambda a, g, b: mx.nd.tiezoo_layer_norm(a, g, b, eps=eps),
                             x, gamma, beta, dy)
    theirs = _forward_backward(lambda a, g, b: mx.nd.LayerNorm(a, g, b, axis=-1, eps=eps),
                               x, gamma, beta, dy)
    for name, a, b in zip(("y", "dx", "dgamma", "dbeta"), ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max(), err_msg=name)


def _block_outputs(native, grad_req="write"):
    """Output and gradients of a hybridized LayerNorm, with the native operator on or off."""
    saved = LayerNorm.native_op
    LayerNorm.native_op = native
    try:
        mx.random.seed(1)
        block = LayerNorm(epsilon=1e-12, in_channels=32)
        block.initialize(mx.init.Normal(1.0))
        block.collect_params().setattr("grad_req", grad_req)
        block.hybridize(static_alloc=True)
        x = mx.nd.array(np.random.RandomState(2).randn(16, 4, 32))
        x.attach_grad()
        for _ in range(2):                       # with "add", gradients of 2 passes add up
            with autograd.record():
                y = block(x)
            y.backward(mx.nd.ones_like(y) * mx.nd.arange(32))
        graph = block._cached_graph[1].tojson()
        return y.asnumpy(), block.gamma.grad().asnumpy(), block.beta.grad().asnumpy(), graph
    finally:
        LayerNorm.native_op = saved


@needs_native
@pytest.mark.parametrize("grad_req", ["write", "add"])
def test_block_uses_the_native_op_only_where_gradients_are_overwritten(grad_req):
    ours = _block_outputs(True, grad_req)
    theirs = _block_outputs(False, grad_req)
    assert ("tiezoo_layer_norm" in ours[3]) == (grad_req == "write")
    assert "tiezoo_layer_norm" not in theirs[3]
    for a, b in zip(ours[:3], theirs[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@needs_native
def test_exported_model_with_the_native_op_reloads(tmp_path):
    model = zoo.get_model("bert_test", dropout=0.0, attention_dropout=0.0)
    model.hybridize()
    ids = mx.nd.array(np.random.RandomState(3).randint(5, 100, size=(2, 9)))
    seq, _ = model(ids)
    prefix = str(tmp_path / "bert")
    model.export(prefix)
    with open(prefix + "-symbol.json") as f:
        assert "tiezoo_layer_norm" in f.read()
    again = gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"],
                                      prefix + "-0000.params")
    np.testing.assert_allclose(again(ids)[0].asnumpy(), seq.asnumpy(), rtol=1e-5, atol=1e-6)


def _status_in_subprocess(**env):
    code = ("import zoo; from zoo import _native; import mxnet as mx; "
            "m = zoo.get_model('bert_test'); m(mx.nd.ones((1, 4)))[0].wait_to_read(); "
            "print(_native.AVAILABLE, '|', _native.STATUS)")
    full = dict(os.environ, PYTHONPATH=ROOT, **env)
    full = {k: v for k, v in full.items() if v != ""}
    proc = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=180, check=True)
    available, status = proc.stdout.strip().splitlines()[-1].split(" | ", 1)
    return available == "True", status, proc.stderr


def test_it_can_be_turned_off_and_models_still_run():
    assert _status_in_subprocess(TIEZOO_NATIVE="0")[:2] == (False, "disabled by TIEZOO_NATIVE=0")


def test_a_failed_build_says_so_once_and_falls_back(tmp_path):
    available, status, err = _status_in_subprocess(TIEZOO_NATIVE_DIR=str(tmp_path), CXX="false")
    assert not available
    assert "false failed" in status and "MXNet's own operators" in status
    said = [line for line in err.splitlines() if "native operators not built" in line]
    assert len(said) == 1 and "false failed" in said[0]
    # no half-built library left behind; the failure is remembered, not retried or repeated
    assert [n for n in os.listdir(tmp_path) if not n.endswith(".failed")] == []
    available, status, err = _status_in_subprocess(TIEZOO_NATIVE_DIR=str(tmp_path), CXX="false")
    assert not available and "an earlier build failed" in status
    assert "tiezoo:" not in err


def test_builds_once_into_the_per_user_cache(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "TIEZOO_NATIVE_DIR": ""}
    available, status, err = _status_in_subprocess(**env)
    assert available, status
    cache = tmp_path / "cache" / "tiezoo" / "native"
    assert status == f"loaded {cache / os.listdir(cache)[0]}"
    assert [line for line in err.splitlines() if line.startswith("tiezoo:")] == [
        f"tiezoo: building the native operators into {cache} (once, a few seconds)"]
    assert oct(os.stat(cache / os.listdir(cache)[0]).st_mode & 0o777) == oct(0o777 & ~_umask())
    available, _, err = _status_in_subprocess(**env)
    assert available and "tiezoo:" not in err                     # built once, then loaded


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _rms_reference(x, gamma, eps):
    scale = mx.nd.rsqrt(mx.nd.mean(mx.nd.square(x), axis=-1, keepdims=True) + eps)
    return mx.nd.broadcast_mul(mx.nd.broadcast_mul(x, scale), gamma)


@needs_native
@pytest.mark.parametrize("shape,eps", [((512, 512), 1e-6), ((3, 5, 48), 1e-3), ((1, 8), 1e-6)])
def test_rms_norm_equals_mxnet_composition_forward_and_backward(shape, eps):
    rng = np.random.RandomState(2)
    x, dy = (mx.nd.array(rng.randn(*shape) * 3 + 1) for _ in range(2))
    gamma = mx.nd.array(rng.rand(shape[-1]) + 0.5)
    results = []
    for fn in (lambda a, g: mx.nd.tiezoo_layer_norm(a, g, eps=eps, rms=1),
               lambda a, g: _rms_reference(a, g, eps)):
        xx, gg = x.copy(), gamma.copy()
        xx.attach_grad()
        gg.attach_grad()
        with autograd.record():
            y = fn(xx, gg)
        y.backward(dy)
        results.append([y.asnumpy(), xx.grad.asnumpy(), gg.grad.asnumpy()])
    for name, a, b in zip(("y", "dx", "dgamma"), *results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max(), err_msg=name)


@needs_native
@pytest.mark.parametrize("own,mask_shape", [(True, "rows"), (False, "heads"), (False, "rows")])
def test_decode_attention_equals_batched_products(own, mask_shape):
    from zoo.decoding import attend_one
    from zoo.models.bert.layers import MASKED_SCORE
    rng = np.random.RandomState(3)
    B, H, T, D = 3, 4, 9, 16
    q, keys, values = (mx.nd.array(rng.randn(*s)) for s in
                       ((B * H, 1, D), (B * H, T, D), (B * H, T, D)))
    extra = (mx.nd.array(rng.randn(B * H, 1, D)), mx.nd.array(rng.randn(B * H, 1, D)))
    K = T + int(own)
    if mask_shape == "rows":                 # padding: some slots never written
        mask = np.zeros((B, 1, 1, K), np.float32)
        mask[0, ..., 3:T] = MASKED_SCORE
        mask[2, ..., 5] = MASKED_SCORE
    else:                                    # a bias per head (T5's relative positions)
        mask = rng.randn(1, H, 1, K).astype(np.float32)
    args = (mx.nd, q, keys, values, mx.nd.array(mask), H)
    own = extra if own else None
    ours = attend_one(*args, own=own, native=True).asnumpy()
    theirs = attend_one(*args, own=own, native=False).asnumpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
