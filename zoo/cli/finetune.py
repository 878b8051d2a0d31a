r"""Finetune a zoo model from any tiezoo checkpoint on classification, regression, token
tagging or extractive QA; predict with the result.

    python scripts/finetune.py --task classification --pretrained runs/bert/model.params \
        --train train.tsv --dev dev.tsv --output runs/sst --epochs 3
    python scripts/finetune.py predict --model runs/sst/model.params --input test.tsv \
        --output test.predictions.jsonl

Data (see zoo/tasks.py): classification / regression from TSV or CSV with a header, or JSON
lines (--text-column, --text-pair-column, --label-column; by default the first of text /
sentence / sentence1 and, if present, text_pair / sentence2 / text_b, and label); tagging
from CoNLL-style files (token and BIO tag columns, blank line between sentences); QA from
SQuAD v1.1 / v2.0 JSON (unanswerable questions: v2.0, detected from the training file;
contexts longer than the model are read in windows --doc-stride tokens apart).

The model is ``zoo.get_model(FAMILY, pretrained=CKPT, task=..., num_classes=...)``, the family
and size read from the checkpoint; its load report is printed (the new head listed as
missing, pretraining heads as unused). A finetuned checkpoint of the same task and labels
continues with its head. The tokenizer is the checkpoint's own (--vocab for a file without
one). All data is read, encoded and checked before training starts: a problem (missing
column, malformed JSON, a dev label unseen in training, a sequence longer than the model
with --truncation none, an empty file) is one line ``finetune.py: error: FILE:LINE: ...``
and exit status 2.

Writes ``OUTPUT/metrics.jsonl`` (train lines ``{"split": "train", "step", "loss", "lr"}``;
evaluation lines ``{"split": "dev", "step", <metrics>}``: accuracy, f1, macro_f1, mcc |
spearman, pearson, mse | f1, precision, recall, accuracy (entity-level) | exact_match, f1),
``OUTPUT/metrics.png``, the best model (by --metric on dev) at ``OUTPUT/model.params`` with its
config, tokenizer and task description (labels, columns, lengths), so ``predict`` rebuilds
everything from the one file, ``OUTPUT/dev_predictions.jsonl`` (``.json`` for QA) from the
best model, and ``OUTPUT/results.json`` (best step, its dev metrics, the majority baseline).
"""
import argparse
import json
import math
import os
import sys
import time

import mxnet as mx
import numpy as np

import checkpoints
import zoo
from heads import make_task_head
from heads.losses import ClassificationLoss, RegressionLoss, SpanLoss
from zoo import tasks, training
from zoo.training import UsageError
from zoo.tasks import TaskDataError
from zoo.tokenizers import TokenizerError

TASKS = ("classification", "regression", "tagging", "qa")
TASK_ASSET = "finetune/task.json"     # the task description stored in a finetuned checkpoint
HF_CONFIG_ASSET = "hf/config.json"    # labels for `zoo convert ... --to hf`
TRUNCATIONS = ("longest_first", "only_first", "only_second", "none")


# ================================================================================ arguments

def _data_options(ap):
    g = ap.add_argument_group("data columns and formats")
    g.add_argument("--format", choices=["auto", "tsv", "csv", "jsonl"], default=None,
                   help="classification/regression file format (default: from the extension)")
    g.add_argument("--delimiter", help="field delimiter of a CSV/TSV file (default: by format)")
    g.add_argument("--text-column", help="column of the (first) sentence (default: the first "
                   f"of {', '.join(tasks.TEXT_COLUMNS)})")
    g.add_argument("--text-pair-column", help="column of the second sentence of a pair "
                   f"(default: the first of {', '.join(tasks.PAIR_COLUMNS)} if present)")
    g.add_argument("--label-column", default=None, help="label / target column (default: label)")
    g.add_argument("--token-column", type=int, default=None,
                   help="tagging: CoNLL column of the token (default 0)")
    g.add_argument("--tag-column", type=int, default=None,
                   help="tagging: CoNLL column of the BIO tag (default -1, the last)")
    return g


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="finetune.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Prediction: finetune.py predict --help")
    g = ap.add_argument_group("task and model")
    g.add_argument("--task", choices=TASKS, required=True)
    g.add_argument("--pretrained", required=True, metavar="CKPT",
                   help="tiezoo checkpoint (pretraining or finetuned; .params/.safetensors), a "
                        "GluonNLP 0.10 / plain MXNet .params (with --model), or a Hugging Face "
                        "folder (converted to OUTPUT/pretrained.params first)")
    g.add_argument("--model", metavar="PRESET", help="zoo preset or family; needed only for a "
                   "checkpoint without a stored config (plain MXNet / GluonNLP 0.10 files)")
    g.add_argument("--vocab", metavar="PATH", help="tokenizer (vocab.txt, .model, HF folder) for "
                   "a checkpoint that stores none")
    g.add_argument("--override", action="append", default=[], metavar="FIELD=VALUE",
                   help="config override that leaves the weights' shapes alone, e.g. "
                        "--override dropout=0.2 (repeatable)")
    g = ap.add_argument_group("data")
    g.add_argument("--train", required=True, metavar="FILE")
    g.add_argument("--dev", metavar="FILE", help="evaluation file (without one the last model "
                   "is saved)")
    g.add_argument("--max-seq-length", type=int, default=None,
                   help="tokens per sequence, special tokens included (default 128, or the "
                        "model's positions when fewer)")
    g.add_argument("--truncation", choices=TRUNCATIONS, default="longest_first",
                   help="how an over-long input is shortened; none: it is an error (default "
                        "longest_first; tagging splits long sentences into chunks, QA reads "
                        "long contexts in windows either way)")
    _data_options(ap)
    g = ap.add_argument_group("question answering")
    g.add_argument("--doc-stride", type=int, default=128, help="tokens between context windows")
    g.add_argument("--max-query-length", type=int, default=64)
    g.add_argument("--max-answer-length", type=int, default=30, help="in tokens")
    g.add_argument("--n-best", type=int, default=20, help="start/end candidates per window")
    g.add_argument("--null-threshold", type=float, default=0.0,
                   help="SQuAD v2.0: answer '' when null score - best span score exceeds this")
    g.add_argument("--squad-v2", choices=["auto", "yes", "no"], default="auto",
                   help="unanswerable questions (default: yes when the training file has any)")
    g = ap.add_argument_group("optimization")
    stop = g.add_mutually_exclusive_group()
    stop.add_argument("--max-steps", type=int, help="optimizer steps")
    stop.add_argument("--epochs", type=float, help="passes over the training data (default 3)")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--eval-batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=5e-5)
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--warmup-ratio", type=float, default=0.1,
                   help="warmup steps as a fraction of all steps (default 0.1)")
    g.add_argument("--warmup-steps", type=int, help="instead of --warmup-ratio")
    g.add_argument("--decay", choices=["linear", "constant"], default="linear")
    g.add_argument("--layerwise-decay", type=float, default=None, metavar="FACTOR",
                   help="layer-wise lr decay: encoder layer i of N gets lr * FACTOR^(N-i), the "
                        "embeddings lr * FACTOR^(N+1), heads and pooler lr (e.g. 0.8)")
    g.add_argument("--clip-grad", type=float, default=1.0, help="global norm clip (0: off)")
    g = ap.add_argument_group("evaluation, checkpoints and logging")
    g.add_argument("--output", required=True, metavar="DIR")
    g.add_argument("--eval-every", type=int, default=0,
                   help="evaluate on --dev every N steps (default: once per epoch); and at the end")
    g.add_argument("--metric", help="dev metric that picks the best model (default: accuracy | "
                   "spearman | f1 | f1 by task)")
    g.add_argument("--patience", type=int, default=0,
                   help="stop after N evaluations without improvement (0: never)")
    g.add_argument("--log-every", type=int, default=10)
    g.add_argument("--save-format", choices=[".params", ".safetensors"], default=".params",
                   help="file format of the best model (default .params)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--ctx", default="cpu", help="cpu or gpu:N")
    g.add_argument("--no-hybridize", action="store_true")
    g.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = ap.parse_args(argv)
    for name in ("batch_size", "eval_batch_size", "doc_stride",
                 "max_query_length", "max_answer_length", "n_best", "log_every"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.max_seq_length is not None and args.max_seq_length < 3:
        ap.error("--max-seq-length must be at least 3")
    if args.max_steps is not None and args.max_steps < 1:
        ap.error("--max-steps must be at least 1")
    if args.epochs is not None and args.epochs <= 0:
        ap.error("--epochs must be positive")
    if args.max_steps is None and args.epochs is None:
        args.epochs = 3.0
    if args.layerwise_decay is not None and not 0 < args.layerwise_decay <= 1:
        ap.error("--layerwise-decay must be in (0, 1]")
    if args.patience < 0 or args.eval_every < 0:
        ap.error("--patience and --eval-every must be >= 0")
    return args


def parse_predict_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="finetune.py predict",
        description="Predict with a finetuned checkpoint: the task, labels, tokenizer, columns "
                    "and lengths all come from the checkpoint. Classification/regression/tagging "
                    "write JSON lines (tagging: CoNLL when OUTPUT ends in .conll or .txt), QA a "
                    "SQuAD prediction JSON {id: answer}. When the input has labels, the metrics "
                    "are printed too.")
    ap.add_argument("--model", required=True, metavar="CKPT", help="a checkpoint written by "
                    "finetune.py")
    ap.add_argument("--input", required=True, metavar="FILE")
    ap.add_argument("--output", required=True, metavar="FILE")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--ctx", default="cpu")
    ap.add_argument("--no-hybridize", action="store_true")
    _data_options(ap)
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        ap.error("--batch-size must be at least 1")
    return args


# ============================================================================ task handlers

def _pad(rows, length, value):
    out = np.full((len(rows), length), value, dtype=np.float32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def _padded_length(lengths, cap):
    # round up to a multiple of 8: fewer distinct shapes for the hybridized graph
    return min(cap, int(math.ceil(max(lengths) / 8.0) * 8))


class SeqFeature:
    __slots__ = ("example", "ids", "token_types", "label")

    def __init__(self, example, ids, token_types, label):
        self.example, self.ids, self.token_types, self.label = example, ids, token_types, label


class Handler:
    """What differs between tasks: reading, encoding, batching, loss, decoding, metrics."""

    task = None
    output_ext = ".jsonl"

    def __init__(self, tokenizer, meta, max_length, pad_id):
        self.tok, self.meta, self.max_length, self.pad_id = tokenizer, meta, max_length, pad_id

    # -- labels
    @property
    def num_classes(self):
        return None

    @property
    def labels(self):
        return self.meta.get("labels")

    def fit_labels(self, train_examples, stored=None):
        pass

    def check(self, examples):
        pass

    # -- batching
    def base_arrays(self, feats):
        L = _padded_length([len(f.ids) for f in feats], self.max_length)
        return {"input_ids": _pad([f.ids for f in feats], L, self.pad_id),
                "token_types": _pad([f.token_types for f in feats], L, 0),
                "valid_length": np.array([len(f.ids) for f in feats], dtype=np.float32)}

    def arrays(self, feats, with_labels):
        return self.base_arrays(feats)

    def baseline(self, train_examples, examples):
        return None


class SequenceHandler(Handler):
    """Classification and regression of one sentence or a pair."""

    def __init__(self, task, *a, **k):
        super().__init__(*a, **k)
        self.task = task

    @property
    def num_classes(self):
        return len(self.labels) if self.task == "classification" else None

    def read(self, path, opts, require_label=True):
        examples, cols = tasks.read_sequence_examples(
            path, task=self.task, text_column=opts.get("text_column"),
            text_pair_column=opts.get("text_pair_column"),
            label_column=opts.get("label_column") or "label", require_label=require_label,
            fmt=opts.get("format"), delimiter=opts.get("delimiter"))
        # the training file's choices become the defaults of the dev file and of predict
        opts.setdefault("text_column", cols["text"])
        opts.setdefault("text_pair_column", cols["pair"])
        return examples

    def fit_labels(self, train_examples, stored=None):
        if self.task != "classification":
            self.meta["labels"] = None
            return
        seen = tasks.label_list([e.label for e in train_examples])
        if stored and set(seen) <= set(stored):
            seen = list(stored)   # continuing from a finetuned model: its label order
        if len(seen) < 2:
            raise TaskDataError(f"{train_examples[0].source}: classification needs at least 2 "
                                f"labels; the training data has only {seen}")
        self.meta["labels"] = seen

    def check(self, examples):
        if self.task == "classification":
            tasks.check_labels(examples[0].source,
                               [(e.line, e.label) for e in examples if e.label is not None],
                               self.labels)

    def featurize(self, examples, truncation):
        index = {l: i for i, l in enumerate(self.labels or [])}
        out = []
        for i, ex in enumerate(examples):
            enc = tasks.encode_sequence(ex, self.tok, self.max_length, truncation)
            label = ex.label
            if self.task == "classification":
                label = index.get(label, -1) if label is not None else -1
            out.append(SeqFeature(i, enc.ids, enc.token_types, label))
        return out

    def arrays(self, feats, with_labels):
        out = self.base_arrays(feats)
        if with_labels:
            out["labels"] = np.array([f.label for f in feats], dtype=np.float32)
        return out

    def make_loss(self):
        return ClassificationLoss() if self.task == "classification" else RegressionLoss()

    def loss(self, loss_fn, out, b):
        return loss_fn(out, b["labels"]).mean()

    def collect(self, out, feats, b):
        a = out.asnumpy()
        return [a[i] for i in range(len(feats))]

    def predictions(self, examples, feats, outs):
        return [outs[i] for i in range(len(examples))]

    def metrics(self, examples, preds):
        if self.task == "classification":
            index = {l: i for i, l in enumerate(self.labels)}
            gold = [index[e.label] for e in examples]
            return tasks.classification_metrics([int(np.argmax(p)) for p in preds], gold,
                                                len(self.labels))
        return tasks.regression_metrics([float(p) for p in preds], [e.label for e in examples])

    def has_labels(self, examples):
        return all(e.label is not None for e in examples)

    def baseline(self, train_examples, examples):
        if self.task == "classification":
            counts = {}
            for e in train_examples:
                counts[e.label] = counts.get(e.label, 0) + 1
            major = self.labels.index(max(counts, key=lambda k: (counts[k], -self.labels.index(k))))
            scores = np.zeros(len(self.labels))
            scores[major] = 1.0
            return self.metrics(examples, [scores] * len(examples))
        mean = float(np.mean([e.label for e in train_examples]))
        return self.metrics(examples, [mean] * len(examples))

    def records(self, examples, preds):
        for ex, p in zip(examples, preds):
            if self.task == "classification":
                yield {"line": ex.line, "label": self.labels[int(np.argmax(p))],
                       "scores": [float(x) for x in p]}
            else:
                yield {"line": ex.line, "prediction": float(p)}

    def write(self, path, examples, preds):
        _write_jsonl(path, self.records(examples, preds))


class TaggingHandler(Handler):
    task = "tagging"

    @property
    def num_classes(self):
        return len(self.labels)

    def read(self, path, opts, require_label=True):
        return tasks.read_conll(path, token_column=opts.get("token_column") or 0,
                                tag_column=-1 if opts.get("tag_column") is None
                                else opts["tag_column"], require_tags=require_label)

    def fit_labels(self, train_examples, stored=None):
        seen = tasks.label_list([t for e in train_examples for t in e.tags], tagging=True)
        if stored and set(seen) <= set(stored):
            seen = list(stored)
        self.meta["labels"] = seen

    def check(self, examples):
        tasks.check_labels(examples[0].source,
                           [(e.line + i, t) for e in examples if e.tags for i, t in enumerate(e.tags)],
                           self.labels, what="tag")

    def featurize(self, examples, truncation):
        tag_ids = {l: i for i, l in enumerate(self.labels)}
        out = []
        for i, ex in enumerate(examples):
            out.extend(tasks.encode_tagging(ex, self.tok, self.max_length, truncation,
                                            tag_ids if ex.tags else None, index=i))
        return out

    def arrays(self, feats, with_labels):
        out = self.base_arrays(feats)
        if with_labels:
            out["tag_labels"] = _pad([f.labels for f in feats], out["input_ids"].shape[1], -1)
        return out

    def make_loss(self):
        return None

    def loss(self, loss_fn, out, b):
        # cross-entropy over the scored positions only (each word's first sub-token)
        labels = b["tag_labels"]
        weights = labels >= 0
        nll = -mx.nd.pick(mx.nd.log_softmax(out, axis=-1), mx.nd.maximum(labels, 0), axis=-1)
        total = mx.nd.sum(weights)
        return mx.nd.sum(nll * weights) / mx.nd.maximum(total, mx.nd.ones_like(total))

    def collect(self, out, feats, b):
        a = out.argmax(axis=-1).asnumpy().astype(np.int64)
        return [a[i, :len(f.ids)] for i, f in enumerate(feats)]

    def predictions(self, examples, feats, outs):
        preds = [["O"] * len(ex.tokens) for ex in examples]
        for f, o in zip(feats, outs):
            for j, pos in enumerate(f.word_positions):
                preds[f.example][f.word_offset + j] = self.labels[int(o[pos])] if pos >= 0 else "O"
        return preds

    def metrics(self, examples, preds):
        return tasks.tagging_metrics(preds, [e.tags for e in examples])

    def has_labels(self, examples):
        return all(e.tags is not None for e in examples)

    def baseline(self, train_examples, examples):
        return self.metrics(examples, [["O"] * len(e.tokens) for e in examples])

    def write(self, path, examples, preds):
        if path.lower().endswith((".conll", ".txt")):
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                for ex, tags in zip(examples, preds):
                    for tok, tag in zip(ex.tokens, tags):
                        f.write(f"{tok}\t{tag}\n")
                    f.write("\n")
            os.replace(tmp, path)
            return
        _write_jsonl(path, ({"line": ex.line, "tokens": ex.tokens, "tags": tags}
                            for ex, tags in zip(examples, preds)))


class QAHandler(Handler):
    task = "qa"
    output_ext = ".json"

    def read(self, path, opts, require_label=True):
        return tasks.read_squad(path, require_answers=require_label)

    def fit_labels(self, train_examples, stored=None):
        self.meta["labels"] = None
        mode = self.meta.get("squad_v2", "auto")
        if mode == "auto":
            self.meta["squad_v2"] = any(e.is_impossible for e in train_examples)
        else:
            self.meta["squad_v2"] = mode in ("yes", True)

    def featurize(self, examples, truncation):
        m = self.meta
        out = []
        for i, ex in enumerate(examples):
            out.extend(tasks.encode_squad(ex, self.tok, self.max_length, m["doc_stride"],
                                          m["max_query_length"], truncation, index=i))
        return out

    def arrays(self, feats, with_labels):
        out = self.base_arrays(feats)
        if with_labels:
            out["start"] = np.array([f.start_position for f in feats], dtype=np.float32)
            out["end"] = np.array([f.end_position for f in feats], dtype=np.float32)
        return out

    def make_loss(self):
        return SpanLoss()

    def loss(self, loss_fn, out, b):
        return loss_fn(out[0], out[1], b["start"], b["end"]).mean()

    def collect(self, out, feats, b):
        s, e = out[0].asnumpy(), out[1].asnumpy()
        return [(s[i, :len(f.ids)], e[i, :len(f.ids)]) for i, f in enumerate(feats)]

    def predictions(self, examples, feats, outs):
        by_ex = [[] for _ in examples]
        for f, o in zip(feats, outs):
            by_ex[f.example].append((f, o))
        m = self.meta
        preds = []
        for ex, group in zip(examples, by_ex):
            preds.append(tasks.decode_squad(
                ex, [f for f, _ in group], [o[0] for _, o in group], [o[1] for _, o in group],
                n_best=m["n_best"], max_answer_length=m["max_answer_length"],
                with_negative=bool(m["squad_v2"]), null_threshold=m["null_threshold"]))
        return preds

    def metrics(self, examples, preds):
        return tasks.qa_metrics({e.qid: p for e, p in zip(examples, preds)}, examples)

    def has_labels(self, examples):
        return all(e.answers or e.is_impossible for e in examples)

    def baseline(self, train_examples, examples):
        return self.metrics(examples, [""] * len(examples))   # "no answer" everywhere

    def write(self, path, examples, preds):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({e.qid: p for e, p in zip(examples, preds)}, f, indent=1, ensure_ascii=False)
            f.write("\n")
        os.replace(tmp, path)


def make_handler(task, tokenizer, meta, max_length, pad_id):
    if task in ("classification", "regression"):
        return SequenceHandler(task, tokenizer, meta, max_length, pad_id)
    return {"tagging": TaggingHandler, "qa": QAHandler}[task](tokenizer, meta, max_length, pad_id)


def _write_jsonl(path, records):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


# ============================================================================ model building

def _stored_task(info_assets, path):
    """The task description a finetuned checkpoint carries, or None."""
    raw = info_assets.get(TASK_ASSET)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
    except ValueError:
        raise UsageError(f"{path}: asset {TASK_ASSET} is not valid JSON") from None


def _file_head_task(shapes):
    """The task of the head.* tensors in a checkpoint (by their names), or None."""
    names = set(shapes)
    if any(n.startswith("head.span.") for n in names):
        return "qa"
    if any(n.startswith("head.regressor.") for n in names):
        return "regression"
    if any(n.startswith("head.classifier.") for n in names):
        return "classification" if any(n.startswith("pooler.") for n in names) else "tagging"
    return None


def _head_shapes(task, units, num_classes):
    head = make_task_head(task, units, num_classes=num_classes)
    return {"head." + n: tuple(p.shape) for n, p in head._collect_params_with_prefix().items()}


def build_model(path, task, num_classes, *, name=None, overrides=None, ctx=None, log=print):
    """``zoo.get_model(name or FAMILY, pretrained=path, task=..., num_classes=...)``.

    A head already in the file is kept only when it is this task's head of this size (a
    finetuned model continued); otherwise the file's head.* tensors are left unused and the
    head starts fresh. Returns the model (``model.load_report`` attached)."""
    info = checkpoints.inspect(path)
    family = (info.config or {}).get("family")
    name = name or family
    if not name:
        raise UsageError(f"{path}: the checkpoint stores no model config (plain MXNet / "
                         f"GluonNLP 0.10 file); pass --model PRESET (one of "
                         f"{', '.join(zoo.list_models())}) or convert it first with "
                         f"`zoo convert {path} ckpt.params --model PRESET`")
    shapes = {n: tuple(s) for n, s, _ in info.tensors}
    file_head = {n: s for n, s in shapes.items() if n.startswith("head.")}
    overrides = dict(overrides or {})
    kwargs = dict(task=task, num_classes=num_classes, ctx=ctx, **overrides)
    keep = True
    if file_head:
        units = (info.config or {}).get("units") or zoo.get_config(name).units
        want = _head_shapes(task, units, num_classes)
        keep = _file_head_task(shapes) == task and file_head == want
    try:
        if keep:
            model = zoo.get_model(name, pretrained=path, **kwargs)
        else:
            log(f"[init] {path} holds a head for another task or label set: a fresh "
                f"{task} head replaces it")
            fields = {k: v for k, v in (info.config or {}).items() if k != "family"}
            fields.update(overrides)
            model = zoo.get_model(name, task=task, num_classes=num_classes, ctx=ctx, **fields)
            model.load_report = checkpoints.load(
                model, path, ctx=ctx, rename=lambda n: None if n.startswith("head.") else n)
    except (ValueError, TypeError) as e:
        if isinstance(e, (TaskDataError, TokenizerError)):
            raise
        raise UsageError(f"{path}: {e}") from None
    return model


def _max_positions(config):
    # RoBERTa's position ids start after the padding id
    pad = getattr(config, "pad_token_id", None)
    return config.max_length - (pad + 1 if config.family == "roberta" and pad is not None else 0)


def _pad_id(config, tokenizer):
    pad = getattr(config, "pad_token_id", None)
    if pad is not None:
        return pad
    return tokenizer.pad_id if tokenizer.pad_id is not None else 0


layerwise_lr_mults = training.layerwise_lr_mults


# ============================================================================== data loading

def _batches(n, size, order=None):
    order = np.arange(n) if order is None else order
    for i in range(0, n, size):
        yield order[i:i + size]


def _nd(arrays, ctx):
    return {k: mx.nd.array(v, ctx=ctx, dtype="float32") for k, v in arrays.items()}


def run_model(model, handler, feats, batch_size, ctx):
    """Forward every feature (batched, longest first for tight padding) -> per-feature
    outputs in feature order."""
    outs = [None] * len(feats)
    order = np.argsort([-len(f.ids) for f in feats], kind="stable")
    for idx in _batches(len(feats), batch_size, order):
        sub = [feats[i] for i in idx]
        b = _nd(handler.arrays(sub, with_labels=False), ctx)
        out = model(b["input_ids"], b["token_types"], b["valid_length"])
        for i, o in zip(idx, handler.collect(out, sub, b)):
            outs[i] = o
    return outs


def evaluate(model, handler, examples, feats, batch_size, ctx):
    outs = run_model(model, handler, feats, batch_size, ctx)
    preds = handler.predictions(examples, feats, outs)
    metrics = handler.metrics(examples, preds) if handler.has_labels(examples) else {}
    return metrics, preds


# ================================================================================== training

def _log(msg):
    print(msg, file=sys.stderr, flush=True)


def _describe(model):
    report = getattr(model, "load_report", None)
    if report is not None:
        _log(f"[init] {report}")


def prepare(args):
    """Everything checked before the first step: checkpoint, tokenizer, data, labels."""
    ctx = training.parse_contexts(args.ctx)[0]
    if os.path.isdir(args.pretrained):
        # a Hugging Face folder: converted once, through the same path as `zoo convert`
        from zoo import convert
        os.makedirs(args.output, exist_ok=True)
        dst = os.path.join(args.output, "pretrained.params")
        conv = convert.convert(args.pretrained, dst)
        _log(f"[convert] {args.pretrained} ({conv}) -> {dst}")
        args.pretrained = dst
    try:
        info = checkpoints.inspect(args.pretrained)
        assets = checkpoints.read_assets(args.pretrained) if info.format_version else {}
    except FileNotFoundError:
        raise UsageError(f"{args.pretrained}: no such checkpoint") from None
    stored = _stored_task(assets, args.pretrained) or {}
    # tokenizer
    try:
        tokenizer = zoo.get_tokenizer(args.vocab or args.pretrained)
    except TokenizerError as e:
        if args.vocab:
            raise UsageError(str(e)) from None
        raise UsageError(f"{e}; pass --vocab PATH (the vocabulary it was trained with)") from None
    try:
        tokenizer.require_special_tokens(("cls", "sep"))
    except TokenizerError as e:
        raise UsageError(str(e)) from None
    if not info.config and not args.model:
        raise UsageError(f"{args.pretrained}: the checkpoint stores no model config (plain "
                         f"MXNet / GluonNLP 0.10 file); pass --model PRESET (one of "
                         f"{', '.join(zoo.list_models())})")
    try:
        if info.config:
            cfg_cls = type(zoo.get_config(info.config.get("family", "bert")))
            cfg = cfg_cls.from_dict(info.config)
        else:
            cfg = zoo.get_config(args.model)
    except (ValueError, TypeError, zoo.UnknownModelError) as e:
        raise UsageError(f"{args.pretrained}: {e}") from None
    if tokenizer.vocab_size > cfg.vocab_size and info.config:
        raise UsageError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model in "
                         f"{args.pretrained} only {cfg.vocab_size}; use its own tokenizer")
    limit = _max_positions(cfg)
    if args.max_seq_length is None:
        args.max_seq_length = min(128, limit)
    if args.max_seq_length > limit:
        raise UsageError(f"--max-seq-length {args.max_seq_length} exceeds the model's "
                         f"{limit} positions")
    # data
    meta = {"task": args.task, "max_seq_length": args.max_seq_length,
            "truncation": args.truncation, "doc_stride": args.doc_stride,
            "max_query_length": args.max_query_length,
            "max_answer_length": args.max_answer_length, "n_best": args.n_best,
            "null_threshold": args.null_threshold, "squad_v2": args.squad_v2}
    opts = {k: getattr(args, k) for k in ("format", "delimiter", "text_column",
                                          "text_pair_column", "label_column", "token_column",
                                          "tag_column") if getattr(args, k) is not None}
    pad_id = _pad_id(cfg, tokenizer)
    handler = make_handler(args.task, tokenizer, meta, args.max_seq_length, pad_id)
    truncation = None if args.truncation == "none" else args.truncation
    train_ex = handler.read(args.train, opts)
    handler.fit_labels(train_ex, stored.get("labels") if stored.get("task") == args.task else None)
    dev_ex = handler.read(args.dev, opts) if args.dev else None
    for ex in (train_ex, dev_ex):
        if ex is not None:
            handler.check(ex)
    train_feats = handler.featurize(train_ex, truncation)
    dev_feats = handler.featurize(dev_ex, truncation) if dev_ex is not None else None
    meta["columns"] = {k: v for k, v in opts.items() if k not in ("format", "delimiter")}
    meta["labels"] = handler.labels
    return ctx, tokenizer, handler, meta, (train_ex, train_feats), (dev_ex, dev_feats)


def _assets(tokenizer, meta, pretrained_assets):
    assets = dict(tokenizer.to_assets())
    assets[TASK_ASSET] = json.dumps(meta, sort_keys=True)
    hf = {}
    if HF_CONFIG_ASSET in pretrained_assets:
        try:
            hf = json.loads(pretrained_assets[HF_CONFIG_ASSET].decode("utf-8"))
        except ValueError:
            hf = {}
    for k in ("id2label", "label2id", "num_labels", "problem_type", "architectures"):
        hf.pop(k, None)
    labels = meta.get("labels")
    if labels:
        hf["id2label"] = {str(i): l for i, l in enumerate(labels)}
        hf["label2id"] = {l: i for i, l in enumerate(labels)}
    if meta["task"] == "regression":
        hf["problem_type"] = "regression"
    elif meta["task"] == "classification":
        hf["problem_type"] = "single_label_classification"
    assets[HF_CONFIG_ASSET] = json.dumps(hf, sort_keys=True)
    return assets


def train(args):
    t_start = time.perf_counter()
    ctx, tokenizer, handler, meta, (train_ex, train_feats), (dev_ex, dev_feats) = prepare(args)
    n_train = len(train_feats)
    steps_per_epoch = max(1, math.ceil(n_train / args.batch_size))
    total = args.max_steps or max(1, int(math.ceil(args.epochs * steps_per_epoch)))
    warmup = args.warmup_steps if args.warmup_steps is not None else int(args.warmup_ratio * total)
    eval_every = args.eval_every or steps_per_epoch
    metric = args.metric or tasks.MAIN_METRIC[args.task]
    _log(f"[data] {args.task}: {len(train_ex)} training examples ({n_train} sequences), "
         f"{len(dev_ex) if dev_ex else 0} dev" +
         (f"; {len(handler.labels)} labels: {', '.join(map(str, handler.labels[:12]))}"
          f"{' ...' if len(handler.labels) > 12 else ''}" if handler.labels else "") +
         f"; {total} steps of {args.batch_size}")

    training.seed_everything(args.seed)
    model = build_model(args.pretrained, args.task, handler.num_classes, name=args.model,
                        overrides=training.parse_overrides(args.override), ctx=ctx, log=_log)
    _describe(model)
    pretrained_assets = checkpoints.read_assets(args.pretrained) \
        if checkpoints.inspect(args.pretrained).format_version else {}
    meta["family"] = model.config.family
    assets = _assets(tokenizer, meta, pretrained_assets)
    if args.layerwise_decay is not None and args.layerwise_decay != 1:
        mults = layerwise_lr_mults(model, args.layerwise_decay)
        _log(f"[lr] layer-wise decay {args.layerwise_decay}: lr_mult from "
             f"{min(mults.values()):.3g} (embeddings) to 1 (head)")
    if not args.no_hybridize:
        model.hybridize(static_alloc=True)
    trainer = training.make_trainer(model, optimizer="adamw", lr=args.lr,
                                    weight_decay=args.weight_decay)
    params = [p for p in model.collect_params().values() if p.grad_req != "null"]
    sync = training.GradientSync(params)
    loss_fn = handler.make_loss()
    if loss_fn is not None and not args.no_hybridize:
        loss_fn.hybridize()

    os.makedirs(args.output, exist_ok=True)
    metrics_path = os.path.join(args.output, "metrics.jsonl")
    log = training.MetricsLog(metrics_path)
    best_path = os.path.join(args.output, "model" + args.save_format)
    progress = None
    if not args.no_progress:
        from tqdm import tqdm
        progress = tqdm(total=total, unit="step", dynamic_ncols=True,
                        desc=f"finetune {args.task}")
    rng = np.random.RandomState(args.seed)
    best, best_step, best_metrics, best_params = None, None, None, None
    bad_evals, stopped_early = 0, False
    step, epoch, run_loss, run_n, seqs = 0, 0, 0.0, 0, 0
    t_log = time.perf_counter()
    last_loss = [float("nan")]

    def do_eval():
        nonlocal best, best_step, best_metrics, best_params, bad_evals
        res, _ = evaluate(model, handler, dev_ex, dev_feats, args.eval_batch_size, ctx)
        if metric not in res:
            raise UsageError(f"--metric {metric}: the {args.task} task reports "
                             f"{', '.join(sorted(res))}")
        log.write(split="dev", step=step, epoch=round(step / steps_per_epoch, 3), **res)
        improved = best is None or res[metric] > best
        if improved:
            best, best_step, best_metrics, bad_evals = res[metric], step, res, 0
            best_params = {n: p.data().copy() for n, p in model.collect_params().items()}
            checkpoints.save(model, best_path, config=model.config, assets=assets)
        else:
            bad_evals += 1
        if progress is not None:
            progress.set_postfix(loss=f"{last_loss[0]:.3f}", **{metric: f"{res[metric]:.4f}"})
        else:
            _log(f"[eval] step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in res.items())
                 + (" (best)" if improved else ""))
        return improved

    try:
        while step < total and not stopped_early:
            order = rng.permutation(n_train)
            for idx in _batches(n_train, args.batch_size, order):
                if step >= total:
                    break
                training.step_seed(args.seed, step)
                sub = [train_feats[i] for i in idx]
                b = _nd(handler.arrays(sub, with_labels=True), ctx)
                with mx.autograd.record():
                    out = model(b["input_ids"], b["token_types"], b["valid_length"])
                    loss = handler.loss(loss_fn, out, b)
                loss.backward()
                step += 1
                trainer.set_learning_rate(training.learning_rate(
                    step, base_lr=args.lr, warmup_steps=warmup, total_steps=total,
                    decay=args.decay))
                training.clip_and_update(trainer, sync, 1, args.clip_grad)
                run_loss += float(loss.asscalar())
                run_n += 1
                seqs += len(idx)
                if progress is not None:
                    progress.update(1)
                if step % args.log_every == 0 or step in (1, total):
                    dt = time.perf_counter() - t_log
                    log.write(split="train", step=step, epoch=round(step / steps_per_epoch, 3),
                              loss=run_loss / run_n, lr=trainer.learning_rate,
                              seq_per_s=seqs / max(dt, 1e-9))
                    last_loss[0] = run_loss / run_n
                    if progress is not None:
                        progress.set_postfix(loss=f"{last_loss[0]:.3f}")
                    run_loss, run_n, seqs, t_log = 0.0, 0, 0, time.perf_counter()
                if dev_ex is not None and (step % eval_every == 0 or step == total):
                    do_eval()
                    if args.patience and bad_evals >= args.patience:
                        stopped_early = True
                        _log(f"\n[stop] no improvement of dev {metric} in {args.patience} "
                             f"evaluations; stopping at step {step}")
                        break
            epoch += 1
    finally:
        if progress is not None:
            progress.close()

    if dev_ex is None:
        checkpoints.save(model, best_path, config=model.config, assets=assets)
        best_step = step
    else:
        # the best model, from memory: the predictions `predict` must reproduce from the file
        for n, p in model.collect_params().items():
            p.set_data(best_params[n])
        res, preds = evaluate(model, handler, dev_ex, dev_feats, args.eval_batch_size, ctx)
        handler.write(os.path.join(args.output, "dev_predictions" + handler.output_ext),
                      dev_ex, preds)
        baseline = handler.baseline(train_ex, dev_ex)
        with open(os.path.join(args.output, "results.json"), "w") as f:
            json.dump({"task": args.task, "metric": metric, "best_step": best_step,
                       "steps": step, "dev": res, "baseline": baseline,
                       "stopped_early": stopped_early,
                       "seconds": round(time.perf_counter() - t_start, 1)}, f, indent=1)
            f.write("\n")
        base = f" (majority baseline {baseline[metric]:.4f})" if baseline and metric in baseline else ""
        _log(f"[best] step {best_step}: dev " + ", ".join(f"{k} {v:.4f}" for k, v in res.items())
             + base)
    keys = ("loss", metric) + tuple(k for k in ("accuracy", "spearman", "exact_match")
                                    if k != metric and best_metrics and k in best_metrics)
    png = training.plot_metrics(metrics_path, os.path.join(args.output, "metrics.png"),
                                keys=keys, title=f"finetuning {args.task}")
    _log(f"[done] {step} steps in {time.perf_counter() - t_start:.1f} s; best model {best_path}; "
         f"metrics {metrics_path}; plot {png}")
    return model


# ================================================================================ prediction

def predict(args):
    ctx = training.parse_contexts(args.ctx)[0]
    try:
        info = checkpoints.inspect(args.model)
        assets = checkpoints.read_assets(args.model) if info.format_version else {}
    except FileNotFoundError:
        raise UsageError(f"{args.model}: no such checkpoint") from None
    meta = _stored_task(assets, args.model)
    if not meta:
        raise UsageError(f"{args.model}: not a finetuned checkpoint (no {TASK_ASSET}); "
                         f"train one with scripts/finetune.py")
    try:
        tokenizer = zoo.get_tokenizer(args.model)
    except TokenizerError as e:
        raise UsageError(str(e)) from None
    task = meta["task"]
    labels = meta.get("labels")
    num_classes = len(labels) if task in ("classification", "tagging") else None
    model = zoo.get_model(meta.get("family") or info.config["family"], pretrained=args.model,
                          task=task, num_classes=num_classes, ctx=ctx)
    report = model.load_report
    if report.missing:
        raise UsageError(f"{args.model}: parameters missing from the checkpoint: "
                         f"{', '.join(report.missing)}")
    if not args.no_hybridize:
        model.hybridize(static_alloc=True)
    handler = make_handler(task, tokenizer, dict(meta), meta["max_seq_length"],
                           _pad_id(model.config, tokenizer))
    opts = dict(meta.get("columns") or {})
    for k in ("format", "delimiter", "text_column", "text_pair_column", "label_column",
              "token_column", "tag_column"):
        if getattr(args, k) is not None:
            opts[k] = getattr(args, k)
    examples = handler.read(args.input, opts, require_label=False)
    if labels and handler.has_labels(examples):
        handler.check(examples)
    trunc = meta.get("truncation", "longest_first")
    feats = handler.featurize(examples, None if trunc == "none" else trunc)
    t0 = time.perf_counter()
    res, preds = evaluate(model, handler, examples, feats, args.batch_size, ctx)
    dt = time.perf_counter() - t0
    handler.write(args.output, examples, preds)
    _log(f"[predict] {len(examples)} examples in {dt:.2f} s -> {args.output}")
    if res:
        print(json.dumps(res, sort_keys=True))
    return preds


# ====================================================================================== main

def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    mode = "train"
    if argv and argv[0] in ("predict", "train"):
        mode = argv.pop(0)
    args = parse_predict_args(argv) if mode == "predict" else parse_args(argv)
    try:
        predict(args) if mode == "predict" else train(args)
    except (UsageError, TaskDataError, TokenizerError, checkpoints.CheckpointError) as e:
        print(f"finetune.py: error: {e}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
