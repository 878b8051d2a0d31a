"""The frame that the causal-LM and denoising pipelines share (:mod:`zoo.lm_data`,
:mod:`zoo.seq2seq_data`): this shard's documents read a buffer at a time, each buffer's items
shuffled and cut into batches, what is short of a batch carried into the next buffer, and a
state after every batch from which a resumed run sees exactly the batches an uninterrupted one
would.

Per epoch, files are visited in an order shuffled by ``(seed, epoch)``; document ``k`` of the
epoch belongs to shard ``k % num_shards``; a buffer is ``buffer_documents`` of this shard's
documents. A subclass turns a buffer into items (:meth:`_extend`, which may also carry a
stream of its own from buffer to buffer: the causal-LM pipeline's tokens short of a block),
items into a batch (:meth:`_batch`) and, at the end of a finite run, what is left into the last
items (:meth:`_last_items`).

``state_dict()`` after a batch names the buffer that batch came from (its first document, what
was carried into it, how many of its batches are done): ``load_state_dict`` rebuilds that
buffer and continues with the next batch.
"""
import itertools
import random

from .text import DataError, expand_files, iter_documents

__all__ = ["BufferedDocumentPipeline"]


def _plain(value):
    """``value`` with tuples as lists, as JSON gives it back."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class BufferedDocumentPipeline:
    """Parameters shared by the subclasses: ``files`` (paths/globs), ``tokenizer``,
    ``batch_size``, ``buffer_documents`` (documents per shuffle buffer), ``num_epochs`` (None
    = repeat forever), ``seed``, ``num_shards`` / ``shard_index``, ``shuffle`` (files and
    items), ``drop_last`` (a finite run drops its last, partial batch), ``errors`` (bytes
    that are not UTF-8: "strict", "replace" or "skip")."""

    kind = "buffered"          # names the pipeline in a state error
    shuffle_label = "items"    # part of the seed that shuffles a buffer's items

    def __init__(self, files, tokenizer, *, batch_size=8, buffer_documents=1000,
                 num_epochs=None, seed=0, num_shards=1, shard_index=0, shuffle=True,
                 drop_last=False, errors="strict", positive=()):
        for name, value in (("batch_size", batch_size), ("buffer_documents", buffer_documents),
                            ("num_shards", num_shards), *positive):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0 <= shard_index < num_shards:
            raise ValueError(f"shard_index {shard_index} is not in [0, {num_shards})")
        self.files = expand_files(files)
        self.tokenizer = tokenizer
        self.batch_size, self.buffer_documents = batch_size, buffer_documents
        self.num_epochs, self.seed = num_epochs, seed
        self.num_shards, self.shard_index = num_shards, shard_index
        self.shuffle, self.drop_last, self.errors = shuffle, drop_last, errors
        self._state = self._initial_state()

    # ---- what a subclass implements ---------------------------------------------------
    def _extend(self, stream, epoch, buffer, documents):
        """A buffer's documents (each a list of sentences) -> ``(new items, stream)``:
        ``stream`` is what the subclass carries to the next buffer besides items."""
        raise NotImplementedError

    def _batch(self, items):
        """Items -> a batch (a dict of numpy arrays)."""
        raise NotImplementedError

    def _last_items(self, stream, items):
        """The items a finite run ends with (not with ``drop_last``): by default the ones
        left."""
        return items

    # ---- state ------------------------------------------------------------------------
    @staticmethod
    def _initial_state():
        return {"epoch": 0, "buffer": 0, "first_doc": 0, "carry_stream": [], "carry_items": [],
                "batches_done": 0}

    def state_dict(self):
        """Where the pipeline stands after the last batch it produced (JSON-serialisable)."""
        return {k: _plain(v) for k, v in self._state.items()}

    def load_state_dict(self, state):
        """Continue after the batch that ``state`` (from :meth:`state_dict`) was taken at."""
        missing = set(self._initial_state()) - set(state)
        if missing:
            raise DataError(f"not a {self.kind} pipeline state (missing {sorted(missing)})")
        self._state = {k: state[k] for k in self._initial_state()}

    # ---- reading ----------------------------------------------------------------------
    def _file_order(self, epoch):
        order = list(self.files)
        if self.shuffle:
            random.Random(f"{self.seed}-files-{epoch}").shuffle(order)
        return order

    def _buffers(self, epoch, first_doc):
        """Yield ``(first document index, next document index, [sentences of each
        document])`` per buffer of this shard's documents, from document ``first_doc`` of the
        epoch on."""
        docs = ((k, s) for k, s in iter_documents(
            self._file_order(epoch), num_shards=self.num_shards, shard_index=self.shard_index,
            errors=self.errors) if k >= first_doc)
        while True:
            chunk = list(itertools.islice(docs, self.buffer_documents))
            if not chunk:
                return
            yield chunk[0][0], chunk[-1][0] + 1, [sentences for _, sentences in chunk]

    def __iter__(self):
        s = self._state
        epoch, buffer, first_doc, skip = s["epoch"], s["buffer"], s["first_doc"], \
            s["batches_done"]
        stream, items = _plain(s["carry_stream"]), _plain(s["carry_items"])
        B = self.batch_size
        while self.num_epochs is None or epoch < self.num_epochs:
            produced = False
            for start, end, documents in self._buffers(epoch, first_doc):
                produced = True
                carried = {"carry_stream": _plain(stream), "carry_items": _plain(items)}
                new, stream = self._extend(stream, epoch, buffer, documents)
                items = items + new
                if self.shuffle:
                    random.Random(f"{self.seed}-{self.shuffle_label}-{epoch}-{buffer}").shuffle(
                        items)
                full = len(items) // B
                for k in range(skip, full):
                    self._state = {"epoch": epoch, "buffer": buffer, "first_doc": start,
                                   **carried, "batches_done": k + 1}
                    yield self._batch(items[k * B:(k + 1) * B])
                skip = 0
                items = items[full * B:]
                buffer, first_doc = buffer + 1, end
            if not produced and first_doc == 0:
                shard = (f" for shard {self.shard_index} of {self.num_shards}"
                         if self.num_shards > 1 else "")
                raise DataError(f"no text in {', '.join(self.files)}{shard}")
            epoch, buffer, first_doc = epoch + 1, 0, 0
        if self.drop_last:
            return
        items = self._last_items(stream, items)
        for k in range(0, len(items), B):
            self._state = {"epoch": epoch, "buffer": 0, "first_doc": 0, "carry_stream": [],
                           "carry_items": _plain(items[k + B:]), "batches_done": 0}
            yield self._batch(items[k:k + B])
