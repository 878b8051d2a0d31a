"""Causal language modelling on a text file: finetune a decoder (GPT-2) on more text; predict
scores a text (per-document loss, perplexity and next-token accuracy).

Files: plain text (or ``.gz``), a blank line between documents (a file without blank lines
is one document per 10,000 lines), as the pretraining corpora. Each document is its lines
joined by newlines and ended by the tokenizer's end-of-text token; the documents of a file
form one token stream, cut into blocks of ``--max-seq-length + 1`` tokens that overlap by
one (:mod:`zoo.lm_data`), so every token but the first is a target exactly once.
Model: ``get_model(..., task="causal_lm")`` (GPT-2: the LM model) -> scores (B, L, vocab).
Metrics: ``log_likelihood`` (the mean log-probability of a target token, in nats: minus the
loss; higher is better, so it picks the best model), ``perplexity`` and next-token
``accuracy``; the baseline is a unigram model of the training text.
"""
import math
from typing import NamedTuple

import mxnet as mx
import numpy as np

from heads.losses import MaskedLMLoss

from ..data import DataError, iter_documents
from ..lm_data import block_arrays, document_ids, end_of_text_id, token_blocks
from .base import Task, register_task, write_jsonl
from .data import TaskDataError

__all__ = ["CausalLMTask", "TextDocument", "TokenBlock"]


class TextDocument(NamedTuple):
    source: str              # the file
    index: int               # the document's number in the file
    lines: list


class TokenBlock(NamedTuple):
    example: int             # the document of the block's first target
    ids: list                # inputs: block[:-1]
    token_types: list
    block: list              # the block's tokens (inputs and the last target)
    documents: np.ndarray    # the document of each target, block[1:]


class CausalLMTask(Task):
    main_metric = "log_likelihood"
    metric_names = ("log_likelihood", "perplexity", "accuracy")
    plot_also = ("accuracy",)
    baseline_name = "unigram baseline"
    special_tokens = ()          # no [CLS]/[SEP]: documents end with the end-of-text token

    def _eos(self):
        eos = end_of_text_id(self.tok)
        if eos is None:
            raise TaskDataError(f"{self.tok.source}: the tokenizer has no end-of-text token "
                                f"(<|endoftext|>) to end documents with")
        return eos

    def read(self, path, columns, require_label=True):
        try:
            docs = [TextDocument(path, k, lines) for k, lines in iter_documents([path])]
        except DataError as e:
            raise TaskDataError(str(e)) from None
        if not docs:
            raise TaskDataError(f"{path}: no text")
        return docs

    def has_labels(self, examples):
        return True                  # a text is its own target

    def featurize(self, examples, truncation):
        ids = document_ids(self.tok, [d.lines for d in examples], self._eos())
        starts = np.cumsum([0] + [len(d) for d in ids])[:-1]      # stream position of each
        stream = [t for d in ids for t in d]
        blocks, tail = token_blocks(stream, self.max_length)
        if len(tail) > 1:
            blocks.append(tail)
        out = []
        for k, block in enumerate(blocks):
            targets = k * self.max_length + 1 + np.arange(len(block) - 1)   # stream positions
            documents = np.searchsorted(starts, targets, side="right") - 1
            out.append(TokenBlock(int(documents[0]), block[:-1], [0] * (len(block) - 1), block,
                                  documents))
        return out

    def model_kwargs(self):
        return {"task": self.name, "num_classes": None}

    def arrays(self, features, with_labels):
        return block_arrays([f.block for f in features], max(len(f.ids) for f in features),
                            self.pad_id)

    def forward(self, model, batch):
        return model(batch["input_ids"], batch["valid_length"])[1]

    def make_loss(self):
        return MaskedLMLoss()

    def loss(self, loss_fn, out, batch):
        return loss_fn(out, batch["labels"], batch["label_weights"])

    def collect(self, out, features, batch):
        """Per block: the negative log-likelihood of each target, and whether it is the
        highest-scoring token (numpy (n,) each)."""
        nll = -mx.nd.pick(mx.nd.log_softmax(out, axis=-1), batch["labels"], axis=-1)
        correct = mx.nd.argmax(out, axis=-1) == batch["labels"]
        nll, correct = nll.asnumpy(), correct.asnumpy()
        return [(nll[i, :len(f.ids)], correct[i, :len(f.ids)]) for i, f in enumerate(features)]

    def predictions(self, examples, features, outputs):
        """Per document: (summed negative log-likelihood, correct next tokens, targets) of
        the targets in it."""
        totals = np.zeros((len(examples), 3))
        for f, (nll, correct) in zip(features, outputs):
            np.add.at(totals, (f.documents, 0), nll)
            np.add.at(totals, (f.documents, 1), correct)
            np.add.at(totals, (f.documents, 2), 1.0)
        return list(totals)

    def metrics(self, examples, predictions):
        nll, correct, count = np.sum(predictions, axis=0)
        loss = float(nll / max(count, 1))
        return {"log_likelihood": -loss, "perplexity": math.exp(min(loss, 50)),
                "accuracy": float(correct / max(count, 1))}

    def baseline(self, train_examples, examples):
        """A unigram model of the training text (add-one smoothed): its log-likelihood and
        perplexity; its accuracy is always predicting the most frequent token."""
        eos = self._eos()
        train = np.concatenate(document_ids(self.tok, [d.lines for d in train_examples], eos))
        counts = np.bincount(train, minlength=self.tok.vocab_size) + 1.0
        logp = np.log(counts / counts.sum())
        targets = np.concatenate(document_ids(self.tok, [d.lines for d in examples], eos))[1:]
        loss = float(-logp[targets].mean())
        return {"log_likelihood": -loss, "perplexity": math.exp(min(loss, 50)),
                "accuracy": float(np.mean(targets == np.argmax(counts)))}

    def write(self, path, examples, predictions):
        def record(doc, total):
            nll, correct, count = (float(x) for x in total)
            return {"document": doc.index, "tokens": int(count),
                    "log_likelihood": -nll / count if count else None,
                    "accuracy": correct / count if count else None}
        write_jsonl(path, (record(d, p) for d, p in zip(examples, predictions)))


register_task("causal_lm", CausalLMTask)
