"""T5's encoder and decoder stacks: RMS LayerNorm without bias, pre-LN layers with unscaled
attention and no biases, ReLU or gated-GELU feed-forward, and relative position buckets
whose learned bias is shared by the layers of each stack (see zoo/encoder_decoder.py for
the attention and the masks).

Parameter names (the checkpoint format), Hugging Face's in brackets, ``{s}`` a stack
(``encoder`` or ``decoder``), ``{i}`` a layer (HF ``block.{i}``)::

    {s}.embed_tokens.weight                       tied to the model's word_embed (shared)
    {s}.position_bias.weight  (buckets, heads)    (block.0.layer.0.SelfAttention.relative_attention_bias)
    encoder.layers.{i}.attention.{query,key,value,proj}.weight   (layer.0.SelfAttention.{q,k,v,o})
    encoder.layers.{i}.attention_layer_norm.gamma                (layer.0.layer_norm)
    decoder.layers.{i}.self_attention.*, self_attention_layer_norm   (layer.0 ...)
    decoder.layers.{i}.cross_attention.*, cross_attention_layer_norm (layer.1.EncDecAttention, ...)
    {s}.layers.{i}.ffn_1.weight          (DenseReluDense.wi; ReLU models)
    {s}.layers.{i}.ffn_gate.weight       (DenseReluDense.wi_0; gated: the activated branch)
    {s}.layers.{i}.ffn_linear.weight     (DenseReluDense.wi_1; gated: the linear branch)
    {s}.layers.{i}.ffn_2.weight          (DenseReluDense.wo)
    {s}.layers.{i}.ffn_layer_norm.gamma  (the feed-forward sublayer's layer_norm)
    {s}.final_layer_norm.gamma
"""
import functools
import math

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, nn

from heads._layers import activation_block, native_norm_applies

from ...encoder_decoder import MultiHeadAttention, causal_padding_mask, padding_mask

__all__ = ["RMSNorm", "relative_bucket_thresholds", "relative_buckets", "T5EncoderLayer",
           "T5DecoderLayer", "T5Encoder", "T5Decoder"]


class RMSNorm(HybridBlock):
    """gamma * x / sqrt(mean(x^2) + eps) over the last axis: no mean, no bias (T5's
    LayerNorm, Zhang & Sennrich 2019)."""

    def __init__(self, units, epsilon):
        super().__init__()
        self.epsilon = epsilon
        self.gamma = self.params.get("gamma", shape=(units,), init=mx.init.One())

    def hybrid_forward(self, F, x, gamma):
        if native_norm_applies(self.gamma):      # MXNet's ops: ~10x slower fwd + bwd on CPU
            return F.tiezoo_layer_norm(x, gamma, eps=self.epsilon, rms=1)
        scale = F.rsqrt(F.mean(F.square(x), axis=-1, keepdims=True) + self.epsilon)
        return F.broadcast_mul(F.broadcast_mul(x, scale), gamma)


# --------------------------------------------------------------- relative position buckets

@functools.lru_cache(maxsize=None)
def relative_bucket_thresholds(bidirectional, num_buckets, max_distance):
    """``(half, max_exact, thresholds)`` of T5's bucketing (Raffel et al., 2020, as Mesh
    TensorFlow and Hugging Face compute it): a distance ``n`` below ``max_exact`` is its
    own bucket; a larger one is ``max_exact`` plus the number of ``thresholds`` it reaches
    (log-spaced up to ``max_distance``, the last bucket beyond). ``half``: the bucket offset
    of keys after the query (bidirectional only).

    The reference computes ``max_exact + int(log(n / max_exact) / log(max_distance /
    max_exact) * (buckets - max_exact))`` in float32 for every pair of positions; the
    thresholds are where that integer steps, found here once in the same float32
    arithmetic, so that a graph compares integers instead of evaluating logarithms (whose
    last bit differs between libraries, and would flip buckets at the steps).
    """
    half = num_buckets // 2 if bidirectional else 0
    buckets = num_buckets // 2 if bidirectional else num_buckets
    max_exact = buckets // 2
    n = np.arange(max_exact, max(2 * max_distance, max_exact + 2), dtype=np.int64)
    scaled = (np.log(n.astype(np.float32) / np.float32(max_exact))
              / np.float32(math.log(max_distance / max_exact))
              * np.float32(buckets - max_exact))
    large = np.minimum(max_exact + scaled.astype(np.int64), buckets - 1)
    thresholds = [int(n[np.argmax(large >= max_exact + k)])
                  for k in range(1, buckets - max_exact) if (large >= max_exact + k).any()]
    return half, max_exact, thresholds


def relative_buckets(F, relative, bidirectional, num_buckets, max_distance):
    """Bucket ids (float) of relative positions ``key - query`` (a float array of integers,
    NDArray or Symbol, any shape); see :func:`relative_bucket_thresholds`."""
    half, max_exact, thresholds = relative_bucket_thresholds(bidirectional, num_buckets,
                                                             max_distance)
    if bidirectional:
        offset = (relative > 0) * half
        distance = F.abs(relative)
    else:
        offset = None
        distance = F.relu(-relative)
    large = distance * 0 + max_exact
    for t in thresholds:
        large = large + (distance >= t)
    bucket = F.where(distance < max_exact, distance, large)
    return bucket if offset is None else bucket + offset


# --------------------------------------------------------------------------------- layers

def _attention(c):
    f, d, h, u = c.initializer_factor, c.head_dim, c.num_heads, c.units
    return MultiHeadAttention(u, h, d, use_bias=False, scaled=False, dropout=c.attention_dropout,
                              query_init=mx.init.Normal(f * (u * d) ** -0.5),
                              key_value_init=mx.init.Normal(f * u ** -0.5),
                              proj_init=mx.init.Normal(f * (h * d) ** -0.5))


def _linear(units, in_units, std):
    return nn.Dense(units, in_units=in_units, use_bias=False, flatten=False,
                    weight_initializer=mx.init.Normal(std))


class _FeedForward(HybridBlock):
    """The pre-LN feed-forward sublayer: x + Dropout(ffn_2(Dropout(FFN_1(LN(x))))), with
    FFN_1 act(x W_1) or, gated, act(x W_gate) * (x W_linear)."""

    def __init__(self, c):
        super().__init__()
        self.gated = c.gated_activation
        f, u, i = c.initializer_factor, c.units, c.hidden_size
        if self.gated:
            self.ffn_gate = _linear(i, u, f * u ** -0.5)
            self.ffn_linear = _linear(i, u, f * u ** -0.5)
        else:
            self.ffn_1 = _linear(i, u, f * u ** -0.5)
        self.ffn_activation = activation_block(c.activation)
        self.ffn_2 = _linear(u, i, f * i ** -0.5)
        self.ffn_layer_norm = RMSNorm(u, c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout)

    def ffn(self, x):
        h = self.ffn_layer_norm(x)
        if self.gated:
            h = self.ffn_activation(self.ffn_gate(h)) * self.ffn_linear(h)
        else:
            h = self.ffn_activation(self.ffn_1(h))
        return x + self.dropout(self.ffn_2(self.dropout(h)))


class T5EncoderLayer(_FeedForward):
    def __init__(self, c):
        super().__init__(c)
        self.attention_layer_norm = RMSNorm(c.units, c.layer_norm_eps)
        self.attention = _attention(c)

    def hybrid_forward(self, F, x, mask):
        """x (S, B, units) time-major; mask (B*heads, S, S) with the position bias -> same."""
        x = x + self.dropout(self.attention.self_attend(F, self.attention_layer_norm(x), mask))
        return self.ffn(x)


class T5DecoderLayer(_FeedForward):
    def __init__(self, c):
        super().__init__(c)
        self.self_attention_layer_norm = RMSNorm(c.units, c.layer_norm_eps)
        self.self_attention = _attention(c)
        self.cross_attention_layer_norm = RMSNorm(c.units, c.layer_norm_eps)
        self.cross_attention = _attention(c)

    def hybrid_forward(self, F, x, self_mask, memory, cross_mask):
        """x (T, B, units) time-major; self_mask (B*heads, T, T) with the position bias;
        memory (S, B, units) the encoder output; cross_mask (B*heads, T, S) -> (T, B, units)."""
        h = self.self_attention.self_attend(F, self.self_attention_layer_norm(x), self_mask)
        x = x + self.dropout(h)
        h = self.cross_attention.cross_attend(F, self.cross_attention_layer_norm(x),
                                              self.cross_attention.memory(F, memory), cross_mask)
        return self.ffn(x + self.dropout(h))

    def step(self, F, x, self_mask, cross_mask, k_cache, v_cache, k_memory, v_memory):
        """One token per row: x (B, units) -> output (B, units), its key and value."""
        h, k, v = self.self_attention.self_step(F, self.self_attention_layer_norm(x), self_mask,
                                                k_cache, v_cache)
        x = x + h
        x = x + self.cross_attention.cross_step(F, self.cross_attention_layer_norm(x),
                                                cross_mask, k_memory, v_memory)
        return self.ffn(x), k, v


# --------------------------------------------------------------------------------- stacks

class _Stack(HybridBlock):
    """Token embedding (tied to the model's), the stack's relative position bias, layers,
    final RMS LayerNorm."""

    bidirectional = True

    def __init__(self, c, layer_class, num_layers):
        super().__init__()
        self.config = c
        self.embed_tokens = nn.Embedding(c.vocab_size, c.units,
                                         weight_initializer=mx.init.Normal(c.initializer_factor))
        self.position_bias = nn.Embedding(
            c.relative_attention_num_buckets, c.num_heads,
            weight_initializer=mx.init.Normal(c.initializer_factor * c.units ** -0.5))
        self.dropout = nn.Dropout(c.dropout)
        self.layers = nn.HybridSequential()
        for _ in range(num_layers):
            self.layers.add(layer_class(c))
        self.final_layer_norm = RMSNorm(c.units, c.layer_norm_eps)

    def bias(self, F, relative):
        """Relative positions (..., K) -> the learned bias (..., K, heads)."""
        c = self.config
        return self.position_bias(relative_buckets(
            F, relative, self.bidirectional, c.relative_attention_num_buckets,
            c.relative_attention_max_distance))

    def with_bias(self, F, x, mask):
        """x (L, B, C) time-major; mask (B*heads, L, L) or None -> mask + position bias."""
        steps = F.contrib.arange_like(x, axis=0)
        relative = F.broadcast_sub(F.reshape(steps, shape=(1, -1)), F.reshape(steps, shape=(-1, 1)))
        bias = F.expand_dims(F.transpose(self.bias(F, relative), axes=(2, 0, 1)), axis=0)
        heads = self.config.num_heads
        if mask is None:                                       # (1, H, L, L) -> (B, H, L, L)
            full = F.broadcast_like(bias, x, lhs_axes=(0,), rhs_axes=(1,))
        else:
            full = F.broadcast_add(F.reshape(mask, shape=(-4, -1, heads, 0, 0)), bias)
        return F.reshape(full, shape=(-3, 0, 0))

    def finish(self, x):
        return self.dropout(self.final_layer_norm(x))


class T5Encoder(_Stack):
    def __init__(self, c):
        super().__init__(c, T5EncoderLayer, c.num_layers)

    def hybrid_forward(self, F, src, valid_length=None):
        """src (B, S); valid_length (B,) -> (S, B, units) time-major."""
        x = F.transpose(self.dropout(self.embed_tokens(src)), axes=(1, 0, 2))
        mask = None if valid_length is None else \
            padding_mask(F, x, x, valid_length, self.config.num_heads)
        mask = self.with_bias(F, x, mask)
        for layer in self.layers:
            x = layer(x, mask)
        return self.finish(x)


class T5Decoder(_Stack):
    bidirectional = False

    def __init__(self, c):
        super().__init__(c, T5DecoderLayer, c.decoder_layers)

    def hybrid_forward(self, F, tgt, valid_length, memory, memory_valid_length):
        """tgt (B, T) decoder inputs; valid_length (B,) or None; memory (S, B, units) the
        encoder output; memory_valid_length (B,) or None -> (T, B, units) time-major."""
        x = F.transpose(self.dropout(self.embed_tokens(tgt)), axes=(1, 0, 2))
        heads = self.config.num_heads
        self_mask = self.with_bias(F, x, causal_padding_mask(F, x, valid_length, heads))
        cross_mask = None if memory_valid_length is None else \
            padding_mask(F, x, memory, memory_valid_length, heads)
        for layer in self.layers:
            x = layer(x, self_mask, memory, cross_mask)
        return self.finish(x)

    @staticmethod
    def step_input(step, slots):
        """Relative positions of the cache slots and of the token itself (last) from the
        token at ``step``: (1, slots + 1)."""
        relative = np.arange(slots + 1, dtype=np.float32) - step
        relative[-1] = 0.0
        return relative.reshape(1, -1)

    def step(self, F, tokens, relative, self_mask, cross_mask, cache, memory):
        """tokens (B, 1); relative (1, T + 1) from :meth:`step_input`; masks (B, 1, 1, T + 1)
        and (B, 1, 1, S); cache and memory: keys, values of every layer -> output (B, units)
        and the new keys and values of every layer."""
        x = F.reshape(self.dropout(self.embed_tokens(tokens)), shape=(-1, self.config.units))
        bias = F.expand_dims(F.transpose(self.bias(F, relative), axes=(0, 2, 1)), axis=2)
        self_mask = F.broadcast_add(self_mask, bias)                     # (B, H, 1, T + 1)
        new = []
        for i, layer in enumerate(self.layers):
            x, k, v = layer.step(F, x, self_mask, cross_mask, cache[2 * i], cache[2 * i + 1],
                                 memory[2 * i], memory[2 * i + 1])
            new += [k, v]
        return self.finish(x), new
