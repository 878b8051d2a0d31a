"""Finetuning tasks: data readers, encodings, metrics, the task registry and the finetuning
loop, as a library (``zoo finetune`` / ``zoo predict`` parse arguments and call it).

=================  ======================================================================
module             what
=================  ======================================================================
``data``           readers: TSV / CSV / JSON lines, CoNLL, SQuAD (``FILE:LINE:`` errors)
``encoding``       examples -> token ids: sequences, tagging chunks, QA windows; QA decoding
``metrics``        accuracy, F1, MCC, Pearson / Spearman, entity F1, SQuAD EM / F1
``base``           the :class:`Task` interface and the registry (``register_task``)
``sequence``       the ``classification`` and ``regression`` tasks
``tagging``        the ``tagging`` task
``qa``             the ``qa`` task
``causal_lm``      the ``causal_lm`` task (language modelling on a text file)
``seq2seq``        the ``seq2seq`` task (encoder-decoders: text -> text)
``model``          checkpoints: tokenizer, config, the task model, finetuned assets
``finetuning``     :func:`finetune`, :func:`evaluate`, :func:`predict`
=================  ======================================================================

A new task is one module with a :class:`Task` subclass and ``register_task(name, cls)``;
importing it makes ``zoo finetune --task name`` and ``zoo predict`` serve it.
"""
from .base import (Task, get_task, list_tasks, make_task, pad_rows, padded_length,  # noqa: F401
                   register_task, write_jsonl)
from .data import (PAIR_COLUMNS, TEXT_COLUMNS, QAExample, SequenceExample,  # noqa: F401
                   TaggingExample, TaskDataError, check_labels, detect_format, label_list,
                   read_conll, read_rows, read_sequence_examples, read_squad)
from .encoding import (QAFeature, SequenceFeature, TaggingFeature, decode_squad,  # noqa: F401
                       encode_sequence, encode_squad, encode_tagging)
from .metrics import (accuracy, classification_metrics, entity_f1, f1_binary,  # noqa: F401
                      f1_macro, get_entities, mcc, normalize_answer, pearson, qa_metrics,
                      regression_metrics, spearman, squad_exact, squad_f1, squad_scores,
                      tagging_metrics)
# the built-in tasks (each registers itself)
from .sequence import ClassificationTask, RegressionTask, SequenceTask  # noqa: F401
from .tagging import TaggingTask  # noqa: F401
from .qa import QATask  # noqa: F401
from .causal_lm import CausalLMTask  # noqa: F401
from .seq2seq import Seq2SeqTask  # noqa: F401
from .model import (HF_CONFIG_ASSET, TASK_ASSET, build_model, finetuned_assets,  # noqa: F401
                    max_positions, pad_id)
from .finetuning import (RUN_FILES, TRUNCATIONS, FinetuneOptions, FinetuneResult,  # noqa: F401
                         evaluate, finetune, predict, prepare_training, run_model, train_step)

__all__ = [
    # registry and interface
    "Task", "register_task", "get_task", "list_tasks", "make_task",
    "ClassificationTask", "RegressionTask", "SequenceTask", "TaggingTask", "QATask",
    "CausalLMTask",
    "Seq2SeqTask",
    # data
    "TaskDataError", "SequenceExample", "TaggingExample", "QAExample", "detect_format",
    "read_rows", "read_sequence_examples", "read_conll", "read_squad", "label_list",
    "check_labels", "TEXT_COLUMNS", "PAIR_COLUMNS",
    # encoding
    "SequenceFeature", "TaggingFeature", "QAFeature", "encode_sequence", "encode_tagging",
    "encode_squad", "decode_squad", "pad_rows", "padded_length",
    # metrics
    "accuracy", "f1_binary", "f1_macro", "mcc", "pearson", "spearman", "get_entities",
    "entity_f1", "normalize_answer", "squad_exact", "squad_f1", "squad_scores",
    "classification_metrics", "regression_metrics", "tagging_metrics", "qa_metrics",
    # finetuning
    "FinetuneOptions", "FinetuneResult", "finetune", "evaluate", "predict", "run_model",
    "prepare_training", "train_step",
    "build_model", "finetuned_assets", "max_positions", "pad_id", "write_jsonl", "RUN_FILES",
    "TRUNCATIONS",
    "TASK_ASSET", "HF_CONFIG_ASSET"]
