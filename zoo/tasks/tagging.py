"""Token tagging (NER, chunking): one BIO / BIOES tag per word, scored on its first sub-token.

Files: CoNLL-style (see :func:`~zoo.tasks.data.read_conll`). Model:
``get_model(..., task="tagging", num_classes=T)`` -> scores (B, L, T). Metrics: entity-level
precision / recall / F1 (seqeval's default mode) and token accuracy.
"""
import mxnet as mx
import numpy as np

from checkpoints.atomic import atomic_open

from . import metrics
from .base import Task, pad_rows, register_task, write_jsonl
from .data import check_labels, label_list, read_conll
from .encoding import encode_tagging

__all__ = ["TaggingTask"]


class TaggingTask(Task):
    main_metric = "f1"
    metric_names = ("f1", "precision", "recall", "accuracy")
    plot_also = ("accuracy",)
    baseline_name = "all-O baseline"

    @property
    def num_classes(self):
        return len(self.labels)

    def read(self, path, columns, require_label=True):
        token_column = columns.get("token_column")
        tag_column = columns.get("tag_column")
        return read_conll(path, token_column=token_column or 0,
                          tag_column=-1 if tag_column is None else tag_column,
                          require_tags=require_label)

    def fit_labels(self, train_examples, stored=None):
        seen = label_list([t for e in train_examples for t in e.tags], tagging=True)
        if stored and set(seen) <= set(stored):
            seen = list(stored)
        self.meta["labels"] = seen

    def check(self, examples):
        check_labels(examples[0].source, [(e.line + i, t) for e in examples if e.tags
                                          for i, t in enumerate(e.tags)],
                     self.labels, what="tag")

    def has_labels(self, examples):
        return all(e.tags is not None for e in examples)

    def featurize(self, examples, truncation):
        tag_ids = {label: i for i, label in enumerate(self.labels)}
        out = []
        for i, ex in enumerate(examples):
            out.extend(encode_tagging(ex, self.tok, self.max_length, truncation,
                                      tag_ids if ex.tags else None, index=i))
        return out

    def arrays(self, features, with_labels):
        """Plus ``tag_labels`` (B, L): the tag id at each word's first sub-token, -1 elsewhere."""
        out = self.base_arrays(features)
        if with_labels:
            out["tag_labels"] = pad_rows([f.labels for f in features],
                                         out["input_ids"].shape[1], -1)
        return out

    def loss(self, loss_fn, out, batch):
        # cross-entropy over the scored positions only (each word's first sub-token)
        labels = batch["tag_labels"]
        weights = labels >= 0
        nll = -mx.nd.pick(mx.nd.log_softmax(out, axis=-1), mx.nd.maximum(labels, 0), axis=-1)
        total = mx.nd.sum(weights)
        return mx.nd.sum(nll * weights) / mx.nd.maximum(total, mx.nd.ones_like(total))

    def collect(self, out, features, batch):
        a = out.argmax(axis=-1).asnumpy().astype(np.int64)
        return [a[i, :len(f.ids)] for i, f in enumerate(features)]

    def predictions(self, examples, features, outputs):
        preds = [["O"] * len(ex.tokens) for ex in examples]
        for f, o in zip(features, outputs):
            for j, pos in enumerate(f.word_positions):
                # a word the tokenizer dropped entirely (position -1) is tagged O
                preds[f.example][f.word_offset + j] = self.labels[int(o[pos])] if pos >= 0 else "O"
        return preds

    def metrics(self, examples, predictions):
        return metrics.tagging_metrics(predictions, [e.tags for e in examples])

    def baseline(self, train_examples, examples):
        """Every word tagged O."""
        return self.metrics(examples, [["O"] * len(e.tokens) for e in examples])

    def write(self, path, examples, predictions):
        """CoNLL (``token<TAB>tag`` lines) when ``path`` ends in .conll or .txt, else JSON
        lines ``{"line", "tokens", "tags"}``."""
        if path.lower().endswith((".conll", ".txt")):
            with atomic_open(path, durable=False) as f:
                for ex, tags in zip(examples, predictions):
                    for token, tag in zip(ex.tokens, tags):
                        f.write(f"{token}\t{tag}\n")
                    f.write("\n")
            return
        write_jsonl(path, ({"line": ex.line, "tokens": ex.tokens, "tags": tags}
                           for ex, tags in zip(examples, predictions)))


register_task("tagging", TaggingTask)
