"""Small building blocks shared by the backbones in ``zoo`` and the heads here."""
import math

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

__all__ = ["ACTIVATIONS", "GELUTanh", "LayerNorm", "activation_block", "dense",
           "gather_positions", "DropoutClassifier"]

# MXNet's ``LeakyReLU(act_type='gelu')`` (what ``nn.GELU`` calls) is the exact erf form
# 0.5 * x * (1 + erf(x / sqrt(2))), which is what BERT, Hugging Face's "gelu" and
# GluonNLP 0.10's default compute. The tanh approximation is a different function, so it is
# offered under its own name, "gelu_tanh" (Hugging Face's "gelu_new", ALBERT's default).


# Every family's attention masks add this to the score of a key nobody may attend to (padding,
# later positions, unwritten cache slots): exp(MASKED_SCORE - max) is exactly 0 in
# float32, so padding gets probability exactly 0 (finite, so that a row with no valid key
# stays defined, as in Hugging Face, which adds the dtype's minimum). tiezoo_decode_attention
# skips slots at or below -1e20 for that reason.
MASKED_SCORE = -1e30


class GELUTanh(HybridBlock):
    """0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))): the tanh-approximate GELU."""

    def hybrid_forward(self, F, x):
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))
        return 0.5 * x * (1.0 + F.tanh(inner))


ACTIVATIONS = {"gelu": nn.GELU, "relu": lambda: nn.Activation("relu"), "gelu_tanh": GELUTanh}


def native_norm_applies(*params):
    """Whether a norm over ``params`` (gamma, beta) may run the native ``tiezoo_layer_norm``
    (see :class:`LayerNorm`): it is loaded, every parameter is on CPU and none accumulates
    its gradient (``grad_req="add"``: extension operators are not told to add)."""
    if not LayerNorm.native_op:
        return False
    if any(p.grad_req not in ("write", "null") for p in params):
        return False
    try:
        return all(c.device_type == "cpu" for p in params for c in p.list_ctx())
    except RuntimeError:        # not initialized yet: decided again at the next build
        return False


class LayerNorm(nn.LayerNorm):
    """``nn.LayerNorm`` over the last axis (same parameters and result) that runs tiezoo's
    native ``tiezoo_layer_norm`` when it is loaded (``zoo._native`` sets ``native_op``): its
    backward is ~8x faster than MXNet 1.9.1's (4096 x 512 on 2 cores: 4.6 ms against 38 ms
    forward + backward), which takes LayerNorm from 13 % of a bert_small finetuning step to 2 %.

    The choice is made when the graph is built: MXNet's own operator is used on non-CPU
    contexts and when gamma or beta accumulate gradients (``grad_req="add"``), since
    extension operators are not told to add to a gradient rather than overwrite it. A graph
    that uses the native operator needs ``import zoo`` wherever it is loaded (export).
    """

    native_op = False      # set by zoo._native.load() once the operator is registered

    def _use_native(self):
        return self._axis == -1 and native_norm_applies(self.gamma, self.beta)

    def hybrid_forward(self, F, data, gamma, beta):
        if self._use_native():
            return F.tiezoo_layer_norm(data, gamma, beta, eps=self._epsilon)
        return super().hybrid_forward(F, data, gamma, beta)


def activation_block(name):
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; known: {sorted(ACTIVATIONS)}") from None


def dense(units, in_units, initializer_range, **kwargs):
    """``nn.Dense`` over the last axis with the BERT initialization.

    ``in_units`` is always given so that shapes are known at construction: ties can then be
    checked right away and ``initialize()`` allocates without a forward pass.
    """
    return nn.Dense(units, in_units=in_units, flatten=False,
                    weight_initializer=mx.init.Normal(initializer_range), **kwargs)


def gather_positions(F, seq, positions):
    """Pick ``seq[b, positions[b, p]]``.

    seq: (B, L, C); positions: (B, P) integer-valued -> (B, P, C).
    """
    positions = F.cast(positions, "int32")
    # batch index of every entry of ``positions``: [[0, 0, ..], [1, 1, ..], ..]
    batch = F.broadcast_like(F.expand_dims(F.contrib.arange_like(positions, axis=0), axis=1),
                             positions)
    index = F.stack(F.cast(batch, "int32"), positions, axis=0)   # (2, B, P)
    return F.gather_nd(seq, index)


class DropoutClassifier(HybridBlock):
    """Dropout + Dense(num_classes) as child ``classifier``: the parameters of the
    classification and tagging heads, which differ only in what they read."""

    def __init__(self, units, num_classes, *, dropout=0.1, initializer_range=0.02):
        super().__init__()
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.classifier = dense(num_classes, units, initializer_range)
