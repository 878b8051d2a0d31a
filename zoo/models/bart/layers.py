"""BART's encoder and decoder stacks: learned positions (offset by two rows), a LayerNorm on
the embeddings, post-LayerNorm layers (as BERT's), and the decoder in whole-sequence and
one-token modes (see zoo/encoder_decoder.py for the attention and the masks).

Parameter names (the checkpoint format), Hugging Face's in brackets, ``{s}`` a stack
(``encoder`` or ``decoder``)::

    {s}.embed_tokens.weight              tied to the model's word_embed (shared)
    {s}.position_embed.weight            (max_length + 2, units)     (embed_positions)
    {s}.embed_layer_norm.{gamma,beta}                                (layernorm_embedding)
    encoder.layers.{i}.attention.{query,key,value,proj}              (self_attn.{q,k,v,out}_proj)
    encoder.layers.{i}.attention_layer_norm                          (self_attn_layer_norm)
    decoder.layers.{i}.self_attention.*, self_attention_layer_norm   (self_attn, ...)
    decoder.layers.{i}.cross_attention.*, cross_attention_layer_norm (encoder_attn, ...)
    {s}.layers.{i}.ffn_1, ffn_2, ffn_layer_norm                      (fc1, fc2, final_layer_norm)
"""
import math

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, nn

from heads._layers import LayerNorm, activation_block, dense

from ...encoder_decoder import MultiHeadAttention, causal_padding_mask, padding_mask
from .config import POSITION_OFFSET

__all__ = ["BartEncoderLayer", "BartDecoderLayer", "BartEncoder", "BartDecoder"]


def _attention(c):
    init = mx.init.Normal(c.initializer_range)
    return MultiHeadAttention(c.units, c.num_heads, c.head_dim, use_bias=True, scaled=True,
                              dropout=c.attention_dropout, query_init=init,
                              key_value_init=init, proj_init=init)


def _norm(c):
    return LayerNorm(epsilon=c.layer_norm_eps, in_channels=c.units)


class _FeedForward(HybridBlock):
    """The post-LN feed-forward sublayer: LN(x + Dropout(fc2(Dropout(act(fc1(x))))))."""

    def __init__(self, c):
        super().__init__()
        self.ffn_1 = dense(c.hidden_size, c.units, c.initializer_range)
        self.ffn_activation = activation_block(c.activation)
        self.activation_dropout = nn.Dropout(c.activation_dropout)
        self.ffn_2 = dense(c.units, c.hidden_size, c.initializer_range)
        self.ffn_layer_norm = _norm(c)
        self.dropout = nn.Dropout(c.dropout)

    def ffn(self, x):
        h = self.activation_dropout(self.ffn_activation(self.ffn_1(x)))
        return self.ffn_layer_norm(x + self.dropout(self.ffn_2(h)))


class BartEncoderLayer(_FeedForward):
    """Self-attention then feed-forward, each followed by residual + LayerNorm."""

    def __init__(self, c):
        super().__init__(c)
        self.attention = _attention(c)
        self.attention_layer_norm = _norm(c)

    def hybrid_forward(self, F, x, mask):
        """x (S, B, units) time-major; mask (B*heads, S, S) -> (S, B, units)."""
        x = self.attention_layer_norm(x + self.dropout(self.attention.self_attend(F, x, mask)))
        return self.ffn(x)


class BartDecoderLayer(_FeedForward):
    """Causal self-attention, cross-attention, feed-forward; each residual + LayerNorm."""

    def __init__(self, c):
        super().__init__(c)
        self.self_attention = _attention(c)
        self.self_attention_layer_norm = _norm(c)
        self.cross_attention = _attention(c)
        self.cross_attention_layer_norm = _norm(c)

    def hybrid_forward(self, F, x, self_mask, memory, cross_mask):
        """x (T, B, units) time-major; self_mask (B*heads, T, T); memory (S, B, units) the
        encoder output; cross_mask (B*heads, T, S) -> (T, B, units)."""
        h = self.self_attention.self_attend(F, x, self_mask)
        x = self.self_attention_layer_norm(x + self.dropout(h))
        h = self.cross_attention.cross_attend(F, x, self.cross_attention.memory(F, memory),
                                              cross_mask)
        x = self.cross_attention_layer_norm(x + self.dropout(h))
        return self.ffn(x)

    def step(self, F, x, self_mask, cross_mask, k_cache, v_cache, k_memory, v_memory):
        """One token per row: x (B, units) -> output (B, units), its key and value
        (B, heads, 1, head_dim); see :class:`zoo.encoder_decoder.MultiHeadAttention`."""
        h, k, v = self.self_attention.self_step(F, x, self_mask, k_cache, v_cache)
        x = self.self_attention_layer_norm(x + h)
        h = self.cross_attention.cross_step(F, x, cross_mask, k_memory, v_memory)
        x = self.cross_attention_layer_norm(x + h)
        return self.ffn(x), k, v


class _Stack(HybridBlock):
    """Token embedding (tied to the model's), learned positions, embedding LayerNorm."""

    def __init__(self, c, layer_class, num_layers):
        super().__init__()
        self.config = c
        init = mx.init.Normal(c.initializer_range)
        self.embed_scale = math.sqrt(c.units) if c.scale_embedding else 1.0
        self.embed_tokens = nn.Embedding(c.vocab_size, c.units, weight_initializer=init)
        self.position_embed = nn.Embedding(c.max_length + POSITION_OFFSET, c.units,
                                           weight_initializer=init)
        self.embed_layer_norm = _norm(c)
        self.embed_dropout = nn.Dropout(c.dropout)
        self.layers = nn.HybridSequential()
        for _ in range(num_layers):
            self.layers.add(layer_class(c))

    def embed(self, F, ids, positions):
        """ids (B, L), positions (B or 1, L) -> (B, L, units), normalized."""
        x = self.embed_tokens(ids)
        if self.embed_scale != 1.0:
            x = x * self.embed_scale
        x = F.broadcast_add(x, self.position_embed(positions + POSITION_OFFSET))
        return self.embed_dropout(self.embed_layer_norm(x))

    def embed_sequence(self, F, ids):
        """ids (B, L) at positions 0..L-1 -> the first layer's input (L, B, units)."""
        positions = F.expand_dims(F.contrib.arange_like(ids, axis=1), axis=0)
        return F.transpose(self.embed(F, ids, positions), axes=(1, 0, 2))


class BartEncoder(_Stack):
    def __init__(self, c):
        super().__init__(c, BartEncoderLayer, c.num_layers)

    def hybrid_forward(self, F, src, valid_length=None):
        """src (B, S); valid_length (B,) -> (S, B, units) time-major."""
        x = self.embed_sequence(F, src)
        mask = None if valid_length is None else \
            padding_mask(F, x, x, valid_length, self.config.num_heads)
        for layer in self.layers:
            x = layer(x, mask)
        return x


class BartDecoder(_Stack):
    def __init__(self, c):
        super().__init__(c, BartDecoderLayer, c.decoder_layers)

    def hybrid_forward(self, F, tgt, valid_length, memory, memory_valid_length):
        """tgt (B, T) decoder inputs; valid_length (B,) or None; memory (S, B, units) the
        encoder output; memory_valid_length (B,) or None -> (T, B, units) time-major."""
        x = self.embed_sequence(F, tgt)
        heads = self.config.num_heads
        self_mask = causal_padding_mask(F, x, valid_length, heads)
        cross_mask = None if memory_valid_length is None else \
            padding_mask(F, x, memory, memory_valid_length, heads)
        for layer in self.layers:
            x = layer(x, self_mask, memory, cross_mask)
        return x

    @staticmethod
    def step_input(step, slots):
        """What :meth:`step` needs to know of the position: the step itself, (1, 1)."""
        return np.full((1, 1), step, dtype=np.float32)

    def step(self, F, tokens, position, self_mask, cross_mask, cache, memory):
        """tokens (B, 1) at ``position`` (1, 1); masks (B, 1, 1, T + 1) and (B, 1, 1, S);
        cache and memory: keys, values of every layer -> output (B, units) and the new
        keys and values of every layer."""
        x = F.reshape(self.embed(F, tokens, position), shape=(-1, self.config.units))
        new = []
        for i, layer in enumerate(self.layers):
            x, k, v = layer.step(F, x, self_mask, cross_mask, cache[2 * i], cache[2 * i + 1],
                                 memory[2 * i], memory[2 * i + 1])
            new += [k, v]
        return x, new
