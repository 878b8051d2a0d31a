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

Losses live in :mod:`heads.losses`, outside every forward.
"""
from .classification import SequenceClassificationHead, SequenceRegressionHead
from .pretraining import MLMHead, NSPHead
from .rtd import RTDHead, RTDLoss
from .span import SpanHead
from .tagging import TokenTaggingHead

SOPHead = NSPHead   # sentence order prediction: a 2-way Dense on the pooled output, like NSP

__all__ = ["MLMHead", "NSPHead", "SOPHead", "RTDHead", "RTDLoss", "SequenceClassificationHead",
           "SequenceRegressionHead", "TokenTaggingHead", "SpanHead", "TASKS", "make_task_head"]

TASKS = ("classification", "regression", "tagging", "qa")


def make_task_head(task, units, *, num_classes=None, dropout=0.1, initializer_range=0.02):
    """The head for ``task`` (one of :data:`TASKS`) on a backbone of width ``units``."""
    kw = {"initializer_range": initializer_range}
    if task in ("classification", "tagging"):
        if not num_classes or num_classes < 1:
            raise ValueError(f"task {task!r} needs num_classes >= 1, got {num_classes!r}")
        cls = SequenceClassificationHead if task == "classification" else TokenTaggingHead
        return cls(units, num_classes, dropout=dropout, **kw)
    if num_classes is not None:
        raise ValueError(f"task {task!r} takes no num_classes (got {num_classes!r})")
    if task == "regression":
        return SequenceRegressionHead(units, dropout=dropout, **kw)
    if task == "qa":
        return SpanHead(units, **kw)
    raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
