"""Training text, one module per idea:

* :mod:`~zoo.data.text`: files and globs (:func:`expand_files`), lines (:func:`iter_lines`),
  documents (:func:`iter_documents`) and :class:`DataError`;
* :mod:`~zoo.data.pretraining`: masked-LM (+ NSP/SOP) batches, :class:`PretrainingPipeline`
  (streaming, deterministic, shardable, resumable) and :func:`to_ndarrays`;
* :mod:`~zoo.data.stdlib`: an offline real-English corpus, the standard library's docstrings
  (:func:`stdlib_corpus`), and a labelled task from it (:func:`stdlib_topic_task`).
"""
from .pretraining import PretrainingPipeline, to_ndarrays
from .stdlib import STDLIB_TOPICS, stdlib_corpus, stdlib_topic_task
from .text import DataError, expand_files, iter_documents, iter_lines

__all__ = ["DataError", "PretrainingPipeline", "expand_files", "iter_lines", "iter_documents",
           "stdlib_corpus", "stdlib_topic_task", "STDLIB_TOPICS", "to_ndarrays"]
