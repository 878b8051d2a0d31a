"""BERT's transformer encoder: self-attention, post-LN layer, the layer stack.

RoBERTa, ALBERT and ELECTRA use this encoder as it is (same parameter names), so its names
are part of their checkpoint formats too::

    layers.{i}.attention.{query,key,value}.{weight,bias}   (units, units)
    layers.{i}.attention_proj.{weight,bias}                (units, units)
    layers.{i}.attention_layer_norm.{gamma,beta}
    layers.{i}.ffn_1.{weight,bias}                         (hidden_size, units)
    layers.{i}.ffn_2.{weight,bias}                         (units, hidden_size)
    layers.{i}.ffn_layer_norm.{gamma,beta}
"""
import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from heads._layers import MASKED_SCORE, LayerNorm, activation_block, dense

__all__ = ["BertSelfAttention", "BertLayer", "BertEncoder", "MASKED_SCORE"]


class BertSelfAttention(HybridBlock):
    """Multi-head scaled dot-product self-attention, time-major.

    The query/key/value projections are three Dense blocks so that checkpoints name them as
    every other BERT implementation does; their outputs are interleaved per head into the
    layout of MXNet's fused ``interleaved_matmul_selfatt_*`` kernels (the ones GluonNLP 0.10
    uses), which do scaling, the batched matmuls and the head split without transposes.
    """

    def __init__(self, units, num_heads, attention_dropout, initializer_range):
        super().__init__()
        self.units, self.num_heads = units, num_heads
        self.query = dense(units, units, initializer_range)
        self.key = dense(units, units, initializer_range)
        self.value = dense(units, units, initializer_range)
        self.dropout = nn.Dropout(attention_dropout)

    def _fused_qkv(self, F, x):
        """One (3*units, units) projection, rows interleaved per head as [q_h; k_h; v_h],
        built from the three Dense blocks' parameters (which keep the checkpoint names):
        one matrix product instead of three plus a copy of their outputs."""
        heads, head_dim, units = self.num_heads, self.units // self.num_heads, self.units

        def value(p):
            return p.var() if F is mx.sym else p.data(x.context)

        projections = (self.query, self.key, self.value)
        weight = F.reshape(F.stack(*[F.reshape(value(p.weight), shape=(heads, head_dim, units))
                                     for p in projections], axis=1), shape=(3 * units, units))
        bias = F.reshape(F.stack(*[F.reshape(value(p.bias), shape=(heads, head_dim))
                                   for p in projections], axis=1), shape=(3 * units,))
        return F.FullyConnected(x, weight, bias, num_hidden=3 * units, flatten=False)

    def hybrid_forward(self, F, x, key_mask=None):
        """x (L, B, units); key_mask (B*heads, L, L) or None -> context (L, B, units).

        ``key_mask[b*heads + h, :, k]`` is 0 where example ``b`` attends to key ``k`` and
        ``MASKED_SCORE`` where ``k`` is padding (see :class:`BertEncoder`).
        """
        qkv = self._fused_qkv(F, x)                                      # (L, B, heads*3*head_dim)
        scores = F.contrib.interleaved_matmul_selfatt_qk(qkv, heads=self.num_heads)  # (B*H, L, L)
        if key_mask is not None:
            scores = scores + key_mask
        probs = self.dropout(F.softmax(scores, axis=-1))
        return F.contrib.interleaved_matmul_selfatt_valatt(qkv, probs, heads=self.num_heads)


class BertLayer(HybridBlock):
    """One post-LayerNorm transformer layer: x -> LN(x + Attn(x)) -> LN(h + FFN(h))."""

    def __init__(self, config):
        super().__init__()
        c = config
        self.attention = BertSelfAttention(c.units, c.num_heads, c.attention_dropout,
                                           c.initializer_range)
        self.attention_proj = dense(c.units, c.units, c.initializer_range)
        self.attention_layer_norm = LayerNorm(epsilon=c.layer_norm_eps, in_channels=c.units)
        self.ffn_1 = dense(c.hidden_size, c.units, c.initializer_range)
        self.ffn_activation = activation_block(c.activation)
        self.ffn_2 = dense(c.units, c.hidden_size, c.initializer_range)
        self.ffn_layer_norm = LayerNorm(epsilon=c.layer_norm_eps, in_channels=c.units)
        self.dropout = nn.Dropout(c.dropout)

    def hybrid_forward(self, F, x, key_mask=None):
        """x (L, B, units); key_mask (B*heads, L, L) or None -> (L, B, units)."""
        h = self.attention_proj(self.attention(x, key_mask))
        h = self.attention_layer_norm(x + self.dropout(h))
        out = self.ffn_2(self.ffn_activation(self.ffn_1(h)))
        return self.ffn_layer_norm(h + self.dropout(out))




class BertEncoder(HybridBlock):
    """``num_layers`` BertLayers; turns ``valid_length`` into the attention mask once."""

    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_heads
        self.layers = nn.HybridSequential()
        for _ in range(config.num_layers):
            self.layers.add(BertLayer(config))

    def hybrid_forward(self, F, x, valid_length=None):
        """x (L, B, units) time-major; valid_length (B,) or None -> (L, B, units)."""
        key_mask = None
        if valid_length is not None:
            # An additive mask rather than softmax(length=...): MXNet 1.9.1's softmax with
            # lengths is ~10x slower than its plain (oneDNN) softmax. The mask is built once
            # in the scores' full shape so that every layer adds it elementwise: backward of
            # a broadcast add would reduce over it (~4 ms per layer at 8 x 128). It costs
            # one score-sized buffer per forward, against the one per layer that training
            # keeps anyway; BlockGrad tells backward that no gradient flows into it.
            keys = F.reshape(F.contrib.arange_like(x, axis=0), shape=(1, -1))        # (1, L)
            padding = F.broadcast_greater_equal(
                keys, F.reshape(F.cast(valid_length, "float32"), shape=(-1, 1)))     # (B, L)
            mask = F.reshape(padding * MASKED_SCORE, shape=(0, 1, 1, -1))           # (B,1,1,L)
            mask = F.broadcast_axis(mask, axis=1, size=self.num_heads)              # (B,H,1,L)
            mask = F.broadcast_like(mask, x, lhs_axes=(2,), rhs_axes=(0,))          # (B,H,L,L)
            key_mask = F.BlockGrad(F.reshape(mask, shape=(-3, 0, 0)))               # (B*H,L,L)
        for layer in self.layers:
            x = layer(x, key_mask)
        return x


