"""Token tagging (NER, POS): one score vector per token of the sequence output."""
from ._layers import DropoutClassifier

__all__ = ["TokenTaggingHead"]


class TokenTaggingHead(DropoutClassifier):
    """Dropout + Dense over every position -> scores (B, L, num_classes).

    Padded positions get scores too; :class:`heads.losses.TaggingLoss` ignores them through
    ``valid_length`` rather than this head masking them, so decoding code sees plain logits.
    """

    uses_pooled = False   # so the task model is built without a pooler
    needs_num_classes = True

    @classmethod
    def for_task(cls, units, *, num_classes, dropout=0.1, initializer_range=0.02):
        return cls(units, num_classes, dropout=dropout, initializer_range=initializer_range)

    def hybrid_forward(self, F, seq, pooled, valid_length=None):
        """seq (B, L, units); pooled unused -> (B, L, num_classes)."""
        return self.classifier(self.dropout(seq))
