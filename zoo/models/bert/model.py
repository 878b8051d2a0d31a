"""BERT (Devlin et al., 2019): the backbone, the pretraining model and the task model.

:class:`BertModel` is also the BERT-shaped backbone that RoBERTa, ALBERT and ELECTRA
specialize: each knob they turn is a class attribute or a config field, so their family
folders hold declarations, not copies of the forward pass:

* ``config.embed_size`` (absent or ``None``: ``units``): the width of the embedding tables.
  When it differs from ``units`` (or the class sets ``always_project``, as ALBERT does), an
  ``embed_proj`` Dense maps the normalized embeddings up to ``units``.
* :meth:`BertModel.position_ids`: BERT counts 0, 1, ...; RoBERTa overrides it.
* ``uses_token_types``: ``False`` makes the model ignore its ``token_types`` input.
* ``pooler_kind``: ``"dense"`` (tanh Dense over the first position) or ``"first"`` (the
  first position's vector itself, no parameters: ELECTRA).

Parameter names (structural, as MXNet prints them) are the checkpoint format::

    word_embed.weight                 (vocab_size, embed_size)  <- canonical side of the MLM tie
    token_type_embed.weight           (type_vocab_size, embed_size)
    position_embed.weight             (max_length, embed_size)
    embed_layer_norm.{gamma,beta}     (embed_size,)
    embed_proj.{weight,bias}          (units, embed_size)       (only with a projection)
    encoder.layers.{i}.*              see zoo/models/bert/layers.py
    pooler.{weight,bias}              (units, units)   (pooler_kind "dense"; not in tagging/QA)
    mlm_decoder.{transform,layer_norm,decoder}.*  (use_mlm; decoder.weight tied when
                                                   config.tie_word_embeddings)
    nsp_classifier.{weight,bias}      (use_nsp)
    head.*                            (task models)

Every model class is a subclass of the backbone, not a wrapper around it, so the backbone's
names stay at the top level in every variant and a head-less checkpoint maps onto a
with-head model (and back) name for name.
"""
import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from checkpoints import tied
from heads import MLMHead, NSPHead, make_task_head
from heads._layers import LayerNorm, dense

from .layers import BertEncoder

__all__ = ["BertModel", "BertForPretraining", "BertForTask", "TaskModelMixin", "build_bert",
           "check_heads", "task_head_for"]


@tied("mlm_decoder.decoder.weight", "word_embed.weight", when="tie_word_embeddings")
class BertModel(HybridBlock):
    """Embeddings (optionally factorized), post-LN encoder, pooler.

    The MLM tie is declared here, on the backbone, although only the pretraining model has
    an ``mlm_decoder``: here it is inactive, but it tells ``checkpoints.load`` that a file's
    ``mlm_decoder.decoder.weight`` (the only copy MXNet's and GluonNLP's
    ``save_parameters(deduplicate=True)`` keep) is this model's ``word_embed.weight``, so
    with-head files load into the head-less model. With ``tie_word_embeddings=False`` the
    decoder has a weight of its own, and a head-less model leaves it unused.
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
        # Task heads that read only ``seq`` (tagging, QA) go without the pooler, as Hugging
        # Face's do: a parameter outside the graph would make gluon.Trainer refuse to step.
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

        pooled is None in a model built with ``use_pooler=False``; ``token_types=None``
        means all zeros, ``valid_length=None`` no padding. Positions at or past
        ``valid_length`` attend to nothing padded but still get (meaningless) outputs, as
        in Hugging Face.
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


def mlm_head(config, **kwargs):
    """The MLM head of a BERT-shaped model of ``config`` (decoder as wide as the embedding)."""
    c = config
    kwargs.setdefault("activation", c.activation)
    return MLMHead(c.units, c.vocab_size, layer_norm_eps=c.layer_norm_eps,
                   initializer_range=c.initializer_range,
                   embed_size=getattr(c, "embed_size", None), **kwargs)


class BertForPretraining(BertModel):
    """The backbone plus the MLM and/or NSP heads; inherits the ``word_embed`` tie."""

    def __init__(self, config, *, use_mlm=True, use_nsp=True):
        super().__init__(config)
        if not (use_mlm or use_nsp):
            raise ValueError("BertForPretraining needs use_mlm or use_nsp; use BertModel")
        self.use_mlm, self.use_nsp = bool(use_mlm), bool(use_nsp)
        if use_mlm:
            self.mlm_decoder = mlm_head(config)
        if use_nsp:
            self.nsp_classifier = NSPHead(config.units, initializer_range=config.initializer_range)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None,
                       masked_positions=None):
        """-> ``seq, pooled[, mlm_scores][, nsp_scores]``.

        inputs, token_types (B, L); valid_length (B,); masked_positions (B, P).
        seq (B, L, units); pooled (B, units); mlm_scores (B, P, vocab_size), or
        (B, L, vocab_size) for every position when masked_positions is None;
        nsp_scores (B, 2).
        """
        seq, pooled = self.encode(F, inputs, token_types, valid_length)
        outputs = [seq, pooled]
        if self.use_mlm:
            outputs.append(self.mlm_decoder(seq, masked_positions))
        if self.use_nsp:
            outputs.append(self.nsp_classifier(pooled))
        return tuple(outputs)


class TaskModelMixin:
    """A backbone plus one task head (see :mod:`heads`), as child ``head``.

    Goes first in the bases of a family's task model (``class BertForTask(TaskModelMixin,
    BertModel)``). The backbone is built without a pooler when the head reads only ``seq``
    (tagging, QA), as Hugging Face's are.
    """

    def __init__(self, config, head):
        super().__init__(config, use_pooler=getattr(head, "uses_pooled", True))
        self.head = head

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None):
        """inputs, token_types (B, L); valid_length (B,) -> the head's output (see heads)."""
        seq, pooled = self.encode(F, inputs, token_types, valid_length)
        return self.head(seq, pooled, valid_length)


class BertForTask(TaskModelMixin, BertModel):
    """The backbone plus one task head (see :mod:`heads`), as child ``head``."""


def task_head_for(config, task, num_classes):
    """The task head for a backbone of ``config`` (see :func:`heads.make_task_head`)."""
    return make_task_head(task, config.units, num_classes=num_classes, dropout=config.dropout,
                          initializer_range=config.initializer_range)


def check_heads(family, task, num_classes, **flags):
    """Refuse head combinations no model has; ``flags`` are name -> bool."""
    if task is not None:
        on = [k for k, v in flags.items() if v]
        if on:
            raise ValueError(f"{family}: a task head (task=...) cannot be combined with "
                             f"{'/'.join(on)}")
    elif num_classes is not None:
        raise ValueError(f"{family}: num_classes needs a task head (task=...)")


def build_bert(config, *, use_mlm=False, use_nsp=False, task=None, num_classes=None):
    """The family's builder: the BERT variant the flags ask for, not initialized."""
    check_heads("bert", task, num_classes, use_mlm=use_mlm, use_nsp=use_nsp)
    if task is not None:
        return BertForTask(config, task_head_for(config, task, num_classes))
    if use_mlm or use_nsp:
        return BertForPretraining(config, use_mlm=use_mlm, use_nsp=use_nsp)
    return BertModel(config)
