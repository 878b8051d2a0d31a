"""GPT-2's decoder layer: causal self-attention and a pre-LayerNorm block, in two modes.

* Whole sequences (training, scoring, a generation prompt): time-major ``(L, B, units)``
  through MXNet's fused ``interleaved_matmul_selfatt_*`` kernels (as BERT's encoder), with
  one additive mask that is causal and hides padding keys.
* One new token per row against a key/value cache (generation): batch-major
  ``(B, units)``, the cache ``(B, heads, T, head_dim)`` an input, the new key and value
  outputs that the caller writes into the cache (:mod:`zoo.models.gpt2.decoding`).

Parameter names (the checkpoint format), Hugging Face's in brackets::

    attention_layer_norm.{gamma,beta}   (ln_1)
    attention.qkv.{weight,bias}         (3*units, units)  (attn.c_attn, transposed)
    attention.proj.{weight,bias}        (units, units)    (attn.c_proj, transposed)
    ffn_layer_norm.{gamma,beta}         (ln_2)
    ffn_1.{weight,bias}                 (hidden_size, units) (mlp.c_fc, transposed)
    ffn_2.{weight,bias}                 (units, hidden_size) (mlp.c_proj, transposed)

``attention.qkv`` keeps Hugging Face's row order (all query rows, then key, then value),
so conversion is a transpose and nothing else; the whole-sequence mode reorders the rows
per head into the fused kernels' layout inside the graph (a weight-sized copy, ~1 % of a
training step), the one-token mode reads them as they are.
"""
import math

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from heads._layers import MASKED_SCORE, LayerNorm, activation_block, dense

from ...decoding import attend_one

__all__ = ["GPT2SelfAttention", "GPT2Layer", "causal_mask", "parameter_value", "MASKED_SCORE"]


def parameter_value(F, param, like):
    """A parameter as the graph being built sees it: a variable when tracing, the data
    on ``like``'s context when running imperatively."""
    return param.var() if F is mx.sym else param.data(like.context)


class GPT2SelfAttention(HybridBlock):
    """Multi-head causal self-attention with GPT-2's fused query/key/value projection."""

    def __init__(self, units, num_heads, attention_dropout, initializer_range):
        super().__init__()
        self.units, self.num_heads = units, num_heads
        self.native_decode = False   # decided by the decoding graphs (zoo.decoding)
        self.head_dim = units // num_heads
        self.qkv = dense(3 * units, units, initializer_range)
        self.proj = dense(units, units, initializer_range)
        self.dropout = nn.Dropout(attention_dropout)

    def interleaved_qkv(self, F, x):
        """x (L, B, units) -> (L, B, heads * 3 * head_dim), per head [q_h; k_h; v_h]: the
        layout of the fused self-attention kernels, from the q|k|v rows of ``qkv``."""
        heads, head_dim, units = self.num_heads, self.head_dim, self.units
        weight = parameter_value(F, self.qkv.weight, x)
        weight = F.reshape(F.transpose(F.reshape(weight, shape=(3, heads, head_dim, units)),
                                       axes=(1, 0, 2, 3)), shape=(3 * units, units))
        bias = parameter_value(F, self.qkv.bias, x)
        bias = F.reshape(F.transpose(F.reshape(bias, shape=(3, heads, head_dim)),
                                     axes=(1, 0, 2)), shape=(3 * units,))
        return F.FullyConnected(x, weight, bias, num_hidden=3 * units, flatten=False)

    def attend(self, F, qkv, mask):
        """Interleaved qkv (L, B, ...); mask (B*heads, L, L) additive -> context (L, B, units)."""
        scores = F.contrib.interleaved_matmul_selfatt_qk(qkv, heads=self.num_heads)
        probs = self.dropout(F.softmax(scores + mask, axis=-1))
        return F.contrib.interleaved_matmul_selfatt_valatt(qkv, probs, heads=self.num_heads)

    def keys_values(self, F, qkv):
        """Interleaved qkv (L, B, ...) -> keys, values (B, heads, L, head_dim) for a cache."""
        split = F.reshape(qkv, shape=(0, 0, self.num_heads, 3, self.head_dim))

        def part(i):
            one = F.reshape(F.slice_axis(split, axis=3, begin=i, end=i + 1),
                            shape=(0, 0, 0, self.head_dim))
            return F.transpose(one, axes=(1, 2, 0, 3))
        return part(1), part(2)

    def attend_cached(self, F, x, key_mask, k_cache, v_cache):
        """One token per row against the cache.

        x (B, units) normalized input; key_mask (B, 1, 1, T + 1) additive over the T cache
        slots and the token itself (last); k_cache, v_cache (B * heads, T, head_dim) ->
        context (B, units), key and value of the token (B, heads, 1, head_dim). (The cache
        comes in the shape the batched products read: a reshape inside the graph would copy
        it, every layer, every step.)
        """
        heads, head_dim = self.num_heads, self.head_dim
        qkv = F.reshape(self.qkv(x), shape=(0, 3, heads, head_dim))
        # (B, 1, heads, d) and (B, heads, 1, d) are the same memory: reshapes, no copies
        q = F.reshape(F.slice_axis(qkv, axis=1, begin=0, end=1), shape=(-1, 1, head_dim))
        q = q * (1.0 / math.sqrt(head_dim))
        k = F.reshape(F.slice_axis(qkv, axis=1, begin=1, end=2), shape=(-1, heads, 1, head_dim))
        v = F.reshape(F.slice_axis(qkv, axis=1, begin=2, end=3), shape=(-1, heads, 1, head_dim))
        own = (F.reshape(k, shape=(-3, 0, 0)), F.reshape(v, shape=(-3, 0, 0)))  # (B*H, 1, d)
        context = attend_one(F, q, k_cache, v_cache, key_mask, heads, own=own,
                             native=self.native_decode)
        return F.reshape(context, shape=(-1, heads * head_dim)), k, v


class GPT2Layer(HybridBlock):
    """One pre-LayerNorm block: x + Attn(LN(x)), then h + FFN(LN(h))."""

    def __init__(self, config):
        super().__init__()
        c = config
        self.attention_layer_norm = LayerNorm(epsilon=c.layer_norm_eps, in_channels=c.units)
        self.attention = GPT2SelfAttention(c.units, c.num_heads, c.attention_dropout,
                                           c.initializer_range)
        self.ffn_layer_norm = LayerNorm(epsilon=c.layer_norm_eps, in_channels=c.units)
        self.ffn_1 = dense(c.hidden_size, c.units, c.initializer_range)
        self.ffn_activation = activation_block(c.activation)
        self.ffn_2 = dense(c.units, c.hidden_size, c.initializer_range)
        self.dropout = nn.Dropout(c.dropout)

    def _ffn(self, x):
        return x + self.dropout(self.ffn_2(self.ffn_activation(self.ffn_1(self.ffn_layer_norm(x)))))

    def sequence(self, F, x, mask):
        """x (L, B, units) time-major; mask (B*heads, L, L) -> output, interleaved qkv."""
        qkv = self.attention.interleaved_qkv(F, self.attention_layer_norm(x))
        x = x + self.dropout(self.attention.proj(self.attention.attend(F, qkv, mask)))
        return self._ffn(x), qkv

    def hybrid_forward(self, F, x, mask):
        """x (L, B, units) time-major; mask (B*heads, L, L) additive -> (L, B, units)."""
        return self.sequence(F, x, mask)[0]

    def step(self, F, x, key_mask, k_cache, v_cache):
        """x (B, units), one token per row (see :meth:`GPT2SelfAttention.attend_cached`)
        -> output (B, units), the token's key and value (B, heads, 1, head_dim)."""
        context, k, v = self.attention.attend_cached(F, self.attention_layer_norm(x), key_mask,
                                                     k_cache, v_cache)
        return self._ffn(x + self.attention.proj(context)), k, v


def causal_mask(F, x, valid_length, num_heads):
    """The additive attention mask of a right-padded batch: query ``i`` sees key ``j`` when
    ``j <= i`` and ``j < valid_length``. x (L, B, units) time-major -> (B*heads, L, L).

    Built once per forward in the scores' full shape so that every layer adds it
    elementwise (as BERT's encoder does); BlockGrad: no gradient flows into it.
    """
    steps = F.contrib.arange_like(x, axis=0)                                    # (L,)
    keys = F.reshape(steps, shape=(1, 1, -1))                                  # (1, 1, L)
    hidden = F.broadcast_greater(keys, F.reshape(steps, shape=(1, -1, 1)))      # (1, L, L)
    if valid_length is not None:
        padding = F.broadcast_greater_equal(
            keys, F.reshape(F.cast(valid_length, "float32"), shape=(-1, 1, 1)))   # (B, 1, L)
        hidden = F.broadcast_maximum(hidden, padding)                           # (B, L, L)
    else:
        hidden = F.broadcast_like(hidden, x, lhs_axes=(0,), rhs_axes=(1,))     # (B, L, L)
    mask = F.expand_dims(hidden * MASKED_SCORE, axis=1)                        # (B, 1, L, L)
    mask = F.broadcast_axis(mask, axis=1, size=num_heads)                      # (B, H, L, L)
    return F.BlockGrad(F.reshape(mask, shape=(-3, 0, 0)))
