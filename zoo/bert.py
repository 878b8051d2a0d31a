"""BERT (Devlin et al., 2019): config, backbone, pretraining and task models, presets.

Parameter names (structural, as ``Block._collect_params_with_prefix`` prints them) are the
checkpoint format, so they are chosen once and documented here::

    word_embed.weight                 (vocab_size, units)   <- canonical side of the MLM tie
    token_type_embed.weight           (type_vocab_size, units)
    position_embed.weight             (max_length, units)
    embed_layer_norm.{gamma,beta}
    encoder.layers.{i}.attention.{query,key,value}.{weight,bias}
    encoder.layers.{i}.attention_proj.{weight,bias}
    encoder.layers.{i}.attention_layer_norm.{gamma,beta}
    encoder.layers.{i}.ffn_1.{weight,bias}        (hidden_size, units)
    encoder.layers.{i}.ffn_2.{weight,bias}        (units, hidden_size)
    encoder.layers.{i}.ffn_layer_norm.{gamma,beta}
    pooler.{weight,bias}                          (absent in tagging/QA task models)
    mlm_decoder.{transform,layer_norm,decoder}.*  (with use_mlm; decoder.weight is tied)
    nsp_classifier.{weight,bias}                  (with use_nsp)
    head.*                                        (task models)

Every model class below is a subclass of :class:`BertModel`, not a wrapper around it, so the
backbone's names stay at the top level in every variant and a head-less checkpoint maps onto
a with-head model (and back) name for name. ``checkpoints/convert_bert.py`` maps these
names to Hugging Face's and GluonNLP 0.10's.
"""
import dataclasses
from typing import ClassVar

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

from checkpoints import tied
from heads import MLMHead, NSPHead
from heads._layers import ACTIVATIONS, LayerNorm, activation_block, dense

from ._registry import register_model
from ._task import TaskModelMixin, task_head_for

__all__ = ["BertConfig", "BertModel", "BertForPretraining", "BertForTask", "BertLayer",
           "BertEncoder", "BertSelfAttention", "build_bert"]


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Everything that defines a BERT; a preset is one instance of this.

    ``units`` is the model width (Hugging Face ``hidden_size``); ``hidden_size`` is the
    feed-forward inner width (Hugging Face ``intermediate_size``), as in GluonNLP.
    """
    vocab_size: int = 30522
    units: int = 768
    hidden_size: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    max_length: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    activation: str = "gelu"          # exact (erf) GELU
    initializer_range: float = 0.02   # std of the normal initializer of weights

    family: ClassVar[str] = "bert"
    # Fields that change neither parameter shapes nor the function a trained model computes.
    TRAINING_FIELDS: ClassVar[tuple] = ("dropout", "attention_dropout", "initializer_range")

    def __post_init__(self):
        for f in ("vocab_size", "units", "hidden_size", "num_layers", "num_heads",
                  "max_length", "type_vocab_size"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"BertConfig.{f} must be a positive int, got {v!r}")
        if self.units % self.num_heads:
            raise ValueError(f"BertConfig: units={self.units} is not divisible by "
                             f"num_heads={self.num_heads}")
        for f in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, f) < 1.0:
                raise ValueError(f"BertConfig.{f} must be in [0, 1), got {getattr(self, f)!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"BertConfig.activation {self.activation!r} is not one of "
                             f"{sorted(ACTIVATIONS)}")

    def to_dict(self):
        """A JSON-able dict, with ``family`` so that a checkpoint names its own builder."""
        return {"family": self.family, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        family = d.pop("family", cls.family)
        if family != cls.family:
            raise ValueError(f"config of family {family!r} given to {cls.__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(known)}")
        return cls(**d)

    def architecture(self):
        """The fields that a checkpoint's tensors and outputs depend on."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in self.TRAINING_FIELDS}


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


# Added to the attention score of every padding key: exp(MASKED_SCORE - max) is exactly 0 in
# float32, so padding gets probability exactly 0 (finite, so that a row with no valid key
# stays defined, as in Hugging Face, which adds the dtype's minimum).
MASKED_SCORE = -1e30


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


@tied("mlm_decoder.decoder.weight", "word_embed.weight")
class BertModel(HybridBlock):
    """The BERT backbone: embeddings, post-LN encoder, tanh pooler.

    The MLM tie is declared here, on the backbone, although only
    :class:`BertForPretraining` has an ``mlm_decoder``: here it is inactive, but it tells
    ``checkpoints.load`` that a file's ``mlm_decoder.decoder.weight`` (the only copy that
    MXNet's and GluonNLP's ``save_parameters(deduplicate=True)`` keep) is this model's
    ``word_embed.weight``, so with-head files load into the head-less model.
    """

    def __init__(self, config, *, use_pooler=True):
        super().__init__()
        c = self.config = config
        emb_init = mx.init.Normal(c.initializer_range)
        self.word_embed = nn.Embedding(c.vocab_size, c.units, weight_initializer=emb_init)
        self.token_type_embed = nn.Embedding(c.type_vocab_size, c.units,
                                             weight_initializer=emb_init)
        self.position_embed = nn.Embedding(c.max_length, c.units, weight_initializer=emb_init)
        self.embed_layer_norm = LayerNorm(epsilon=c.layer_norm_eps, in_channels=c.units)
        self.embed_dropout = nn.Dropout(c.dropout)
        self.encoder = BertEncoder(c)
        # Task heads that read only ``seq`` (tagging, QA) go without the pooler, as Hugging
        # Face's do: a parameter outside the graph would make gluon.Trainer refuse to step.
        if use_pooler:
            self.pooler = dense(c.units, c.units, c.initializer_range, activation="tanh")
        self.use_pooler = use_pooler

    def encode(self, F, inputs, token_types=None, valid_length=None):
        """inputs, token_types (B, L); valid_length (B,) -> seq (B, L, units), pooled (B, units).

        pooled is None in a model built with ``use_pooler=False``. ``token_types=None`` means all zeros, ``valid_length=None`` no padding. Positions at
        or past ``valid_length`` attend to nothing padded, but still get (meaningless) outputs,
        as in Hugging Face.
        """
        if token_types is None:
            token_types = F.zeros_like(inputs)
        positions = F.contrib.arange_like(inputs, axis=1)                  # (L,)
        x = F.broadcast_add(self.word_embed(inputs) + self.token_type_embed(token_types),
                            F.expand_dims(self.position_embed(positions), axis=0))
        x = self.embed_dropout(self.embed_layer_norm(x))
        # The fused attention kernels are time-major: (B, L, C) -> (L, B, C) and back.
        x = self.encoder(F.transpose(x, axes=(1, 0, 2)), valid_length)
        seq = F.transpose(x, axes=(1, 0, 2))
        if not self.use_pooler:
            return seq, None
        first = F.squeeze(F.slice_axis(x, axis=0, begin=0, end=1), axis=0)   # [CLS], (B, C)
        return seq, self.pooler(first)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None):
        """inputs, token_types (B, L); valid_length (B,) -> seq (B, L, units), pooled (B, units)."""
        return self.encode(F, inputs, token_types, valid_length)


class BertForPretraining(BertModel):
    """The backbone plus the MLM and/or NSP heads; inherits the ``word_embed`` tie."""

    def __init__(self, config, *, use_mlm=True, use_nsp=True):
        super().__init__(config)
        if not (use_mlm or use_nsp):
            raise ValueError("BertForPretraining needs use_mlm or use_nsp; use BertModel")
        self.use_mlm, self.use_nsp = bool(use_mlm), bool(use_nsp)
        c = config
        if use_mlm:
            self.mlm_decoder = MLMHead(c.units, c.vocab_size, activation=c.activation,
                                       layer_norm_eps=c.layer_norm_eps,
                                       initializer_range=c.initializer_range)
        if use_nsp:
            self.nsp_classifier = NSPHead(c.units, initializer_range=c.initializer_range)

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


class BertForTask(TaskModelMixin, BertModel):
    """The backbone plus one task head (see :mod:`heads`), as child ``head``."""



def build_bert(config, *, use_mlm=False, use_nsp=False, task=None, num_classes=None):
    """The registry builder: the BERT variant the flags ask for, not initialized."""
    if task is not None:
        if use_mlm or use_nsp:
            raise ValueError("a task head (task=...) cannot be combined with use_mlm/use_nsp")
        return BertForTask(config, task_head_for(config, task, num_classes))
    if num_classes is not None:
        raise ValueError("num_classes needs a task head (task=...)")
    if use_mlm or use_nsp:
        return BertForPretraining(config, use_mlm=use_mlm, use_nsp=use_nsp)
    return BertModel(config)


# Presets: the published BERT sizes (Devlin et al. 2019; Turc et al. 2019 for tiny..medium),
# FFN width 4 x units, uncased English WordPiece vocabulary size.
_PRESETS = {
    "bert_tiny": dict(num_layers=2, units=128, num_heads=2),
    "bert_mini": dict(num_layers=4, units=256, num_heads=4),
    "bert_small": dict(num_layers=4, units=512, num_heads=8),
    "bert_medium": dict(num_layers=8, units=512, num_heads=8),
    "bert_base": dict(num_layers=12, units=768, num_heads=12),
    "bert_large": dict(num_layers=24, units=1024, num_heads=16),
}
for _name, _size in _PRESETS.items():
    register_model(_name, "bert", build_bert,
                   BertConfig(hidden_size=4 * _size["units"], **_size),
                   family_default=(_name == "bert_base"))

# A few-kilobyte model for tests and smoke runs of the scripts: every code path of a real
# preset (2 layers, several heads, padding, both heads), built and run in milliseconds.
register_model("bert_test", "bert", build_bert,
               BertConfig(vocab_size=100, units=32, hidden_size=64, num_layers=2, num_heads=4,
                          max_length=64))
