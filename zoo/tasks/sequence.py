"""Classification and regression of one sentence or a sentence pair (the pooled output).

Files: TSV / CSV with a header, or JSON lines (see :func:`~zoo.tasks.data.read_sequence_examples`).
Model: ``get_model(..., task="classification", num_classes=C)`` -> scores (B, C), or
``task="regression"`` -> predictions (B,).
"""
import numpy as np

from heads.losses import ClassificationLoss, RegressionLoss

from . import metrics
from .base import Task, register_task, write_jsonl
from .data import TaskDataError, check_labels, label_list, read_sequence_examples
from .encoding import SequenceFeature, encode_sequence

__all__ = ["SequenceTask", "ClassificationTask", "RegressionTask"]


class SequenceTask(Task):
    """What classification and regression share: one feature per example, one target each."""

    numeric = False          # labels are numbers (regression targets), not class names

    def read(self, path, columns, require_label=True):
        examples, picked = read_sequence_examples(
            path, numeric=self.numeric, text_column=columns.get("text_column"),
            text_pair_column=columns.get("text_pair_column"),
            label_column=columns.get("label_column") or "label", require_label=require_label,
            fmt=columns.get("format"), delimiter=columns.get("delimiter"))
        columns.setdefault("text_column", picked["text"])
        columns.setdefault("text_pair_column", picked["pair"])
        return examples

    def has_labels(self, examples):
        return all(e.label is not None for e in examples)

    def targets(self, examples):
        """The training target of each example."""
        raise NotImplementedError

    def featurize(self, examples, truncation):
        out = []
        for i, (ex, target) in enumerate(zip(examples, self.targets(examples))):
            enc = encode_sequence(ex, self.tok, self.max_length, truncation)
            out.append(SequenceFeature(i, enc.ids, enc.token_types, target))
        return out

    def arrays(self, features, with_labels):
        """Plus ``labels`` (B,): class indices or regression targets."""
        out = self.base_arrays(features)
        if with_labels:
            out["labels"] = np.array([f.label for f in features], dtype=np.float32)
        return out

    def loss(self, loss_fn, out, batch):
        return loss_fn(out, batch["labels"]).mean()

    def collect(self, out, features, batch):
        a = out.asnumpy()
        return [a[i] for i in range(len(features))]

    def predictions(self, examples, features, outputs):
        return list(outputs)     # one feature per example, in example order

    def write(self, path, examples, predictions):
        write_jsonl(path, (self.record(ex, p) for ex, p in zip(examples, predictions)))

    def record(self, example, prediction):
        """The JSON line of one prediction."""
        raise NotImplementedError


class ClassificationTask(SequenceTask):
    """Scores (C,) per example; the predicted label is the highest-scoring class."""

    main_metric = "accuracy"
    metric_names = ("accuracy", "f1", "macro_f1", "mcc")
    hf_problem_type = "single_label_classification"

    @property
    def num_classes(self):
        return len(self.labels)

    def fit_labels(self, train_examples, stored=None):
        seen = label_list([e.label for e in train_examples])
        if stored and set(seen) <= set(stored):
            seen = list(stored)   # continuing from a finetuned model: its label order
        if len(seen) < 2:
            raise TaskDataError(f"{train_examples[0].source}: classification needs at least 2 "
                                f"labels; the training data has only {seen}")
        self.meta["labels"] = seen

    def check(self, examples):
        check_labels(examples[0].source,
                     [(e.line, e.label) for e in examples if e.label is not None], self.labels)

    def targets(self, examples):
        # -1 (no class) for an unlabelled example, or an unknown label in predict's input
        index = {label: i for i, label in enumerate(self.labels)}
        return [index.get(e.label, -1) for e in examples]

    def make_loss(self):
        return ClassificationLoss()

    def metrics(self, examples, predictions):
        gold = self.targets(examples)
        return metrics.classification_metrics([int(np.argmax(p)) for p in predictions], gold,
                                              len(self.labels))

    def baseline(self, train_examples, examples):
        """Always the most frequent training label (ties: the first in label order)."""
        counts = {}
        for e in train_examples:
            counts[e.label] = counts.get(e.label, 0) + 1
        major = max(self.labels, key=lambda label: (counts.get(label, 0),
                                                     -self.labels.index(label)))
        scores = np.zeros(len(self.labels))
        scores[self.labels.index(major)] = 1.0
        return self.metrics(examples, [scores] * len(examples))

    def record(self, example, prediction):
        return {"line": example.line, "label": self.labels[int(np.argmax(prediction))],
                "scores": [float(x) for x in prediction]}


class RegressionTask(SequenceTask):
    """One number per example."""

    numeric = True
    main_metric = "spearman"
    metric_names = ("spearman", "pearson", "mse")
    baseline_name = "mean baseline"
    hf_problem_type = "regression"

    def targets(self, examples):
        return [e.label for e in examples]

    def make_loss(self):
        return RegressionLoss()

    def metrics(self, examples, predictions):
        return metrics.regression_metrics([float(p) for p in predictions],
                                          [e.label for e in examples])

    def baseline(self, train_examples, examples):
        """Always the training targets' mean."""
        mean = float(np.mean([e.label for e in train_examples]))
        return self.metrics(examples, [mean] * len(examples))

    def record(self, example, prediction):
        return {"line": example.line, "prediction": float(prediction)}


register_task("classification", ClassificationTask)
register_task("regression", RegressionTask)
