"""Heads that sit on a backbone's ``(seq, pooled)`` outputs, and their losses.

Pretraining heads (attached by ``zoo.get_model(..., use_mlm=True, use_nsp=True)``):

* :class:`MLMHead` ``(seq (B,L,U), masked_positions (B,P)) -> (B,P,V)``; its decoder
  weight is tied to the backbone's ``word_embed.weight``.
* :class:`NSPHead` ``pooled (B,U) -> (B,2)``; ALBERT's sentence order prediction head
  (:data:`SOPHead`) is the same 2-way Dense.
* :class:`RTDHead` ``seq (B,L,U) -> (B,L)``: ELECTRA's replaced token detection, with
  :class:`heads.rtd.RTDLoss`.

Task heads (attached by ``zoo.get_model(..., task=..., num_classes=...)``) share one call
contract, so one task model class per family serves them all::

    out = head(seq, pooled, valid_length)

A head whose class sets ``uses_pooled = False`` gets ``pooled=None`` and a backbone built
without a pooler (a parameter outside the graph would stall ``gluon.Trainer``).

==============  ==============================  ==========================================
task            head                            out
==============  ==============================  ==========================================
classification  SequenceClassificationHead      scores (B, num_classes)
regression      SequenceRegressionHead          predictions (B,)
tagging         TokenTaggingHead                scores (B, L, num_classes)
qa              SpanHead                        (start (B, L), end (B, L)), padding masked
==============  ==============================  ==========================================

A task head is registered under its task name (:func:`register_task_head`); its class says
whether it takes ``num_classes`` and builds itself from the backbone's width
(``for_task(units, num_classes=..., dropout=..., initializer_range=...)``), so a new head is
one class and one registration line.

Losses live in :mod:`heads.losses`, outside every forward.
"""
from .classification import SequenceClassificationHead, SequenceRegressionHead
from .pretraining import MLMHead, NSPHead
from .rtd import RTDHead, RTDLoss
from .span import SpanHead
from .tagging import TokenTaggingHead

SOPHead = NSPHead   # sentence order prediction: a 2-way Dense on the pooled output, like NSP

__all__ = ["MLMHead", "NSPHead", "SOPHead", "RTDHead", "RTDLoss", "SequenceClassificationHead",
           "SequenceRegressionHead", "TokenTaggingHead", "SpanHead", "make_task_head",
           "register_task_head", "list_task_heads"]

_TASK_HEADS = {}


def register_task_head(task, head_class):
    """Make ``head_class`` the head that ``get_model(..., task=task)`` attaches.

    ``head_class`` has a class attribute ``needs_num_classes`` and a classmethod
    ``for_task(units, *, num_classes, dropout, initializer_range)``; its instances follow the
    task-head call contract above. Returns ``head_class``.
    """
    current = _TASK_HEADS.get(task)
    if current is not None and current is not head_class:
        raise ValueError(f"task {task!r} already has a head ({current.__name__})")
    _TASK_HEADS[task] = head_class
    return head_class


def list_task_heads():
    """The task names that have a head, sorted."""
    return sorted(_TASK_HEADS)


def make_task_head(task, units, *, num_classes=None, dropout=0.1, initializer_range=0.02):
    """The head registered for ``task`` on a backbone of width ``units``."""
    head_class = _TASK_HEADS.get(task)
    if head_class is None:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(list_task_heads())}")
    if head_class.needs_num_classes:
        if not num_classes or num_classes < 1:
            raise ValueError(f"task {task!r} needs num_classes >= 1, got {num_classes!r}")
    elif num_classes is not None:
        raise ValueError(f"task {task!r} takes no num_classes (got {num_classes!r})")
    return head_class.for_task(units, num_classes=num_classes, dropout=dropout,
                               initializer_range=initializer_range)


register_task_head("classification", SequenceClassificationHead)
register_task_head("regression", SequenceRegressionHead)
register_task_head("tagging", TokenTaggingHead)
register_task_head("qa", SpanHead)
