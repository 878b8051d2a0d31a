"""ELECTRA's discriminator head: replaced token detection (RTD), and its loss.

The discriminator reads the generator-corrupted sequence and scores, per position, whether the
token there was replaced. Child names (``transform``, ``prediction``) follow Hugging Face's
``discriminator_predictions.{dense, dense_prediction}`` one for one.
"""
from mxnet.gluon import HybridBlock
from mxnet.gluon.loss import Loss

from ._layers import activation_block, dense

__all__ = ["RTDHead", "RTDLoss"]


class RTDHead(HybridBlock):
    """Dense + activation + Dense(1) over every position -> scores (B, L) (logits)."""

    def __init__(self, units, *, activation="gelu", initializer_range=0.02):
        super().__init__()
        self.transform = dense(units, units, initializer_range)
        self.activation = activation_block(activation)
        self.prediction = dense(1, units, initializer_range)

    def hybrid_forward(self, F, seq):
        """seq (B, L, units) -> logits (B, L): > 0 means "replaced"."""
        return F.squeeze(self.prediction(self.activation(self.transform(seq))), axis=-1)


class RTDLoss(Loss):
    """Sigmoid cross-entropy of the RTD logits, averaged over each example's valid positions.

    ``labels`` (B, L) is 1 where the discriminator's input differs from the original text
    (``corrupted != original``), 0 elsewhere -> loss (B,).
    """

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def hybrid_forward(self, F, rtd_scores, labels, valid_length):
        labels = F.cast(labels, "float32")
        # log(1 + exp(-|x|)) + max(x, 0) - x * y: the stable form of the logistic loss
        nll = F.relu(rtd_scores) - rtd_scores * labels + F.Activation(-F.abs(rtd_scores),
                                                                       act_type="softrelu")
        nll = F.SequenceMask(nll, sequence_length=valid_length, use_sequence_length=True, axis=1)
        length = F.cast(valid_length, "float32")
        return F.sum(nll, axis=1) / F.maximum(length, F.ones_like(length))
