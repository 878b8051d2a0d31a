"""GPT-2 (Radford et al., 2019): learned positions, pre-LN decoder layers, tied LM head.

Parameter names (the checkpoint format)::

    word_embed.weight               (vocab_size, units)  <- canonical side of the LM tie
    position_embed.weight           (max_length, units)
    layers.{i}.*                    see zoo/models/gpt2/layers.py
    final_layer_norm.{gamma,beta}   (units,)
    lm_head.weight                  (vocab_size, units)  (use_lm; = word_embed.weight
                                                          unless config.tie_word_embeddings
                                                          is False)

Forward contract (API.md): ``seq = model(inputs, valid_length)`` for the backbone,
``seq, lm_scores = model(inputs, valid_length)`` with ``use_lm=True``; right-padded inputs.
Every model also decodes incrementally for :func:`zoo.generate` (``decoding_session``).
"""
import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from checkpoints import tied
from heads._layers import LayerNorm

from .layers import GPT2Layer, causal_mask

__all__ = ["GPT2Model", "GPT2ForCausalLM", "build_gpt2", "TASKS"]


@tied("lm_head.weight", "word_embed.weight", when="tie_word_embeddings")
class GPT2Model(HybridBlock):
    """Token and position embeddings, ``num_layers`` pre-LN layers, a final LayerNorm.

    The LM tie is declared on the backbone, where it is inactive (no ``lm_head``), so that
    ``checkpoints.load`` maps a with-head file's ``lm_head.weight`` (the only copy a
    deduplicating MXNet save keeps) to this model's ``word_embed.weight``.
    """

    def __init__(self, config):
        super().__init__()
        c = self.config = config
        emb_init = mx.init.Normal(c.initializer_range)
        self.word_embed = nn.Embedding(c.vocab_size, c.units, weight_initializer=emb_init)
        self.position_embed = nn.Embedding(c.max_length, c.units, weight_initializer=emb_init)
        self.embed_dropout = nn.Dropout(c.embed_dropout)
        self.layers = nn.HybridSequential()
        for _ in range(c.num_layers):
            self.layers.add(GPT2Layer(c))
        self.final_layer_norm = LayerNorm(epsilon=c.layer_norm_eps, in_channels=c.units)

    def embed(self, F, inputs, positions):
        """Token ids (B, L) and position ids (B or 1, L) -> the first layer's input (B, L, units)."""
        return self.embed_dropout(F.broadcast_add(self.word_embed(inputs),
                                                  self.position_embed(positions)))

    def decode(self, F, inputs, valid_length=None, with_cache=False):
        """inputs (B, L), valid_length (B,) -> seq (B, L, units) (after the final
        LayerNorm); with ``with_cache`` also ``[keys, values]`` of every layer, each
        (B, heads, L, head_dim)."""
        positions = F.expand_dims(F.contrib.arange_like(inputs, axis=1), axis=0)
        # time-major for the fused attention kernels: (B, L, C) -> (L, B, C) and back
        x = F.transpose(self.embed(F, inputs, positions), axes=(1, 0, 2))
        mask = causal_mask(F, x, valid_length, self.config.num_heads)
        cache = []
        for layer in self.layers:
            if with_cache:
                x, qkv = layer.sequence(F, x, mask)
                cache.extend(layer.attention.keys_values(F, qkv))
            else:
                x = layer(x, mask)
        seq = F.transpose(self.final_layer_norm(x), axes=(1, 0, 2))
        return (seq, cache) if with_cache else seq

    def lm_parameter(self):
        """The (vocab_size, units) matrix that turns ``seq`` into next-token scores: the
        LM head's, which is the word embedding when tied (also in a head-less model)."""
        head = getattr(self, "lm_head", None)
        if head is not None:
            return head.weight
        if not self.config.tie_word_embeddings:
            raise ValueError("this GPT-2 has an untied LM head but was built without it; "
                             "build it with use_lm=True to score or generate")
        return self.word_embed.weight

    def lm_scores(self, F, seq, weight):
        """seq (..., units) -> scores (..., vocab_size) through the LM matrix ``weight``."""
        return F.FullyConnected(seq, weight, no_bias=True, num_hidden=self.config.vocab_size,
                                flatten=False)

    def hybrid_forward(self, F, inputs, valid_length=None):
        """inputs (B, L) right-padded; valid_length (B,) -> seq (B, L, units)."""
        return self.decode(F, inputs, valid_length)

    def decoding_session(self, prompts, max_new_tokens, ctx=None):
        """The incremental decoder :func:`zoo.generate` drives (see zoo/generation.py)."""
        from .decoding import GPT2DecodingSession
        return GPT2DecodingSession(self, prompts, max_new_tokens, ctx=ctx)


class GPT2ForCausalLM(GPT2Model):
    """The backbone plus the LM head (``use_lm=True``); inherits the ``word_embed`` tie."""

    def __init__(self, config):
        super().__init__(config)
        self.lm_head = nn.Dense(config.vocab_size, in_units=config.units, use_bias=False,
                                flatten=False,
                                weight_initializer=mx.init.Normal(config.initializer_range))

    def hybrid_forward(self, F, inputs, valid_length=None):
        """inputs (B, L) right-padded; valid_length (B,) -> seq (B, L, units),
        lm_scores (B, L, vocab_size): position ``t`` scores the token at ``t + 1``."""
        seq = self.decode(F, inputs, valid_length)
        return seq, self.lm_head(seq)


# the finetuning tasks of GPT-2 models: language modelling, with the LM head
TASKS = ("causal_lm",)


def build_gpt2(config, *, use_lm=False, task=None, num_classes=None):
    """The family's builder: the GPT-2 variant the flags ask for, not initialized; the
    ``causal_lm`` task is the LM model."""
    if task not in (None,) + TASKS or num_classes is not None:
        raise ValueError(f"gpt2 models finetune on {', '.join(TASKS)} (task={task!r}, "
                         f"num_classes={num_classes!r} given)")
    return GPT2ForCausalLM(config) if use_lm or task is not None else GPT2Model(config)
