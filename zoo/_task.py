"""The task-model shape every family shares: a backbone plus one task head.

:class:`TaskModelMixin` goes first in the bases of a family's ``*ForTask`` class, before its
backbone class (``class BertForTask(TaskModelMixin, BertModel)``), so that the family module
states only which backbone it is. Kept apart from :mod:`zoo._transformer` because
:mod:`zoo.bert` (which that module builds on) uses it too.
"""
from heads import make_task_head

__all__ = ["TaskModelMixin", "task_head_for"]


class TaskModelMixin:
    """The backbone plus one task head (see :mod:`heads`), as child ``head``.

    The backbone is built without a pooler when the head reads only ``seq`` (tagging, QA),
    as Hugging Face's are: a parameter outside the graph would make gluon.Trainer refuse to
    step.
    """

    def __init__(self, config, head):
        super().__init__(config, use_pooler=getattr(head, "uses_pooled", True))
        self.head = head

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None):
        """inputs, token_types (B, L); valid_length (B,) -> the head's output (see heads)."""
        seq, pooled = self.encode(F, inputs, token_types, valid_length)
        return self.head(seq, pooled, valid_length)


def task_head_for(config, task, num_classes):
    """The task head for a backbone of ``config`` (see :func:`heads.make_task_head`)."""
    return make_task_head(task, config.units, num_classes=num_classes, dropout=config.dropout,
                          initializer_range=config.initializer_range)
