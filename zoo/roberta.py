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

Parameter names are BERT's (see :mod:`zoo._transformer`); ``checkpoints/convert_roberta.py``
maps them to Hugging Face's ``RobertaModel`` / ``RobertaForMaskedLM``.
"""
import dataclasses
from typing import ClassVar

from heads import MLMHead

from ._registry import register_model
from ._task import TaskModelMixin, task_head_for
from ._transformer import TransformerModel, check_heads
from .bert import BertConfig

__all__ = ["RobertaConfig", "RobertaModel", "RobertaForPretraining", "RobertaForTask",
           "build_roberta"]


@dataclasses.dataclass(frozen=True)
class RobertaConfig(BertConfig):
    """BERT's fields (same meaning: ``units`` = width, ``hidden_size`` = FFN width) plus
    ``pad_token_id``, with RoBERTa's defaults."""
    vocab_size: int = 50265
    max_length: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1

    family: ClassVar[str] = "roberta"

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"RobertaConfig.pad_token_id must be an id below vocab_size, got "
                             f"{self.pad_token_id!r}")
        if self.max_length <= self.pad_token_id + 1:
            raise ValueError(f"RobertaConfig.max_length={self.max_length} leaves no positions "
                             f"after the padding offset {self.pad_token_id + 1}")


class RobertaModel(TransformerModel):
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
        c = config
        self.mlm_decoder = MLMHead(c.units, c.vocab_size, activation=c.activation,
                                   layer_norm_eps=c.layer_norm_eps,
                                   initializer_range=c.initializer_range)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None,
                       masked_positions=None):
        """-> ``seq, pooled, mlm_scores``; mlm_scores (B, P, vocab_size), or (B, L, vocab)
        when masked_positions is None."""
        seq, pooled = self.encode(F, inputs, token_types, valid_length)
        return seq, pooled, self.mlm_decoder(seq, masked_positions)


class RobertaForTask(TaskModelMixin, RobertaModel):
    """The backbone plus one task head (see :mod:`heads`), as child ``head``."""



def build_roberta(config, *, use_mlm=False, use_nsp=False, task=None, num_classes=None):
    """The registry builder (see :mod:`zoo._registry`)."""
    if use_nsp:
        raise ValueError("RoBERTa has no next-sentence-prediction head (use_nsp); "
                         "it pretrains with MLM only")
    check_heads("roberta", task, num_classes, use_mlm=use_mlm)
    if task is not None:
        return RobertaForTask(config, task_head_for(config, task, num_classes))
    return RobertaForPretraining(config) if use_mlm else RobertaModel(config)


# Presets: the published sizes (fairseq / Hugging Face roberta-base, roberta-large) and a
# test-size model with every code path (several layers and heads, the position offset).
_PRESETS = {
    "roberta_tiny": dict(vocab_size=100, units=32, hidden_size=64, num_layers=2, num_heads=4,
                         max_length=66),
    "roberta_base": dict(units=768, hidden_size=3072, num_layers=12, num_heads=12),
    "roberta_large": dict(units=1024, hidden_size=4096, num_layers=24, num_heads=16),
}
for _name, _size in _PRESETS.items():
    register_model(_name, "roberta", build_roberta, RobertaConfig(**_size),
                   family_default=(_name == "roberta_base"))
