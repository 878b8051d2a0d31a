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
import numpy as np

from .data import DataError
from .data.buffered import BufferedDocumentPipeline

__all__ = ["CausalLMPipeline", "end_of_text_id", "document_ids", "token_blocks",
           "block_arrays"]

_END_OF_TEXT = ("<|endoftext|>", "</s>", "[SEP]")


def end_of_text_id(tokenizer, names=_END_OF_TEXT):
    """The id that ends a document for ``tokenizer``: its ``eos_id`` if it has one, else the
    first of ``names`` (``<|endoftext|>``, ``</s>``, ``[SEP]``) in its vocabulary; None
    without any."""
    eos = getattr(tokenizer, "eos_id", None)
    if eos is not None:
        return eos
    for name in names:
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


class CausalLMPipeline(BufferedDocumentPipeline):
    """Causal-LM batches from raw text; see the module docstring.

    Parameters: ``files`` (paths/globs), ``tokenizer`` (a :mod:`zoo.tokenizers` tokenizer),
    ``batch_size``, ``max_seq_length`` (L), ``eos_id`` (default: :func:`end_of_text_id`),
    and those of :class:`~zoo.data.buffered.BufferedDocumentPipeline` (``buffer_documents``,
    ``num_epochs``, ``seed``, ``num_shards`` / ``shard_index``, ``shuffle`` (files and
    blocks), ``drop_last``, ``errors``).
    """

    kind = "causal-LM"
    shuffle_label = "blocks"

    def __init__(self, files, tokenizer, *, batch_size=8, max_seq_length=128, eos_id=None,
                 **options):
        super().__init__(files, tokenizer, batch_size=batch_size,
                         positive=(("max_seq_length", max_seq_length),), **options)
        self.max_seq_length = max_seq_length
        self.eos_id = end_of_text_id(tokenizer) if eos_id is None else eos_id
        if self.eos_id is None:
            raise DataError(f"{tokenizer.source}: the vocabulary has no end-of-text token "
                            f"({', '.join(_END_OF_TEXT)}) to separate documents; pass eos_id")

    def _extend(self, tokens, epoch, buffer, documents):
        """The buffer's documents continue the token stream; its whole blocks are the items,
        the tokens short of a block go on."""
        tokens = tokens + [t for ids in document_ids(self.tokenizer, documents, self.eos_id)
                           for t in ids]
        return token_blocks(tokens, self.max_seq_length)

    def _batch(self, blocks):
        return block_arrays(blocks, self.max_seq_length)

    def _last_items(self, tokens, blocks):
        """The blocks left and the stream's tail, padded into a last block."""
        return blocks + [tokens] if len(tokens) > 1 else blocks
