"""Causal language-model batches from raw text: fixed-length token blocks, sharded by worker,
resumable exactly. Family-agnostic (any tokenizer with an end-of-text token). ::

    from zoo.lm_data import CausalLMPipeline
    pipe = CausalLMPipeline(["corpus/*.txt"], tokenizer, batch_size=8, max_seq_length=128,
                            seed=1, num_shards=4, shard_index=rank)
    for batch in pipe:            # dict of numpy arrays
        ...
        state = pipe.state_dict()   # JSON-serialisable; load_state_dict(state) resumes exactly

Input: the text files of :mod:`zoo.data` (plain or ``.gz``, globs; a blank line between
documents). A document is its lines joined by newlines, tokenized, and followed by the
end-of-text token; the documents of an epoch form one token stream, cut into blocks of
``max_seq_length + 1`` tokens that overlap by one, so that every token of the stream is a
target exactly once (GPT-2's training layout):

==============  =======  =======  ======================================================
key             shape    dtype    meaning
==============  =======  =======  ======================================================
input_ids       (B, L)   int32    block[:L] (padding 0 after valid_length)
labels          (B, L)   int32    block[1:L+1]: the token that follows each input
label_weights   (B, L)   float32  1 for a real target, 0 for padding
valid_length    (B,)     int32    L, except in the padded last block of a finite run
==============  =======  =======  ======================================================

How it works, per epoch: files are visited in an order shuffled by ``(seed, epoch)``; this
shard's documents (document ``k`` of the epoch belongs to shard ``k % num_shards``) are read
``buffer_documents`` at a time; each buffer's tokens continue the stream left by the one
before, its blocks are shuffled by ``(seed, epoch, buffer)`` and cut into batches; tokens
short of a block and blocks short of a batch carry into the next buffer (and, when epochs
repeat, into the next epoch). A finite run (``num_epochs``) ends with the blocks left and
the tail of the stream padded into a last, smaller batch, unless ``drop_last``.

``state_dict()`` after a batch names the buffer that batch came from (its first document,
what it carried in, how many of its batches are done): ``load_state_dict`` rebuilds that
buffer and continues with the next batch, so a resumed run sees exactly the batches an
uninterrupted one would.
"""
import itertools
import random

import numpy as np

from .data import DataError, expand_files, iter_documents

__all__ = ["CausalLMPipeline", "end_of_text_id", "document_ids", "token_blocks",
           "block_arrays"]

_END_OF_TEXT = ("<|endoftext|>", "</s>", "[SEP]")


def end_of_text_id(tokenizer):
    """The id that ends a document for ``tokenizer``: its ``eos_id`` if it has one, else the
    first of ``<|endoftext|>``, ``</s>``, ``[SEP]`` in its vocabulary; None without any."""
    eos = getattr(tokenizer, "eos_id", None)
    if eos is not None:
        return eos
    for name in _END_OF_TEXT:
        if tokenizer.token_to_id(name) is not None:
            return tokenizer.token_to_id(name)
    return None


def document_ids(tokenizer, documents, eos_id):
    """Token ids of each document (a list of lines, joined by newlines), ended by
    ``eos_id``: the pieces of the token stream."""
    encoded = tokenizer.encode_batch(["\n".join(lines) for lines in documents])
    return [list(ids) + [eos_id] for ids in encoded]


def token_blocks(tokens, length):
    """Blocks of ``length + 1`` tokens, consecutive ones overlapping by one (inputs
    ``block[:-1]``, targets ``block[1:]``: every token after the first is a target once);
    and the tail that is short of a block (it starts with the last block's last token)."""
    n = max(0, (len(tokens) - 1) // length)
    return [tokens[i * length:i * length + length + 1] for i in range(n)], tokens[n * length:]


def block_arrays(blocks, length, pad_id=0):
    """The batch of ``blocks`` (token lists of at most ``length + 1``): ``input_ids``,
    ``labels``, ``label_weights`` (B, length) and ``valid_length`` (B,), as in the module
    docstring (inputs padded with ``pad_id``)."""
    B = len(blocks)
    out = {"input_ids": np.full((B, length), pad_id, np.int32),
           "labels": np.zeros((B, length), np.int32),
           "label_weights": np.zeros((B, length), np.float32),
           "valid_length": np.zeros(B, np.int32)}
    for b, block in enumerate(blocks):
        n = len(block) - 1
        out["input_ids"][b, :n] = block[:-1]
        out["labels"][b, :n] = block[1:]
        out["label_weights"][b, :n] = 1.0
        out["valid_length"][b] = n
    return out


class CausalLMPipeline:
    """Causal-LM batches from raw text; see the module docstring.

    Parameters: ``files`` (paths/globs), ``tokenizer`` (a :mod:`zoo.tokenizers` tokenizer),
    ``batch_size``, ``max_seq_length`` (L), ``eos_id`` (default: :func:`end_of_text_id`),
    ``buffer_documents`` (documents per shuffle buffer), ``num_epochs`` (None = repeat
    forever), ``seed``, ``num_shards`` / ``shard_index``, ``shuffle`` (files and blocks),
    ``drop_last`` (a finite run drops its last, partial batch), ``errors`` (bytes that are
    not UTF-8: "strict", "replace" or "skip").
    """

    def __init__(self, files, tokenizer, *, batch_size=8, max_seq_length=128, eos_id=None,
                 buffer_documents=1000, num_epochs=None, seed=0, num_shards=1, shard_index=0,
                 shuffle=True, drop_last=False, errors="strict"):
        for name, value in (("batch_size", batch_size), ("max_seq_length", max_seq_length),
                            ("buffer_documents", buffer_documents), ("num_shards", num_shards)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard_index {shard_index} is not in [0, {num_shards})")
        self.files = expand_files(files)
        self.tokenizer = tokenizer
        self.eos_id = end_of_text_id(tokenizer) if eos_id is None else eos_id
        if self.eos_id is None:
            raise DataError(f"{tokenizer.source}: the vocabulary has no end-of-text token "
                            f"({', '.join(_END_OF_TEXT)}) to separate documents; pass eos_id")
        self.batch_size, self.max_seq_length = batch_size, max_seq_length
        self.buffer_documents, self.num_epochs, self.seed = buffer_documents, num_epochs, seed
        self.num_shards, self.shard_index = num_shards, shard_index
        self.shuffle, self.drop_last, self.errors = shuffle, drop_last, errors
        self._state = self._initial_state()

    # ---- state ------------------------------------------------------------------------
    @staticmethod
    def _initial_state():
        return {"epoch": 0, "buffer": 0, "first_doc": 0, "carry_tokens": [],
                "carry_blocks": [], "batches_done": 0}

    def state_dict(self):
        """Where the pipeline stands after the last batch it produced (JSON-serialisable)."""
        return {k: (list(map(list, v)) if k == "carry_blocks" else list(v))
                if isinstance(v, list) else v for k, v in self._state.items()}

    def load_state_dict(self, state):
        """Continue after the batch that ``state`` (from :meth:`state_dict`) was taken at."""
        missing = set(self._initial_state()) - set(state)
        if missing:
            raise DataError(f"not a causal-LM pipeline state (missing {sorted(missing)})")
        self._state = {k: state[k] for k in self._initial_state()}

    # ---- reading ----------------------------------------------------------------------
    def _file_order(self, epoch):
        if not self.shuffle:
            return list(self.files)
        order = list(self.files)
        random.Random(f"{self.seed}-files-{epoch}").shuffle(order)
        return order

    def _buffers(self, epoch, first_doc):
        """Yield ``(first document index, [token ids of each document])`` per buffer of this
        shard's documents, from document ``first_doc`` of the epoch on."""
        docs = ((k, s) for k, s in iter_documents(
            self._file_order(epoch), num_shards=self.num_shards, shard_index=self.shard_index,
            errors=self.errors) if k >= first_doc)
        while True:
            chunk = list(itertools.islice(docs, self.buffer_documents))
            if not chunk:
                return
            yield chunk[0][0], chunk[-1][0] + 1, document_ids(
                self.tokenizer, [sentences for _, sentences in chunk], self.eos_id)

    def __iter__(self):
        s = self._state
        epoch, buffer, first_doc = s["epoch"], s["buffer"], s["first_doc"]
        tokens, blocks, skip = list(s["carry_tokens"]), [list(b) for b in s["carry_blocks"]], \
            s["batches_done"]
        B = self.batch_size
        while self.num_epochs is None or epoch < self.num_epochs:
            produced = False
            for start, end, docs in self._buffers(epoch, first_doc):
                produced = True
                carried = (list(tokens), [list(b) for b in blocks])
                tokens = tokens + [t for ids in docs for t in ids]
                new, tokens = token_blocks(tokens, self.max_seq_length)
                blocks = blocks + new
                if self.shuffle:
                    random.Random(f"{self.seed}-blocks-{epoch}-{buffer}").shuffle(blocks)
                full = len(blocks) // B
                for k in range(full):
                    if k < skip:
                        continue
                    self._state = {"epoch": epoch, "buffer": buffer, "first_doc": start,
                                   "carry_tokens": carried[0], "carry_blocks": carried[1],
                                   "batches_done": k + 1}
                    yield block_arrays(blocks[k * B:(k + 1) * B], self.max_seq_length)
                skip = 0
                blocks = blocks[full * B:]
                buffer, first_doc = buffer + 1, end
            if not produced and first_doc == 0:
                raise DataError(f"no text in {', '.join(self.files)}"
                                f"{f' for shard {self.shard_index} of {self.num_shards}' if self.num_shards > 1 else ''}")
            epoch, buffer, first_doc = epoch + 1, 0, 0
        if not self.drop_last and len(tokens) > 1:
            blocks.append(tokens)
        for k in range(0, len(blocks) if not self.drop_last else 0, B):
            self._state = {"epoch": epoch, "buffer": 0, "first_doc": 0, "carry_tokens": [],
                           "carry_blocks": [list(b) for b in blocks[k + B:]],
                           "batches_done": 0}
            yield block_arrays(blocks[k:k + B], self.max_seq_length)
