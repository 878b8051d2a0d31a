"""Extractive question answering: start and end scores over the positions of the input."""
from mxnet.gluon import HybridBlock

from ._layers import dense

__all__ = ["SpanHead"]

# Scores of padded positions. Large enough that softmax gives them exactly 0 in float32,
# small enough to stay finite in float16 (max 65504), unlike -inf which turns an all-padded
# row into NaN.
PAD_SCORE = -1e4


class SpanHead(HybridBlock):
    """Dense(2) over every position -> ``(start_scores, end_scores)``, each (B, L).

    Positions at or past ``valid_length`` score ``PAD_SCORE`` so a span can never start or
    end in the padding, in training (cross-entropy over L) and in decoding alike.
    """

    uses_pooled = False   # so the task model is built without a pooler
    needs_num_classes = False

    @classmethod
    def for_task(cls, units, *, num_classes=None, dropout=0.1, initializer_range=0.02):
        # no dropout: the span scores read the sequence output directly, as BERT's SQuAD head
        return cls(units, initializer_range=initializer_range)

    def __init__(self, units, *, initializer_range=0.02):
        super().__init__()
        self.span = dense(2, units, initializer_range)

    def hybrid_forward(self, F, seq, pooled, valid_length=None):
        """seq (B, L, units); pooled unused; valid_length (B,) -> start (B, L), end (B, L)."""
        scores = self.span(seq)                                   # (B, L, 2)
        if valid_length is not None:
            scores = F.SequenceMask(scores, sequence_length=valid_length,
                                    use_sequence_length=True, value=PAD_SCORE, axis=1)
        start, end = F.split(scores, num_outputs=2, axis=-1, squeeze_axis=True)
        return start, end
