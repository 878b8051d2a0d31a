"""Extractive question answering (SQuAD v1.1 / v2.0): an answer span of the context.

Files: SQuAD JSON (see :func:`~zoo.tasks.data.read_squad`); contexts longer than the model are
read in windows ``doc_stride`` tokens apart. Model: ``get_model(..., task="qa")`` ->
``(start (B, L), end (B, L))`` scores. Predictions are the answer texts; v2.0 answers ``""``
when the null score wins. Metrics: the official exact match and token F1.
"""
import json

import numpy as np

from checkpoints.atomic import atomic_open
from heads.losses import SpanLoss

from ..training import UsageError
from . import metrics
from .base import Task, register_task
from .data import read_squad
from .encoding import decode_squad, encode_squad

__all__ = ["QATask"]


class QATask(Task):
    main_metric = "f1"
    metric_names = ("exact_match", "f1")
    plot_also = ("exact_match",)
    baseline_name = "no-answer baseline"
    output_ext = ".json"
    option_defaults = {"doc_stride": 128, "max_query_length": 64, "max_answer_length": 30,
                       "n_best": 20, "null_threshold": 0.0, "squad_v2": "auto"}

    @classmethod
    def add_arguments(cls, parser):
        d = cls.option_defaults
        g = parser.add_argument_group("question answering")
        g.add_argument("--doc-stride", type=int, default=d["doc_stride"],
                       help="tokens between context windows")
        g.add_argument("--max-query-length", type=int, default=d["max_query_length"])
        g.add_argument("--max-answer-length", type=int, default=d["max_answer_length"],
                       help="in tokens")
        g.add_argument("--n-best", type=int, default=d["n_best"],
                       help="start/end candidates per window")
        g.add_argument("--null-threshold", type=float, default=d["null_threshold"],
                       help="SQuAD v2.0: answer '' when null score - best span score exceeds "
                            "this")
        g.add_argument("--squad-v2", choices=["auto", "yes", "no"], default=d["squad_v2"],
                       help="unanswerable questions (default: yes when the training file has "
                            "any)")

    @classmethod
    def check_options(cls, options):
        for name in ("doc_stride", "max_query_length", "max_answer_length", "n_best"):
            if options[name] < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
        if options["squad_v2"] not in ("auto", "yes", "no", True, False):
            raise UsageError(f"--squad-v2 {options['squad_v2']!r}: expected auto, yes or no")

    def read(self, path, columns, require_label=True):
        return read_squad(path, require_answers=require_label)

    def fit_labels(self, train_examples, stored=None):
        self.meta["labels"] = None
        mode = self.meta.get("squad_v2", "auto")
        if mode == "auto":
            self.meta["squad_v2"] = any(e.is_impossible for e in train_examples)
        else:
            self.meta["squad_v2"] = mode in ("yes", True)

    def has_labels(self, examples):
        return all(e.answers or e.is_impossible for e in examples)

    def featurize(self, examples, truncation):
        m = self.meta
        out = []
        for i, ex in enumerate(examples):
            out.extend(encode_squad(ex, self.tok, self.max_length, m["doc_stride"],
                                    m["max_query_length"], truncation, index=i))
        return out

    def arrays(self, features, with_labels):
        """Plus ``start`` and ``end`` (B,): the answer's token positions in each window
        (0, the [CLS] position, when the window does not hold the answer)."""
        out = self.base_arrays(features)
        if with_labels:
            out["start"] = np.array([f.start_position for f in features], dtype=np.float32)
            out["end"] = np.array([f.end_position for f in features], dtype=np.float32)
        return out

    def make_loss(self):
        return SpanLoss()

    def loss(self, loss_fn, out, batch):
        return loss_fn(out[0], out[1], batch["start"], batch["end"]).mean()

    def collect(self, out, features, batch):
        s, e = out[0].asnumpy(), out[1].asnumpy()
        return [(s[i, :len(f.ids)], e[i, :len(f.ids)]) for i, f in enumerate(features)]

    def predictions(self, examples, features, outputs):
        windows = [[] for _ in examples]
        for f, o in zip(features, outputs):
            windows[f.example].append((f, o))
        m = self.meta
        return [decode_squad(ex, [f for f, _ in group], [o[0] for _, o in group],
                             [o[1] for _, o in group], n_best=m["n_best"],
                             max_answer_length=m["max_answer_length"],
                             with_negative=bool(m["squad_v2"]),
                             null_threshold=m["null_threshold"])
                for ex, group in zip(examples, windows)]

    def metrics(self, examples, predictions):
        return metrics.qa_metrics({e.qid: p for e, p in zip(examples, predictions)}, examples)

    def baseline(self, train_examples, examples):
        """"No answer" everywhere."""
        return self.metrics(examples, [""] * len(examples))

    def write(self, path, examples, predictions):
        """SQuAD's prediction file: ``{question id: answer text}``."""
        with atomic_open(path, durable=False) as f:
            json.dump({e.qid: p for e, p in zip(examples, predictions)}, f, indent=1,
                      ensure_ascii=False)
            f.write("\n")


register_task("qa", QATask)
