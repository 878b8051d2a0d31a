"""Sequence-level heads on the pooled output: classification and regression.

Task heads share one call contract, so a task model is ``head(*backbone(...), valid_length)``
for every backbone family::

    scores = head(seq, pooled, valid_length)    # seq (B, L, units), pooled (B, units)
"""
from mxnet.gluon import HybridBlock, nn

from ._layers import DropoutClassifier, dense

__all__ = ["SequenceClassificationHead", "SequenceRegressionHead"]


class SequenceClassificationHead(DropoutClassifier):
    """Dropout + Dense over the pooled output -> scores (B, num_classes) (unnormalized)."""

    uses_pooled = True
    needs_num_classes = True

    @classmethod
    def for_task(cls, units, *, num_classes, dropout=0.1, initializer_range=0.02):
        return cls(units, num_classes, dropout=dropout, initializer_range=initializer_range)

    def hybrid_forward(self, F, seq, pooled, valid_length=None):
        """seq (B, L, units) unused; pooled (B, units) -> (B, num_classes)."""
        return self.classifier(self.dropout(pooled))


class SequenceRegressionHead(HybridBlock):
    """Dropout + Dense(1) over the pooled output -> predictions (B,)."""

    uses_pooled = True
    needs_num_classes = False

    @classmethod
    def for_task(cls, units, *, num_classes=None, dropout=0.1, initializer_range=0.02):
        return cls(units, dropout=dropout, initializer_range=initializer_range)

    def __init__(self, units, *, dropout=0.1, initializer_range=0.02):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.regressor = dense(1, units, initializer_range)

    def hybrid_forward(self, F, seq, pooled, valid_length=None):
        """seq (B, L, units) unused; pooled (B, units) -> (B,)."""
        return F.reshape(self.regressor(self.dropout(pooled)), shape=(-1,))
