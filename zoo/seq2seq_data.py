"""Denoising pretraining data for encoder-decoders, from raw text: T5's span corruption and
BART's text infilling with sentence permutation; sharded by worker, resumable exactly.

    from zoo.seq2seq_data import DenoisingPipeline, SpanCorruption
    pipe = DenoisingPipeline(["corpus/*.txt"], tokenizer, SpanCorruption(tokenizer, 128),
                             batch_size=8, seed=1, num_shards=4, shard_index=rank)
    for batch in pipe:               # dict of numpy arrays
        ...
        state = pipe.state_dict()    # JSON-serialisable; load_state_dict(state) resumes exactly

The objectives (each a function of one text segment and a random generator):

* :class:`SpanCorruption` (Raffel et al., 2020): 15 % of a segment's tokens, in spans of mean
  length 3, are noise. The input keeps the other tokens and puts one sentinel where each
  noise span was; the target lists each span after its sentinel; both end with the
  end-of-sequence token. Sentinels are ``<extra_id_0>``, ``<extra_id_1>``, ... of a T5
  vocabulary (``tokenizer.sentinel_ids``), numbered from the end of the vocabulary; for a
  vocabulary without them, the last ids (``vocab_size - 1 - i``), as T5 numbers them. A
  segment is as many tokens as fill ``max_seq_length`` after corruption (T5's
  inputs-length arithmetic); the documents of a buffer form one token stream.
* :class:`TextInfilling` (Lewis et al., 2020): a segment is whole sentences (lines) of one
  document, up to ``max_seq_length`` with the special tokens; the input is the sentences in
  a random order with spans of Poisson(3) lengths covering about 30 % of the tokens each
  replaced by one mask token (a span of length 0 inserts one); the target is the segment as
  it was. Both carry the tokenizer's special tokens (``<s> ... </s>``).

Batches (fixed shapes, so that one hybridized graph serves every step):

====================  =======  =======  ==================================================
key                   shape    dtype    meaning
====================  =======  =======  ==================================================
input_ids             (B, S)   int32    the corrupted source (padding 0 after valid_length)
valid_length          (B,)     int32    source lengths
labels                (B, T)   int32    the target; the decoder reads it shifted right
                                        behind the model's start token (:func:`decoder_inputs`)
label_weights         (B, T)   float32  1 for a real target token, 0 for padding
decoder_valid_length  (B,)     int32    target lengths
====================  =======  =======  ==================================================

How it works, per epoch: files in an order shuffled by ``(seed, epoch)``; this shard's
documents (document ``k`` of the epoch belongs to shard ``k % num_shards``) read
``buffer_documents`` at a time; each buffer's segments are corrupted with a generator seeded by
``(seed, epoch, buffer, segment)``, shuffled by ``(seed, epoch, buffer)`` and cut into batches;
examples short of a batch carry into the next buffer. ``state_dict()`` after a batch names
the buffer that batch came from, what it carried in and how many of its batches are done:
``load_state_dict`` rebuilds that buffer and continues with the next batch, so a resumed run
sees exactly the batches an uninterrupted one would.
"""
import math

import numpy as np

from .data import DataError, iter_documents
from .data.buffered import BufferedDocumentPipeline
from .lm_data import end_of_text_id

__all__ = ["DenoisingPipeline", "SpanCorruption", "TextInfilling", "span_noise_mask",
           "span_corruption", "text_infilling", "decoder_inputs", "end_of_sequence_id",
           "first_words_reversed", "stdlib_reversal_task"]

_END_OF_SEQUENCE = ("</s>", "[SEP]", "<|endoftext|>")


def end_of_sequence_id(tokenizer):
    """The id that ends a sequence for ``tokenizer``: its ``eos_id`` if it has one, else the
    first of ``</s>``, ``[SEP]``, ``<|endoftext|>`` in its vocabulary; None without any."""
    return end_of_text_id(tokenizer, _END_OF_SEQUENCE)


def decoder_inputs(F, labels, start_id):
    """Teacher forcing: the decoder reads the target shifted right behind its start token.
    labels (B, T) -> (B, T) = [start_id, labels[:, :-1]] (NDArray or Symbol)."""
    first = F.ones_like(F.slice_axis(labels, axis=1, begin=0, end=1)) * start_id
    return F.concat(first, F.slice_axis(labels, axis=1, begin=0, end=-1), dim=1)


# ------------------------------------------------------------------------ span corruption

def _random_segmentation(num_items, num_segments, rng):
    """Lengths of a uniformly random partition of ``num_items`` into ``num_segments``
    non-empty parts (T5's ``_random_segmentation``)."""
    dividers = np.arange(num_items - 1) < (num_segments - 1)
    rng.shuffle(dividers)
    segment = np.cumsum(np.concatenate([[0], dividers]))
    return np.bincount(segment, minlength=num_segments)


def _span_counts(length, noise_density, mean_span):
    """(noise tokens, noise spans) of a segment of ``length`` tokens, as T5 rounds them."""
    noise = min(max(int(round(length * noise_density)), 1), length - 1)
    spans = min(max(int(round(noise / mean_span)), 1), length - noise)
    return noise, spans


def span_noise_mask(length, noise_density, mean_span, rng):
    """A bool array (length,): which tokens are noise. Noise and kept tokens alternate in
    spans, a kept span first; the noise spans' lengths average ``mean_span`` (T5's
    ``random_spans_noise_mask``)."""
    noise, spans = _span_counts(length, noise_density, mean_span)
    noise_lengths = _random_segmentation(noise, spans, rng)
    kept_lengths = _random_segmentation(length - noise, spans, rng)
    starts = np.cumsum(np.stack([kept_lengths, noise_lengths], axis=1).reshape(-1))[:-1]
    span_start = np.zeros(length, dtype=bool)
    span_start[starts] = True
    return np.cumsum(span_start) % 2 == 1


def span_corruption(tokens, mask, sentinels, eos_id):
    """(input, target) of ``tokens`` with the noise ``mask``: the input keeps the other tokens
    and holds ``sentinels[i]`` in place of the i-th noise span, the target is each sentinel
    followed by its span; both end with ``eos_id``."""
    source, target, span = [], [], -1
    for i, (token, noisy) in enumerate(zip(tokens, mask)):
        if noisy:
            if i == 0 or not mask[i - 1]:
                span += 1
                source.append(sentinels[span])
                target.append(sentinels[span])
            target.append(token)
        else:
            source.append(token)
    return source + [eos_id], target + [eos_id]


def _sentinels(tokenizer, count):
    ids = list(getattr(tokenizer, "sentinel_ids", None) or ())
    if ids:
        if len(ids) < count:
            raise DataError(f"{tokenizer.source}: span corruption needs up to {count} sentinel "
                            f"tokens per segment, the vocabulary has {len(ids)}")
        return ids
    return [tokenizer.vocab_size - 1 - i for i in range(count)]


class SpanCorruption:
    """T5's objective (see the module docstring): ``noise_density`` 0.15, ``mean_span`` 3."""

    name = "span corruption"

    def __init__(self, tokenizer, max_seq_length, *, noise_density=0.15, mean_span=3.0):
        self.noise_density, self.mean_span = noise_density, mean_span
        self.eos_id = end_of_sequence_id(tokenizer)
        if self.eos_id is None:
            raise DataError(f"{tokenizer.source}: the vocabulary has no end-of-sequence token "
                            f"({', '.join(_END_OF_SEQUENCE)})")
        self.raw_length = self._raw_length(max_seq_length)
        noise, spans = _span_counts(self.raw_length, noise_density, mean_span)
        self.source_length = self.raw_length - noise + spans + 1
        self.target_length = noise + spans + 1
        self.sentinels = _sentinels(tokenizer, spans)

    def _raw_length(self, max_seq_length):
        """The longest segment whose input (kept tokens, a sentinel per span, end of
        sequence) fits ``max_seq_length``."""
        def source(n):
            noise, spans = _span_counts(n, self.noise_density, self.mean_span)
            return n - noise + spans + 1
        n = 2
        if source(n) > max_seq_length:
            raise DataError(f"max_seq_length {max_seq_length} is too short for span corruption")
        while source(n + 1) <= max_seq_length:
            n += 1
        return n

    def segments(self, documents):
        """One token stream of the buffer's documents, cut into segments of ``raw_length``
        tokens (the last one shorter)."""
        stream = [t for doc in documents for sentence in doc for t in sentence]
        n = self.raw_length
        return [stream[i:i + n] for i in range(0, len(stream), n) if len(stream[i:i + n]) > 1]

    def corrupt(self, segment, rng):
        mask = span_noise_mask(len(segment), self.noise_density, self.mean_span, rng)
        return span_corruption(segment, mask, self.sentinels, self.eos_id)


# ----------------------------------------------------------------------- text infilling

def text_infilling(tokens, rng, mask_id, *, mask_ratio=0.3, poisson_lambda=3.0):
    """``tokens`` with spans covering about ``mask_ratio`` of them replaced by one
    ``mask_id`` each: span lengths drawn from Poisson(``poisson_lambda``) until they add up
    to the budget, starts uniform; a span of length 0 inserts a mask, overlapping spans
    become one."""
    n = len(tokens)
    budget = int(math.ceil(n * mask_ratio))
    if n == 0 or budget == 0:
        return list(tokens)
    lengths = []
    while sum(lengths) < budget:
        lengths.append(int(rng.poisson(poisson_lambda)))
    lengths[-1] -= sum(lengths) - budget
    masked = np.zeros(n, dtype=bool)
    inserted = np.zeros(n + 1, dtype=bool)
    for start, length in zip(rng.integers(0, n, size=len(lengths)), lengths):
        if length == 0:
            inserted[start] = True
        else:
            masked[start:start + length] = True
    out = []
    for i, token in enumerate(tokens):
        if inserted[i] and not masked[i] and not (i > 0 and masked[i - 1]):
            out.append(mask_id)
        if not masked[i]:
            out.append(token)
        elif i == 0 or not masked[i - 1]:
            out.append(mask_id)
    return out


class TextInfilling:
    """BART's objective (see the module docstring): sentence permutation, then text
    infilling with ``mask_ratio`` 0.3 and Poisson(``poisson_lambda`` = 3) spans."""

    name = "text infilling + sentence permutation"

    def __init__(self, tokenizer, max_seq_length, *, mask_ratio=0.3, poisson_lambda=3.0):
        if tokenizer.mask_id is None:
            raise DataError(f"{tokenizer.source}: text infilling needs a mask token (<mask>)")
        self.tokenizer, self.mask_ratio, self.poisson_lambda = tokenizer, mask_ratio, poisson_lambda
        self.specials = len(tokenizer.encode_pair([]).ids)
        self.room = max_seq_length - self.specials
        if self.room < 2:
            raise DataError(f"max_seq_length {max_seq_length} leaves no room for text")
        self.source_length = self.target_length = max_seq_length

    def segments(self, documents):
        """Consecutive whole sentences of one document up to the room special tokens leave
        (a longer sentence is cut into pieces of that size)."""
        out = []
        for doc in documents:
            current = []
            for sentence in doc:
                for k in range(0, max(len(sentence), 1), self.room):
                    piece = sentence[k:k + self.room]
                    if not piece:
                        continue
                    if current and sum(map(len, current)) + len(piece) > self.room:
                        out.append(current)
                        current = []
                    current.append(piece)
            if current:
                out.append(current)
        return out

    def corrupt(self, segment, rng):
        order = rng.permutation(len(segment))
        permuted = [t for k in order for t in segment[k]]
        noisy = text_infilling(permuted, rng, self.tokenizer.mask_id,
                               mask_ratio=self.mask_ratio, poisson_lambda=self.poisson_lambda)
        wrap = self.tokenizer.encode_pair
        return wrap(noisy).ids, wrap([t for sentence in segment for t in sentence]).ids


# ----------------------------------------------------------------------------- pipeline

class DenoisingPipeline(BufferedDocumentPipeline):
    """Denoising batches from raw text; see the module docstring.

    Parameters: ``files`` (paths/globs), ``tokenizer``, ``objective`` (a
    :class:`SpanCorruption` or :class:`TextInfilling` of that tokenizer), ``batch_size``, and
    those of :class:`~zoo.data.buffered.BufferedDocumentPipeline` (``buffer_documents``,
    ``num_epochs``, ``seed``, ``num_shards`` / ``shard_index``, ``shuffle`` (files and
    examples), ``drop_last``, ``errors``). Further keyword arguments (the pretraining
    program's masking options) are not this pipeline's and are ignored.
    """

    kind = "denoising"
    shuffle_label = "examples"
    _OPTIONS = ("buffer_documents", "num_epochs", "seed", "num_shards", "shard_index",
                "shuffle", "drop_last", "errors")

    def __init__(self, files, tokenizer, objective, *, batch_size=8, **options):
        super().__init__(files, tokenizer, batch_size=batch_size,
                         **{k: v for k, v in options.items() if k in self._OPTIONS})
        self.objective = objective

    def _extend(self, stream, epoch, buffer, documents):
        """The buffer's (source, target) pairs, each segment corrupted by its own generator;
        nothing but examples carries on."""
        encoded = iter(self.tokenizer.encode_batch([s for doc in documents for s in doc]))
        documents = [[next(encoded) for _ in doc] for doc in documents]
        out = []
        for k, segment in enumerate(self.objective.segments(documents)):
            rng = np.random.default_rng((self.seed, epoch, buffer, k))
            out.append(self.objective.corrupt(segment, rng))
        return out, stream

    def _batch(self, pairs):
        S, T = self.objective.source_length, self.objective.target_length
        B = len(pairs)
        out = {"input_ids": np.zeros((B, S), np.int32), "valid_length": np.zeros(B, np.int32),
               "labels": np.zeros((B, T), np.int32),
               "label_weights": np.zeros((B, T), np.float32),
               "decoder_valid_length": np.zeros(B, np.int32)}
        for b, (source, target) in enumerate(pairs):
            out["input_ids"][b, :len(source)] = source
            out["valid_length"][b] = len(source)
            out["labels"][b, :len(target)] = target
            out["label_weights"][b, :len(target)] = 1.0
            out["decoder_valid_length"][b] = len(target)
        return out


# ------------------------------------------------------------------------- a demo task

def first_words_reversed(sentence, n=5):
    """The target of the demo task: the first ``n`` words of ``sentence``, last first."""
    return " ".join(reversed(sentence.split()[:n]))


def stdlib_reversal_task(out_dir, *, max_sentences=None, dev_fraction=0.1, max_words=None):
    """A text-to-text task with a known answer, from the standard library's docstrings (no
    download): source a sentence, target its first five words in reverse order. Writes
    ``train.jsonl`` and ``dev.jsonl`` (``{"source", "target"}``) under ``out_dir``; whole
    docstrings go to one side, so no document is split between train and dev; sentences of
    more than ``max_words`` words are skipped. Returns ``{"train": n, "dev": n}``."""
    import json
    import os
    import tempfile

    from checkpoints.atomic import atomic_open

    from .data import stdlib_corpus
    rows = {"train": [], "dev": []}
    every = max(int(round(1 / dev_fraction)), 2)
    with tempfile.TemporaryDirectory(prefix="tiezoo-stdlib-") as tmp:
        corpus = os.path.join(tmp, "stdlib.txt")
        stdlib_corpus(corpus)
        for k, sentences in iter_documents([corpus]):
            split = "dev" if k % every == 0 else "train"
            for s in sentences:
                s = " ".join(s.split())
                if max_words is None or len(s.split()) <= max_words:
                    rows[split].append({"source": s, "target": first_words_reversed(s)})
    if max_sentences is not None:
        rows = {k: v[:max_sentences if k == "train" else max(1, max_sentences // 10)]
                for k, v in rows.items()}
    os.makedirs(out_dir, exist_ok=True)
    for split, items in rows.items():
        with atomic_open(os.path.join(out_dir, f"{split}.jsonl"), durable=False) as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in items)
    return {split: len(items) for split, items in rows.items()}
