"""Sequence to sequence (summarization, translation, any text -> text): an encoder-decoder
(BART, T5) trained by teacher forcing with label smoothing, evaluated by what it generates.

Files: TSV / CSV with a header, or JSON lines; the source is ``--text-column`` (default the
first of source, src, input, text, document), the target ``--label-column`` (default the
first of target, tgt, output, summary, label). Model: ``get_model(..., use_lm=True)``: the
decoder reads the target shifted right behind its start token, the loss is the label-smoothed
cross-entropy of every target token (``--label-smoothing``). Evaluation generates (greedy, or
beam search with ``--num-beams``) at most ``--max-target-length`` tokens per source and scores
the decoded text against the target with ROUGE-1/2/L (``rouge-score``, stemmed F1), BLEU
(``sacrebleu``, corpus level) and exact match (equal after collapsing whitespace). The
baseline copies the source. ``zoo predict`` writes the generations as JSON lines.
"""
import os
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from heads.seq2seq import LabelSmoothedCrossEntropy

from ..generation import generate
from ..seq2seq_data import decoder_inputs
from ..tokenizers import TokenizerError
from ..training import UsageError
from .base import Task, pad_rows, padded_length, register_task, write_jsonl
from .data import TaskDataError, data_error, read_rows

__all__ = ["Seq2SeqExample", "Seq2SeqFeature", "Seq2SeqTask", "SOURCE_COLUMNS",
           "TARGET_COLUMNS", "seq2seq_metrics"]

# Column names tried, in order, when --text-column / --label-column are not given.
SOURCE_COLUMNS = ("source", "src", "input", "text", "document")
TARGET_COLUMNS = ("target", "tgt", "output", "summary", "label")


@dataclass
class Seq2SeqExample:
    text: str
    target: object          # str, or None (input to predict on)
    line: int
    source: str = ""        # the file


@dataclass
class Seq2SeqFeature:
    example: int
    ids: list               # the source, with the tokenizer's special tokens
    token_types: list
    target_ids: object      # the target, with its special tokens (ends with end-of-sequence)


def _pick(path, columns, given, candidates, what, option, required):
    """The column named ``given``, else the first of ``candidates`` present (None when
    there is none and it is not ``required``)."""
    if given:
        if given not in columns:
            raise data_error(path, 1, f"no column {given!r} ({what}); columns: "
                                      f"{', '.join(map(str, columns))}")
        return given
    found = next((c for c in candidates if c in columns), None)
    if found is None and required:
        raise data_error(path, 1, f"no {what} column: none of {', '.join(candidates)} is there "
                                  f"(columns: {', '.join(map(str, columns))}); name it with "
                                  f"{option}")
    return found


def _text(path, line, row, col, what):
    v = row.get(col)
    if v is None or isinstance(v, (dict, list)):
        problem = "missing" if v is None else "not text"
        raise data_error(path, line, f"the {what} ({col!r}) is {problem}")
    return str(v)


def read_seq2seq_examples(path, columns, require_target=True):
    """Examples of a source/target file; ``columns`` gets the columns picked (so that dev and
    predict read the same ones)."""
    path = os.fspath(path)
    names, rows = read_rows(path, columns.get("format"), columns.get("delimiter"))
    src_col = _pick(path, names, columns.get("text_column"), SOURCE_COLUMNS, "source",
                    "--text-column", True)
    tgt_col = _pick(path, names, columns.get("label_column"), TARGET_COLUMNS, "target",
                    "--label-column", require_target)
    if tgt_col == src_col:
        raise TaskDataError(f"{path}: the source and target columns are both {src_col!r}")
    columns.setdefault("text_column", src_col)
    if tgt_col is not None:
        columns.setdefault("label_column", tgt_col)
    out = []
    for line, row in rows:
        target = None
        if tgt_col is not None and (require_target or row.get(tgt_col) is not None):
            target = _text(path, line, row, tgt_col, "target")
            if not target.strip():
                raise data_error(path, line, f"empty target ({tgt_col!r}); every training and "
                                             f"evaluation example needs text to produce")
        out.append(Seq2SeqExample(_text(path, line, row, src_col, "source"), target, line, path))
    return out


def _require(module, package):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise UsageError(f"the seq2seq task's metrics need the {package!r} package: pip install "
                         f"rouge-score sacrebleu") from None


def _normalized(text):
    return " ".join(text.split())


def seq2seq_metrics(predictions, references):
    """``exact_match`` (equal after collapsing whitespace), ``rouge1``/``rouge2``/``rougeL``
    (mean F1 of ``rouge-score`` with stemming) and ``bleu`` (``sacrebleu``'s corpus BLEU,
    0-100) of predicted texts against reference texts."""
    rouge_scorer = _require("rouge_score.rouge_scorer", "rouge-score")
    sacrebleu = _require("sacrebleu", "sacrebleu")
    n = max(len(references), 1)
    kinds = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(kinds), use_stemmer=True)
    rouge = {k: 0.0 for k in kinds}
    for p, r in zip(predictions, references):
        scores = scorer.score(r, p)
        for k in kinds:
            rouge[k] += scores[k].fmeasure / n
    exact = sum(_normalized(p) == _normalized(r) for p, r in zip(predictions, references)) / n
    bleu = sacrebleu.corpus_bleu(list(predictions), [list(references)]).score
    return {"exact_match": exact, **rouge, "bleu": bleu}


class Seq2SeqTask(Task):
    """Text -> text with an encoder-decoder (see the module docstring)."""

    main_metric = "rougeL"
    metric_names = ("exact_match", "rouge1", "rouge2", "rougeL", "bleu")
    plot_also = ("exact_match", "bleu")
    baseline_name = "copy-the-source baseline"
    special_tokens = ()      # its encodings use the tokenizer's own layout
    option_defaults = {"max_target_length": 64, "label_smoothing": 0.1, "num_beams": 1,
                       "length_penalty": 1.0}

    @classmethod
    def add_arguments(cls, parser):
        d = cls.option_defaults
        g = parser.add_argument_group("sequence to sequence")
        g.add_argument("--max-target-length", type=int, default=d["max_target_length"],
                       help="target tokens, special tokens included; also the most tokens "
                            "evaluation generates (default %(default)s)")
        g.add_argument("--label-smoothing", type=float, default=d["label_smoothing"],
                       help="weight of the uniform distribution in the target (default "
                            "%(default)s)")
        g.add_argument("--num-beams", type=int, default=d["num_beams"],
                       help="beam search width of evaluation and predict (1: greedy)")
        g.add_argument("--length-penalty", type=float, default=d["length_penalty"],
                       help="beam search: scores are divided by length ** this")

    @classmethod
    def check_options(cls, options):
        if options["max_target_length"] < 2:
            raise UsageError("--max-target-length must be at least 2")
        if not 0.0 <= options["label_smoothing"] < 1.0:
            raise UsageError("--label-smoothing must be in [0, 1)")
        if options["num_beams"] < 1:
            raise UsageError("--num-beams must be at least 1")
        _require("rouge_score.rouge_scorer", "rouge-score")
        _require("sacrebleu", "sacrebleu")

    # ---- data
    def read(self, path, columns, require_label=True):
        return read_seq2seq_examples(path, columns, require_target=require_label)

    def has_labels(self, examples):
        return all(e.target is not None for e in examples)

    def _encode(self, ex, text, what, limit, truncation, option):
        """``text`` with the tokenizer's special tokens, at most ``limit`` tokens."""
        try:
            ids = self.tok.encode_pair(text).ids
            if len(ids) <= limit:
                return ids
            if truncation is None:
                raise data_error(ex.source, ex.line, f"the {what} has {len(ids)} tokens "
                                                     f"(special tokens included), more than "
                                                     f"the {limit} of {option}, and --truncation "
                                                     f"is none; shorten it, raise {option} or "
                                                     f"let it be truncated")
            return self.tok.encode_pair(text, max_length=limit, truncation="only_first").ids
        except (TokenizerError, ValueError) as e:
            if isinstance(e, TaskDataError):
                raise
            raise data_error(ex.source, ex.line, str(e).split(": ", 1)[-1]) from None

    def featurize(self, examples, truncation):
        out = []
        for i, ex in enumerate(examples):
            src = self._encode(ex, ex.text, "source", self.max_length, truncation,
                               "--max-seq-length (the encoder's input)")
            tgt = None
            if ex.target is not None:
                tgt = self._encode(ex, ex.target, "target", self.meta["max_target_length"],
                                   truncation, "--max-target-length")
            out.append(Seq2SeqFeature(i, src, [0] * len(src), tgt))
        return out

    # ---- model
    def arrays(self, features, with_labels):
        """``src`` (B, S), ``src_valid`` (B,); with labels ``labels`` (B, T), ``label_weights``
        (B, T), ``tgt_valid`` (B,)."""
        lengths = [len(f.ids) for f in features]
        out = {"src": pad_rows([f.ids for f in features], padded_length(lengths, self.max_length),
                               self.pad_id),
               "src_valid": np.array(lengths, dtype=np.float32)}
        if with_labels:
            targets = [f.target_ids for f in features]
            T = padded_length([len(t) for t in targets], self.meta["max_target_length"])
            out["labels"] = pad_rows(targets, T, self.pad_id)
            out["label_weights"] = pad_rows([[1.0] * len(t) for t in targets], T, 0.0)
            out["tgt_valid"] = np.array([len(t) for t in targets], dtype=np.float32)
        return out

    def forward(self, model, batch):
        """Training (the batch has labels): the LM scores of the teacher-forced target.
        Evaluation: the generated token ids of every source."""
        config = model.config
        if "labels" in batch:
            tgt = decoder_inputs(mx.nd, batch["labels"], config.decoder_start_token_id)
            return model(batch["src"], batch["src_valid"], tgt, batch["tgt_valid"])[2]
        src = batch["src"].asnumpy().astype(np.int64)
        valid = batch["src_valid"].asnumpy().astype(np.int64)
        steps = self.meta["max_target_length"]
        if getattr(model, "target_limit", None):     # no more tokens than decoder positions
            steps = min(steps, model.target_limit)
        return generate(model, [list(src[b, :n]) for b, n in enumerate(valid)],
                        max_new_tokens=steps, num_beams=self.meta["num_beams"],
                        length_penalty=self.meta["length_penalty"],
                        eos_id=config.eos_token_id)

    def make_loss(self):
        return LabelSmoothedCrossEntropy(self.meta["label_smoothing"])

    def loss(self, loss_fn, out, batch):
        return loss_fn(out, batch["labels"], batch["label_weights"])

    def collect(self, out, features, batch):
        return list(out)

    # ---- results
    def predictions(self, examples, features, outputs):
        return [self.tok.decode(ids, skip_special_tokens=True).strip() for ids in outputs]

    def metrics(self, examples, predictions):
        return seq2seq_metrics(predictions, [e.target for e in examples])

    def baseline(self, train_examples, examples):
        """Copying the source."""
        return self.metrics(examples, [e.text for e in examples])

    def write(self, path, examples, predictions):
        write_jsonl(path, ({"line": e.line, "source": e.text, "prediction": p,
                            **({"target": e.target} if e.target is not None else {})}
                           for e, p in zip(examples, predictions)))


register_task("seq2seq", Seq2SeqTask)
