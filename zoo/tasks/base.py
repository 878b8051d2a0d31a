"""What a finetuning task is: the :class:`Task` interface and the task registry.

The finetuning loop (:mod:`zoo.tasks.finetuning`) and the ``zoo finetune`` / ``zoo predict``
programs call only the methods below; none of them names a task. A new task is one module
with a :class:`Task` subclass and one line::

    register_task("mytask", MyTask)       # zoo finetune --task mytask ...

Batch shapes: ``B`` features per batch, ``L`` the batch's padded length (the longest feature
rounded up to a multiple of 8, at most ``max_length``).
"""
import json

import numpy as np

from checkpoints.atomic import atomic_open

from ..training import UsageError

__all__ = ["Task", "register_task", "get_task", "list_tasks", "make_task", "pad_rows",
           "padded_length", "write_jsonl"]

_TASKS = {}


def register_task(name, task_class):
    """Register ``task_class`` (a :class:`Task` subclass) as the task ``name``; sets its
    ``name`` attribute and returns it. A class serves one task name."""
    if not (isinstance(task_class, type) and issubclass(task_class, Task)):
        raise TypeError(f"register_task({name!r}, ...): expected a Task subclass, got "
                        f"{task_class!r}")
    current = _TASKS.get(name)
    if current is not None and current is not task_class:
        raise ValueError(f"task {name!r} is already registered ({current.__name__})")
    if task_class.__dict__.get("name") not in (None, name):
        raise ValueError(f"{task_class.__name__} is already the task {task_class.name!r}")
    task_class.name = name
    _TASKS[name] = task_class
    return task_class


def list_tasks():
    """The registered task names, sorted."""
    return sorted(_TASKS)


def get_task(name):
    """The :class:`Task` subclass registered as ``name``; an unknown name is a
    :class:`~zoo.training.UsageError` listing the known ones."""
    try:
        return _TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}; known: {', '.join(list_tasks())}") \
            from None


def make_task(meta, tokenizer, pad_id):
    """An instance of the task ``meta["task"]`` (see :class:`Task`)."""
    return get_task(meta["task"])(tokenizer, meta, meta["max_seq_length"], pad_id)


def pad_rows(rows, length, value):
    """Lists of numbers -> a float32 array (len(rows), length), right-padded with ``value``."""
    out = np.full((len(rows), length), value, dtype=np.float32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def padded_length(lengths, cap):
    """The batch length: the longest rounded up to a multiple of 8 (fewer distinct shapes
    for the hybridized graph to be built for), at most ``cap``."""
    return min(cap, -(-max(lengths) // 8) * 8)


def write_jsonl(path, records):
    """One JSON object per line, written atomically."""
    with atomic_open(path, durable=False) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


class Task:
    """One finetuning task: from files to features, from features to a loss, from model
    outputs to predictions, metrics and files.

    An instance holds the tokenizer, ``meta`` (the task description that the finetuned
    checkpoint stores as ``finetune/task.json``: ``task``, ``labels``, ``max_seq_length``,
    ``truncation``, ``columns``, ``family`` and the task's own options) and the id that pads
    ``input_ids``. Subclasses set the class attributes and implement the methods that raise
    ``NotImplementedError``.
    """

    name = None              # set by register_task
    main_metric = None       # the dev metric that picks the best model by default (higher wins)
    metric_names = ()        # what metrics() always reports (a --metric must be one of them)
    plot_also = ()           # dev metrics plotted beside the loss and the chosen metric
    baseline_name = "majority baseline"   # what baseline() predicts, as the log names it
    output_ext = ".jsonl"    # extension of dev_predictions and of prediction files
    hf_problem_type = None   # Hugging Face config.json "problem_type" of this task, if any
    option_defaults = {}     # the task's own options (stored in meta) and their defaults
    special_tokens = ("cls", "sep")   # tokenizer roles its encodings use (checked up front)

    # ---- options
    @classmethod
    def add_arguments(cls, parser):
        """Add command-line options for :attr:`option_defaults` (flags ``--doc-stride`` for
        ``doc_stride``) to an ``argparse`` parser."""

    @classmethod
    def check_options(cls, options):
        """Raise :class:`~zoo.training.UsageError` for an option value the task cannot use."""

    def __init__(self, tokenizer, meta, max_length, pad_id):
        self.tok, self.meta, self.max_length, self.pad_id = tokenizer, meta, max_length, pad_id

    # ---- labels
    @property
    def labels(self):
        """The label names in class-index order (None for tasks without classes)."""
        return self.meta.get("labels")

    @property
    def num_classes(self):
        """``num_classes`` of the model's head (None: the head takes none)."""
        return None

    def fit_labels(self, train_examples, stored=None):
        """Set ``meta["labels"]`` from the training examples; ``stored``: the labels of a
        finetuned checkpoint being continued, whose order is kept when it covers them."""
        self.meta["labels"] = None

    def check(self, examples):
        """Raise a :class:`~zoo.tasks.data.TaskDataError` at the first label of ``examples``
        that the model has no class for."""

    # ---- data
    def read(self, path, columns, require_label=True):
        """Examples of the file ``path``. ``columns``: the data options (``format``,
        ``delimiter``, ``text_column``, ...); a reader records the columns it picked there, so
        the dev file and ``predict`` read the same ones. ``require_label=False``: input to
        predict on, with or without labels."""
        raise NotImplementedError

    def has_labels(self, examples):
        """Whether every example has its gold label (then predict reports metrics)."""
        raise NotImplementedError

    def featurize(self, examples, truncation):
        """Examples -> features (each with ``example`` (its example's index), ``ids`` and
        ``token_types``); an example may give several (long sentences, QA windows)."""
        raise NotImplementedError

    # ---- model
    def model_kwargs(self):
        """What ``zoo.get_model`` needs besides the name and checkpoint to build this task's
        model."""
        return {"task": self.name, "num_classes": self.num_classes}

    def base_arrays(self, features):
        """``input_ids`` (B, L) padded with the pad id, ``token_types`` (B, L) and
        ``valid_length`` (B,), all float32."""
        lengths = [len(f.ids) for f in features]
        length = padded_length(lengths, self.max_length)
        return {"input_ids": pad_rows([f.ids for f in features], length, self.pad_id),
                "token_types": pad_rows([f.token_types for f in features], length, 0),
                "valid_length": np.array(lengths, dtype=np.float32)}

    def arrays(self, features, with_labels):
        """The batch as numpy arrays: :meth:`base_arrays` plus, ``with_labels``, the training
        targets."""
        return self.base_arrays(features)

    def forward(self, model, batch):
        """The model's outputs for a batch (the arrays as NDArrays)."""
        return model(batch["input_ids"], batch["token_types"], batch["valid_length"])

    def make_loss(self):
        """A loss block (hybridized by the caller), or None when :meth:`loss` needs none."""
        return None

    def loss(self, loss_fn, out, batch):
        """The batch's mean loss, a scalar NDArray (recorded by autograd)."""
        raise NotImplementedError

    def collect(self, out, features, batch):
        """The batch's outputs as numpy, one entry per feature."""
        raise NotImplementedError

    # ---- results
    def predictions(self, examples, features, outputs):
        """One prediction per example from the per-feature outputs (in feature order)."""
        raise NotImplementedError

    def metrics(self, examples, predictions):
        """``{metric name: value}`` against the examples' gold labels."""
        raise NotImplementedError

    def baseline(self, train_examples, examples):
        """The metrics of a trivial predictor (majority class, mean, no answer), or None."""
        return None

    def write(self, path, examples, predictions):
        """Write the predictions to ``path`` atomically (the format may follow its
        extension)."""
        raise NotImplementedError
