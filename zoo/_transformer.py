"""The BERT-shaped backbone that RoBERTa, ALBERT and ELECTRA specialize.

It reuses BERT's encoder (:class:`zoo.bert.BertEncoder`, same layer names) and adds the knobs
the descendants turn, each a class attribute or a config field, so a family module is
declarations and not a copy of the forward pass:

* ``config.embed_size`` (absent or ``None``: ``units``): the width of the embedding tables.
  When it differs from ``units`` (or the class sets ``always_project``, as ALBERT does), an
  ``embed_proj`` Dense maps the normalized embeddings up to ``units``.
* :meth:`position_ids`: BERT counts 0, 1, ...; RoBERTa overrides it.
* ``uses_token_types``: ``False`` makes the model ignore its ``token_types`` input.
* ``pooler_kind``: ``"dense"`` (tanh Dense over the first position, BERT/ALBERT/RoBERTa) or
  ``"first"`` (the first position's vector itself, no parameters, ELECTRA).

Parameter names (the checkpoint format) extend BERT's::

    word_embed.weight              (vocab_size, embed_size)  <- canonical side of the MLM tie
    token_type_embed.weight        (type_vocab_size, embed_size)
    position_embed.weight          (max_length, embed_size)
    embed_layer_norm.{gamma,beta}  (embed_size,)
    embed_proj.{weight,bias}       (units, embed_size)       (only with a projection)
    encoder.layers.{i}.*           as in zoo/bert.py
    pooler.{weight,bias}           (pooler_kind "dense" only)
"""
import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from checkpoints import tied
from heads._layers import LayerNorm, dense

from ._task import task_head_for
from .bert import BertEncoder

__all__ = ["TransformerModel", "task_head_for", "check_heads"]


@tied("mlm_decoder.decoder.weight", "word_embed.weight")
class TransformerModel(HybridBlock):
    """Embeddings (optionally factorized), post-LN encoder, pooler.

    As on :class:`zoo.bert.BertModel`, the MLM tie is declared on the backbone so that a
    with-head file's ``mlm_decoder.decoder.weight`` finds ``word_embed.weight`` here.
    """

    pooler_kind = "dense"
    uses_token_types = True
    always_project = False

    def __init__(self, config, *, use_pooler=True):
        super().__init__()
        c = self.config = config
        embed_size = getattr(c, "embed_size", None) or c.units
        self.embed_size = embed_size
        emb_init = mx.init.Normal(c.initializer_range)
        self.word_embed = nn.Embedding(c.vocab_size, embed_size, weight_initializer=emb_init)
        self.token_type_embed = nn.Embedding(c.type_vocab_size, embed_size,
                                             weight_initializer=emb_init)
        self.position_embed = nn.Embedding(c.max_length, embed_size, weight_initializer=emb_init)
        self.embed_layer_norm = LayerNorm(epsilon=c.layer_norm_eps, in_channels=embed_size)
        self.embed_dropout = nn.Dropout(c.dropout)
        self.has_embed_proj = self.always_project or embed_size != c.units
        if self.has_embed_proj:
            self.embed_proj = dense(c.units, embed_size, c.initializer_range)
        self.encoder = BertEncoder(c)
        self.use_pooler = bool(use_pooler)
        if self.use_pooler and self.pooler_kind == "dense":
            self.pooler = dense(c.units, c.units, c.initializer_range, activation="tanh")

    def position_ids(self, F, inputs):
        """inputs (B, L) -> position ids (1, L) or (B, L): here 0, 1, ..., L-1."""
        return F.expand_dims(F.contrib.arange_like(inputs, axis=1), axis=0)

    def embed(self, F, inputs, token_types=None):
        """inputs, token_types (B, L) -> the encoder's input (B, L, units)."""
        if token_types is None:
            token_types = F.zeros_like(inputs)
        elif not self.uses_token_types:
            # zeros *of* the ignored input, so a hybridized graph still consumes it (no
            # "input not used" warning) and its content cannot matter
            token_types = F.zeros_like(token_types)
        x = self.word_embed(inputs) + self.token_type_embed(token_types)
        x = F.broadcast_add(x, self.position_embed(self.position_ids(F, inputs)))
        x = self.embed_dropout(self.embed_layer_norm(x))
        return self.embed_proj(x) if self.has_embed_proj else x

    def encode(self, F, inputs, token_types=None, valid_length=None):
        """inputs, token_types (B, L); valid_length (B,) -> seq (B, L, units), pooled (B, units).

        pooled is None in a model built with ``use_pooler=False``; ``token_types=None`` means
        all zeros, ``valid_length=None`` no padding.
        """
        x = self.embed(F, inputs, token_types)
        # The fused attention kernels are time-major: (B, L, C) -> (L, B, C) and back.
        x = self.encoder(F.transpose(x, axes=(1, 0, 2)), valid_length)
        seq = F.transpose(x, axes=(1, 0, 2))
        if not self.use_pooler:
            return seq, None
        first = F.squeeze(F.slice_axis(x, axis=0, begin=0, end=1), axis=0)   # (B, units)
        return seq, (self.pooler(first) if self.pooler_kind == "dense" else first)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None):
        """inputs, token_types (B, L); valid_length (B,) -> seq (B, L, units), pooled (B, units)."""
        return self.encode(F, inputs, token_types, valid_length)


def check_heads(family, task, num_classes, **flags):
    """Refuse head combinations the way ``build_bert`` does; ``flags`` are name -> bool."""
    if task is not None:
        on = [k for k, v in flags.items() if v]
        if on:
            raise ValueError(f"{family}: a task head (task=...) cannot be combined with "
                             f"{'/'.join(on)}")
    elif num_classes is not None:
        raise ValueError(f"{family}: num_classes needs a task head (task=...)")
