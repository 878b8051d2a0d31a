"""The sequence-to-sequence training loss: token cross-entropy with label smoothing."""
from mxnet.gluon.loss import Loss

__all__ = ["LabelSmoothedCrossEntropy"]


class LabelSmoothedCrossEntropy(Loss):
    """Cross-entropy of the target tokens against a smoothed one-hot: the true token weighs
    ``1 - smoothing``, every vocabulary entry ``smoothing / vocab`` (Szegedy et al., 2016; as
    PyTorch's ``cross_entropy(label_smoothing=...)`` and Hugging Face's ``LabelSmoother``).
    Averaged over the real target tokens (``weights`` 1; padding 0).

    scores (B, T, V), labels (B, T), weights (B, T) -> scalar.
    """

    def __init__(self, smoothing=0.0, **kwargs):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {smoothing!r}")
        super().__init__(weight=None, batch_axis=0, **kwargs)
        self.smoothing = float(smoothing)

    def hybrid_forward(self, F, scores, labels, weights):
        log_probs = F.log_softmax(scores, axis=-1)
        loss = -F.pick(log_probs, labels, axis=-1)                          # (B, T)
        if self.smoothing:
            uniform = -F.mean(log_probs, axis=-1)
            loss = (1.0 - self.smoothing) * loss + self.smoothing * uniform
        weights = F.cast(weights, "float32")
        total = F.sum(weights)
        # max(.., 1): a batch with no target token gives 0, not 0/0
        return F.sum(loss * weights) / F.maximum(total, F.ones_like(total))
