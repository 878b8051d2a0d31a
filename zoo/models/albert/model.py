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
layers share one) is represented; ``convert.py`` beside this module refuses other groupings.
"""
from checkpoints import tied
from heads import SOPHead

from ..bert.model import BertModel, TaskModelMixin, check_heads, mlm_head, task_head_for

__all__ = ["AlbertModel", "AlbertForPretraining", "AlbertForTask", "build_albert"]


@tied("encoder.layers.*", "encoder.layers.0")
class AlbertModel(BertModel):
    """The ALBERT backbone: ``seq, pooled = model(inputs, token_types, valid_length)``."""

    always_project = True


class AlbertForPretraining(AlbertModel):
    """The backbone plus the MLM and/or SOP heads; inherits both ties."""

    def __init__(self, config, *, use_mlm=True, use_sop=True):
        super().__init__(config)
        if not (use_mlm or use_sop):
            raise ValueError("AlbertForPretraining needs use_mlm or use_sop; use AlbertModel")
        self.use_mlm, self.use_sop = bool(use_mlm), bool(use_sop)
        if use_mlm:
            self.mlm_decoder = mlm_head(config)
        if use_sop:
            self.sop_classifier = SOPHead(config.units,
                                          initializer_range=config.initializer_range)

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


def build_albert(config, *, use_mlm=False, use_sop=False, task=None, num_classes=None):
    """The family's builder; ``use_sop`` attaches the sentence-order-prediction head."""
    check_heads("albert", task, num_classes, use_mlm=use_mlm, use_sop=use_sop)
    if task is not None:
        return AlbertForTask(config, task_head_for(config, task, num_classes))
    if use_mlm or use_sop:
        return AlbertForPretraining(config, use_mlm=use_mlm, use_sop=use_sop)
    return AlbertModel(config)
