"""ALBERT (Lan et al., 2020): factorized embedding, one transformer layer shared by all layers.

* Factorized embedding: the word/position/token-type tables are ``embed_size`` wide (128 in
  every published size) and ``embed_proj`` maps them up to ``units`` (Hugging Face's
  ``encoder.embedding_hidden_mapping_in``; present even when the sizes agree, as there).
* Cross-layer sharing is one declaration on the backbone,
  ``@tied("encoder.layers.*", "encoder.layers.0")``: every layer is built as usual and then
  shares all of layer 0's parameters. A checkpoint therefore stores layer 0 once, whatever
  ``num_layers`` is, and the tie map lists the other layers as aliases.
* Pretraining heads: MLM (``mlm_decoder``: Dense units->embed_size, activation, LayerNorm,
  decoder tied to ``word_embed.weight``) and sentence order prediction (``sop_classifier``,
  a 2-way Dense on the pooled output), switched on by ``get_model(..., use_mlm=True,
  use_sop=True)``.
* ALBERT's activation is the tanh-approximate GELU (``"gelu_tanh"``, Hugging Face's
  ``"gelu_new"``).

Only Hugging Face's default grouping (``num_hidden_groups=1``, ``inner_group_num=1``: all
layers share one) is represented; ``checkpoints/convert_albert.py`` refuses other groupings.
"""
import dataclasses
from typing import ClassVar

from checkpoints import tied
from heads import MLMHead, SOPHead

from ._registry import register_model
from ._task import TaskModelMixin, task_head_for
from ._transformer import TransformerModel, check_heads
from .bert import BertConfig

__all__ = ["AlbertConfig", "AlbertModel", "AlbertForPretraining", "AlbertForTask",
           "build_albert"]


@dataclasses.dataclass(frozen=True)
class AlbertConfig(BertConfig):
    """BERT's fields (``units`` = width, ``hidden_size`` = FFN width) plus ``embed_size``."""
    vocab_size: int = 30000
    embed_size: int = 128
    activation: str = "gelu_tanh"
    dropout: float = 0.0               # ALBERT v2 (and Hugging Face's AlbertConfig) use none
    attention_dropout: float = 0.0

    family: ClassVar[str] = "albert"

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.embed_size, int) or isinstance(self.embed_size, bool) \
                or self.embed_size < 1:
            raise ValueError(f"AlbertConfig.embed_size must be a positive int, got "
                             f"{self.embed_size!r}")


@tied("encoder.layers.*", "encoder.layers.0")
class AlbertModel(TransformerModel):
    """The ALBERT backbone: ``seq, pooled = model(inputs, token_types, valid_length)``."""

    always_project = True


class AlbertForPretraining(AlbertModel):
    """The backbone plus the MLM and/or SOP heads; inherits both ties."""

    def __init__(self, config, *, use_mlm=True, use_sop=True):
        super().__init__(config)
        if not (use_mlm or use_sop):
            raise ValueError("AlbertForPretraining needs use_mlm or use_sop; use AlbertModel")
        self.use_mlm, self.use_sop = bool(use_mlm), bool(use_sop)
        c = config
        if use_mlm:
            self.mlm_decoder = MLMHead(c.units, c.vocab_size, activation=c.activation,
                                       layer_norm_eps=c.layer_norm_eps,
                                       initializer_range=c.initializer_range,
                                       embed_size=c.embed_size)
        if use_sop:
            self.sop_classifier = SOPHead(c.units, initializer_range=c.initializer_range)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None,
                       masked_positions=None):
        """-> ``seq, pooled[, mlm_scores][, sop_scores]``; sop_scores (B, 2)."""
        seq, pooled = self.encode(F, inputs, token_types, valid_length)
        outputs = [seq, pooled]
        if self.use_mlm:
            outputs.append(self.mlm_decoder(seq, masked_positions))
        if self.use_sop:
            outputs.append(self.sop_classifier(pooled))
        return tuple(outputs)


class AlbertForTask(TaskModelMixin, AlbertModel):
    """The backbone plus one task head (see :mod:`heads`), as child ``head``."""



def build_albert(config, *, use_mlm=False, use_nsp=False, use_sop=False, task=None,
                 num_classes=None):
    """The registry builder; ``use_sop`` attaches the sentence-order-prediction head."""
    if use_nsp:
        raise ValueError("ALBERT has no next-sentence-prediction head; it pretrains with "
                         "sentence order prediction: use_sop=True")
    check_heads("albert", task, num_classes, use_mlm=use_mlm, use_sop=use_sop)
    if task is not None:
        return AlbertForTask(config, task_head_for(config, task, num_classes))
    if use_mlm or use_sop:
        return AlbertForPretraining(config, use_mlm=use_mlm, use_sop=use_sop)
    return AlbertModel(config)


# Presets: the published ALBERT sizes (Lan et al. 2020, Table 1; Hugging Face albert-*-v2),
# FFN width 4 x units, 30000-piece SentencePiece vocabulary, embed_size 128; and a test size.
_PRESETS = {
    "albert_tiny": dict(vocab_size=100, embed_size=16, units=32, hidden_size=64, num_layers=3,
                        num_heads=4, max_length=64),
    "albert_base": dict(units=768, hidden_size=3072, num_layers=12, num_heads=12),
    "albert_large": dict(units=1024, hidden_size=4096, num_layers=24, num_heads=16),
    "albert_xlarge": dict(units=2048, hidden_size=8192, num_layers=24, num_heads=16),
}
for _name, _size in _PRESETS.items():
    register_model(_name, "albert", build_albert, AlbertConfig(**_size),
                   family_default=(_name == "albert_base"))
