"""RoBERTa (Liu et al., 2019): BERT's architecture, fairseq's position ids, no token types.

What differs from BERT, and nothing else:

* Position ids count from ``pad_token_id + 1`` over the non-padding tokens, and padding
  tokens get ``pad_token_id``, computed from the input ids exactly as Hugging Face's
  ``create_position_ids_from_input_ids`` does: ``cumsum(ids != pad) * (ids != pad) + pad``.
  Hence ``max_length`` = 512 + 2 in the published models.
* The ``token_types`` input is ignored: the one-row ``token_type_embed`` table (Hugging
  Face keeps it, ``type_vocab_size=1``) is added at every position.
* Pretraining is MLM only (``use_nsp`` is refused); the MLM decoder is tied to
  ``word_embed.weight`` as in BERT.

Parameter names are BERT's (see :mod:`zoo.models.bert.model`); ``convert.py`` beside this
module maps them to Hugging Face's ``RobertaModel`` / ``RobertaForMaskedLM``.
"""
from ..bert.model import BertModel, TaskModelMixin, check_heads, mlm_head, task_head_for

__all__ = ["RobertaModel", "RobertaForPretraining", "RobertaForTask", "build_roberta"]


class RobertaModel(BertModel):
    """The RoBERTa backbone: ``seq, pooled = model(inputs, token_types, valid_length)``;
    ``token_types`` is accepted for the common contract and ignored."""

    uses_token_types = False

    def position_ids(self, F, inputs):
        """inputs (B, L) -> (B, L): pad + 1, pad + 2, ... over non-padding ids, pad on padding."""
        pad = self.config.pad_token_id
        mask = inputs != pad
        return F.cumsum(mask, axis=1) * mask + pad


class RobertaForPretraining(RobertaModel):
    """The backbone plus the MLM head (``mlm_decoder``, decoder weight = ``word_embed``)."""

    def __init__(self, config):
        super().__init__(config)
        self.mlm_decoder = mlm_head(config)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None,
                       masked_positions=None):
        """-> ``seq, pooled, mlm_scores``; mlm_scores (B, P, vocab_size), or (B, L, vocab)
        when masked_positions is None."""
        seq, pooled = self.encode(F, inputs, token_types, valid_length)
        return seq, pooled, self.mlm_decoder(seq, masked_positions)


class RobertaForTask(TaskModelMixin, RobertaModel):
    """The backbone plus one task head (see :mod:`heads`), as child ``head``."""


def build_roberta(config, *, use_mlm=False, task=None, num_classes=None):
    """The family's builder (see :class:`zoo.registry.Family`)."""
    check_heads("roberta", task, num_classes, use_mlm=use_mlm)
    if task is not None:
        return RobertaForTask(config, task_head_for(config, task, num_classes))
    return RobertaForPretraining(config) if use_mlm else RobertaModel(config)
