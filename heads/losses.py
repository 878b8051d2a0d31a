"""Losses, kept out of the models' forward so that inference pays nothing for them.

Each is a ``gluon.loss.Loss`` (a HybridBlock): call it on a model's outputs and labels,
inside ``autograd.record()``; it can be hybridized like the model.

=====================  =================================================  ==============
loss                   inputs                                             output
=====================  =================================================  ==============
MaskedLMLoss           mlm_scores (B,P,V), labels (B,P), weights (B,P)    scalar
NSPLoss                nsp_scores (B,2), labels (B,)                      (B,)
ClassificationLoss     scores (B,C), labels (B,)                          (B,)
RegressionLoss         predictions (B,), targets (B,)                     (B,)
TaggingLoss            scores (B,L,C), labels (B,L), valid_length (B,)    (B,)
SpanLoss               start (B,L), end (B,L), start_pos (B,), end_pos    (B,)
=====================  =================================================  ==============
"""
from mxnet.gluon.loss import Loss, SoftmaxCrossEntropyLoss

__all__ = ["MaskedLMLoss", "NSPLoss", "ClassificationLoss", "RegressionLoss",
           "TaggingLoss", "SpanLoss", "loss_for_task"]


class MaskedLMLoss(Loss):
    """Cross-entropy averaged over the real masked positions.

    Batches pad ``masked_positions`` to a fixed P; ``weights`` is 1 for a real prediction
    and 0 for padding, so the mean is over real predictions, not over B * P.
    """

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def hybrid_forward(self, F, mlm_scores, labels, weights):
        nll = -F.pick(F.log_softmax(mlm_scores, axis=-1), labels, axis=-1)   # (B, P)
        weights = F.cast(weights, "float32")
        # max(.., 1): an all-padding batch gives loss 0, not 0/0
        return F.sum(nll * weights) / F.maximum(F.sum(weights), F.ones_like(F.sum(weights)))


class NSPLoss(SoftmaxCrossEntropyLoss):
    """Cross-entropy of the 2-way next-sentence scores; per example (B,)."""


class ClassificationLoss(SoftmaxCrossEntropyLoss):
    """Cross-entropy of sequence classification scores; per example (B,)."""


class RegressionLoss(Loss):
    """Mean squared error per example (B,)."""

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def hybrid_forward(self, F, predictions, targets):
        return F.square(predictions - F.reshape_like(targets, predictions))


class TaggingLoss(Loss):
    """Token cross-entropy averaged over each example's valid positions -> (B,)."""

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def hybrid_forward(self, F, scores, labels, valid_length):
        nll = -F.pick(F.log_softmax(scores, axis=-1), labels, axis=-1)       # (B, L)
        nll = F.SequenceMask(nll, sequence_length=valid_length, use_sequence_length=True,
                             axis=1)
        return F.sum(nll, axis=1) / F.maximum(F.cast(valid_length, "float32"),
                                              F.ones_like(F.cast(valid_length, "float32")))


class SpanLoss(Loss):
    """Mean of the start and end position cross-entropies -> (B,)."""

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def hybrid_forward(self, F, start_scores, end_scores, start_positions, end_positions):
        start = -F.pick(F.log_softmax(start_scores, axis=-1), start_positions, axis=-1)
        end = -F.pick(F.log_softmax(end_scores, axis=-1), end_positions, axis=-1)
        return (start + end) / 2


def loss_for_task(task):
    """The loss that matches a ``get_model(..., task=task)`` head."""
    table = {"classification": ClassificationLoss, "regression": RegressionLoss,
             "tagging": TaggingLoss, "qa": SpanLoss}
    try:
        return table[task]()
    except KeyError:
        raise ValueError(f"unknown task {task!r}; known: {sorted(table)}") from None
