"""Token tagging (NER, POS): one score vector per token of the sequence output."""
from mxnet.gluon import HybridBlock, nn

from ._layers import dense

__all__ = ["TokenTaggingHead"]


class TokenTaggingHead(HybridBlock):
    """Dropout + Dense over every position -> scores (B, L, num_classes).

    Padded positions get scores too; :class:`heads.losses.TaggingLoss` ignores them through
    ``valid_length`` rather than this head masking them, so decoding code sees plain logits.
    """

    uses_pooled = False   # so the task model is built without a pooler

    def __init__(self, units, num_classes, *, dropout=0.1, initializer_range=0.02):
        super().__init__()
        self.num_classes = num_classes
        self.dropout = nn.Dropout(dropout)
        self.classifier = dense(num_classes, units, initializer_range)

    def hybrid_forward(self, F, seq, pooled, valid_length=None):
        """seq (B, L, units); pooled unused -> (B, L, num_classes)."""
        return self.classifier(self.dropout(seq))
