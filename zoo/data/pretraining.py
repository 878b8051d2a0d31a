"""Pretraining instances from raw text: streaming, deterministic, shardable, resumable.

Input format (BERT's): one sentence per line, a blank line between documents; plain or gzip
(``.gz``) files, many files and glob patterns. ::

    from zoo.tokenizers import get_tokenizer
    from zoo.data import PretrainingPipeline

    tok = get_tokenizer("vocab.txt")
    pipe = PretrainingPipeline(["corpus/*.txt.gz"], tok, batch_size=32, max_seq_length=128,
                               task="nsp", seed=1, num_shards=8, shard_index=rank)
    for batch in pipe:          # dict of numpy arrays
        ...
        state = pipe.state_dict()   # JSON-serialisable; load_state_dict(state) resumes exactly

Each batch is a dict of numpy arrays, ready for the BERT forward contract
(``model(input_ids, token_types, valid_length, masked_positions)``):

==================  ============  =======  ===============================================
key                 shape         dtype    meaning
==================  ============  =======  ===============================================
input_ids           (B, L)        int32    token ids after masking, padded with pad id
token_types         (B, L)        int32    0 for segment A (and [CLS]), 1 for segment B
valid_length        (B,)          int32    number of real tokens per row
masked_positions    (B, P)        int32    positions of the masked tokens (0 = padding)
masked_ids          (B, P)        int32    original ids at those positions (MLM targets)
masked_weights      (B, P)        float32  1 for a real prediction, 0 for padding
nsp_labels          (B,)          int32    sentence-pair head target (absent for task=None):
                                           NSP 1 = B is a random sentence, 0 = the real next;
                                           SOP 1 = A and B swapped, 0 = original order
==================  ============  =======  ===============================================

``L`` is the longest row of the batch rounded up to ``pad_multiple`` (at most
``max_seq_length``; always ``max_seq_length`` with ``pad_to_max=True``); ``P`` is
``max_predictions`` (default ``ceil(max_seq_length * mask_prob)``).

How it works, per epoch: files are visited in an order shuffled by ``(seed, epoch)``; documents
are read lazily, ``buffer_documents`` (of this shard) at a time, so memory stays bounded
whatever the corpus size. Each buffer ("block") is tokenized, turned into instances (BERT's
``create_instances_from_document``: segments packed up to a target length, with
``short_seq_prob`` of shorter targets; the random next sentence comes from another document of
the block), shuffled, bucketed by length (sorted, cut into batches, batch order shuffled; the
``len % batch_size`` leftover instances, drawn at random, carry into the next block) and masked
per batch (dynamic masking: a fresh mask every time a batch is produced, drawn from
``(seed, epoch, block, batch)``). ``task=None`` packs a document's consecutive sentences into
``[CLS] ... [SEP]`` rows up to ``max_seq_length`` with no pair label (RoBERTa-style MLM only).

Sharding (``num_shards`` workers, this one ``shard_index``): every worker scans the same stream
of documents and cuts it into the same blocks of ``buffer_documents * num_shards`` documents.
Within a block the ``k``-th document of the epoch belongs to shard ``k % num_shards``, and
each worker decodes and tokenizes only its own documents. A block with fewer documents than
workers (a corpus that is one document, the tail of a small one) is shared by sequence
instead: every worker builds the block's instances and keeps every ``num_shards``-th, so
that each worker gets text whenever the block gives at least one sequence per worker. Either
way the shards partition the corpus exactly, and with one worker the batches are those of a
plain document stream.

Documented handling of bad input:

* files, lines and documents as :mod:`zoo.data.text` reads them (missing files, text that is
  not UTF-8, over-long lines and documents);
* an empty file (or one holding only blank lines) -> a ``UserWarning`` naming it, skipped;
  a corpus (or a shard) with no text at all -> :class:`DataError` naming the files;
* lines that tokenize to nothing (only control characters, say) are dropped;
* a sentence with more tokens than a row can hold is split into pieces that fit (no token
  is lost to it; NSP/SOP pairs are still truncated the way BERT does);
* a vocabulary without ``[CLS] [SEP] [PAD] [MASK] [UNK]`` -> ``TokenizerError`` naming the
  vocabulary file, raised when the pipeline is built.
"""
import math
import random
import warnings

import numpy as np

from .text import (DEFAULT_MAX_DOC_LINES, DEFAULT_MAX_LINE, ERRORS, DataError, Position,
                   decode_document, document_stream, expand_files)

__all__ = ["PretrainingPipeline", "to_ndarrays"]


# --------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------

def _truncate_seq_pair(a, b, max_num_tokens, rng):
    """BERT's truncate_seq_pair: drop from the front or back (at random) of the longer one."""
    while len(a) + len(b) > max_num_tokens:
        trunc = a if len(a) > len(b) else b
        if rng.random() < 0.5:
            del trunc[0]
        else:
            trunc.pop()


def _split_long(doc, limit):
    out = []
    for s in doc:
        if len(s) <= limit:
            out.append(s)
        else:
            out.extend(s[i:i + limit] for i in range(0, len(s), limit))
    return out


class PretrainingPipeline:
    """Masked-LM (+ NSP/SOP) batches from raw text; see the module docstring.

    Parameters: ``files`` (paths/globs), ``tokenizer`` (a :mod:`zoo.tokenizers` tokenizer),
    ``batch_size``, ``max_seq_length``, ``task`` (``"nsp"``, ``"sop"`` or ``None``),
    ``short_seq_prob`` (0.1), ``mask_prob`` (0.15), ``max_predictions``, ``whole_word``
    (whole-word masking), ``buffer_documents`` (documents per shuffle buffer), ``num_epochs``
    (None = repeat forever), ``seed``, ``num_shards`` / ``shard_index``, ``pad_to_max``,
    ``pad_multiple`` (8), ``bucket`` (sort by length within a buffer), ``drop_last`` (drop the
    final partial batch of a finite run), ``shuffle_files``, ``errors``, ``max_line_bytes``,
    ``max_document_lines`` (longer documents are cut), ``buffer_sentences`` (a buffer also
    ends once it holds this many sentences).
    """

    def __init__(self, files, tokenizer, *, batch_size=32, max_seq_length=128, task="nsp",
                 short_seq_prob=0.1, mask_prob=0.15, max_predictions=None, whole_word=False,
                 buffer_documents=1000, num_epochs=None, seed=0, num_shards=1, shard_index=0,
                 pad_to_max=False, pad_multiple=8, bucket=True, drop_last=False,
                 shuffle_files=True, errors="strict", max_line_bytes=DEFAULT_MAX_LINE,
                 max_document_lines=DEFAULT_MAX_DOC_LINES, buffer_sentences=200_000):
        if task not in ("nsp", "sop", None):
            raise ValueError(f"task must be 'nsp', 'sop' or None, not {task!r}")
        if int(max_seq_length) < 8:
            raise ValueError(f"max_seq_length={max_seq_length} is too short (at least 8)")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        if not 0.0 < mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1), not {mask_prob}")
        if not (isinstance(num_shards, int) and num_shards >= 1 and 0 <= shard_index < num_shards):
            raise ValueError(f"need 0 <= shard_index < num_shards, got shard_index={shard_index}, "
                             f"num_shards={num_shards}")
        if errors not in ERRORS:
            raise ValueError(f"errors must be 'strict', 'replace' or 'skip', not {errors!r}")
        tokenizer.require_special_tokens()
        self.files = expand_files(files)
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        self.max_seq_length = int(max_seq_length)
        self.task = task
        self.short_seq_prob = float(short_seq_prob)
        self.mask_prob = float(mask_prob)
        self.max_predictions = int(max_predictions or math.ceil(self.max_seq_length * mask_prob))
        self.whole_word = bool(whole_word)
        self.buffer_documents = max(1, int(buffer_documents))
        self.num_epochs = num_epochs
        self.seed = int(seed)
        self.num_shards, self.shard_index = num_shards, shard_index
        self.pad_to_max = bool(pad_to_max)
        self.pad_multiple = max(1, int(pad_multiple))
        self.bucket = bool(bucket)
        self.drop_last = bool(drop_last)
        self.shuffle_files = bool(shuffle_files)
        self.errors = errors
        self.max_line_bytes = int(max_line_bytes)
        self.max_document_lines = max(1, int(max_document_lines))
        self.buffer_sentences = max(1, int(buffer_sentences))
        tok = tokenizer
        self._cls, self._sep, self._pad, self._mask_id = tok.cls_id, tok.sep_id, tok.pad_id, tok.mask_id
        special = np.zeros(tok.vocab_size, dtype=bool)
        special[list(tok.special_ids)] = True
        self._special = special
        self._random_pool = np.flatnonzero(~special).astype(np.int32)
        if self._random_pool.size == 0:
            raise DataError(f"{tok.source}: the vocabulary holds only special tokens")
        self._special_list = special.tolist()
        self._word_start_list = tok.word_start_mask().tolist() if self.whole_word else None
        self._warned_empty = set()
        self._state = self._initial_state()

    # ---- state ------------------------------------------------------------------------
    @staticmethod
    def _initial_state():
        return {"epoch": 0, "block": 0, "position": Position().to_dict(), "carry": [],
                "batches_done": 0, "finished": False, "epoch_instances": 0}

    def state_dict(self):
        """Where the stream stands: the next batch :meth:`__iter__` will produce after
        :meth:`load_state_dict` of this dict is the batch that would have come next. JSON-safe."""
        s = self._state
        return {"version": 1, "seed": self.seed, "num_shards": self.num_shards,
                "shard_index": self.shard_index, "files": list(self.files),
                "epoch": s["epoch"], "block": s["block"], "position": dict(s["position"]),
                "carry": [[list(ids), split, label] for ids, split, label in s["carry"]],
                "batches_done": s["batches_done"], "finished": s["finished"],
                "epoch_instances": s["epoch_instances"]}

    def load_state_dict(self, state):
        if state.get("version") != 1:
            raise DataError(f"unknown data pipeline state version {state.get('version')!r}")
        for key in ("seed", "num_shards", "shard_index"):
            if state[key] != getattr(self, key):
                raise DataError(f"cannot resume: the state was saved with {key}={state[key]}, "
                                f"this pipeline has {key}={getattr(self, key)}")
        if list(state["files"]) != list(self.files):
            raise DataError("cannot resume: the state was saved for a different list of files "
                            f"({len(state['files'])} then, {len(self.files)} now)")
        self._state = {"epoch": int(state["epoch"]), "block": int(state["block"]),
                       "position": dict(state["position"]),
                       "carry": [(list(ids), int(split), int(label))
                                 for ids, split, label in state["carry"]],
                       "batches_done": int(state["batches_done"]),
                       "finished": bool(state["finished"]),
                       "epoch_instances": int(state["epoch_instances"])}

    # ---- iteration --------------------------------------------------------------------
    def _file_order(self, epoch):
        order = list(self.files)
        if self.shuffle_files:
            random.Random(f"{self.seed}:{epoch}:files").shuffle(order)
        return order

    def _warn_empty(self, path):
        if path not in self._warned_empty:
            self._warned_empty.add(path)
            warnings.warn(f"{path}: empty file (no text); skipped", UserWarning, stacklevel=3)

    def _read_block(self, epoch, position):
        """The next block of the epoch's document stream from ``position``: up to
        ``buffer_documents * num_shards`` documents (or ``buffer_sentences * num_shards``
        lines), the same block on every worker. Returns ``(documents, position after the
        block, whether the stream had any document left, shared)``: this worker's documents,
        tokenized, or all of the block's when it holds fewer documents than workers (then
        ``shared`` is True and the instances are dealt out by sequence)."""
        n = self.num_shards
        stream = document_stream(self._file_order(epoch), Position.from_dict(position),
                                 max_line_bytes=self.max_line_bytes,
                                 max_document_lines=self.max_document_lines,
                                 on_empty=self._warn_empty)
        own, others, end, n_docs, n_lines = [], [], position, 0, 0
        for doc in stream:
            n_docs += 1
            n_lines += len(doc.lines)
            end = doc.after.to_dict()
            if doc.index % n == self.shard_index:
                own.append(doc)
            elif n_docs < n:
                others.append(doc)     # needed only if the block ends before every worker has one
            if n_docs == n:
                others = []
            if n_docs >= self.buffer_documents * n or n_lines >= self.buffer_sentences * n:
                break
        else:
            end = {"file": len(self.files), "offset": 0, "line": 0, "doc": 0}
        stream.close()
        shared = 0 < n_docs < n
        docs = sorted(own + others, key=lambda d: d.index) if shared else own
        return self._tokenize(docs), end, n_docs > 0, shared

    def _tokenize(self, documents):
        """Token-id documents (lists of sentences) of stream documents; sentences and
        documents that tokenize to nothing are dropped."""
        texts = [decode_document(d, self.errors) for d in documents]
        ids = self.tokenizer.encode_batch([t for sentences in texts for t in sentences])
        docs, k = [], 0
        for sentences in texts:
            doc = [x for x in ids[k:k + len(sentences)] if x]
            k += len(sentences)
            if doc:
                docs.append(doc)
        return docs

    def __iter__(self):
        """Batches from where the state stands (the start, or a loaded state)."""
        while not self._state["finished"]:
            s = self._state
            epoch, block = s["epoch"], s["block"]
            final_epoch = self.num_epochs is not None and epoch + 1 >= self.num_epochs
            docs, end, got_any, shared = self._read_block(epoch, s["position"])
            if not got_any:                    # this epoch's stream is exhausted
                if s["epoch_instances"] == 0:
                    raise self._no_text_error()
                if not final_epoch:            # the carry goes on into the next epoch
                    self._state = dict(s, epoch=epoch + 1, block=0, batches_done=0,
                                       position=Position().to_dict(), epoch_instances=0)
                    continue
            rng = random.Random(f"{self.seed}:{epoch}:{block}")
            instances = self._create_instances(docs, rng)
            if shared:      # every worker built the same instances: each keeps its share
                instances = instances[self.shard_index::self.num_shards]
            batches, carry = self._bucket(s["carry"] + instances, rng, final=not got_any)
            for j in range(s["batches_done"], len(batches)):
                out = self._make_batch(batches[j], (self.seed, epoch, block, j))
                s["batches_done"] = j + 1
                yield out
            if got_any:
                self._state = {"epoch": epoch, "block": block + 1, "position": end,
                               "carry": carry, "batches_done": 0, "finished": False,
                               "epoch_instances": s["epoch_instances"] + len(instances)}
            else:
                self._state = dict(s, carry=[], finished=True)

    def _no_text_error(self):
        names = ", ".join(self.files[:5]) + (" ..." if len(self.files) > 5 else "")
        if self.num_shards == 1:
            return DataError(f"no training text in {len(self.files)} file(s): {names}")
        return DataError(f"no training text for shard {self.shard_index} of {self.num_shards} "
                         f"in {len(self.files)} file(s): {names}; the corpus gives fewer "
                         f"training sequences than workers: add text or use fewer workers")

    # ---- instances --------------------------------------------------------------------
    def _create_instances(self, docs, rng):
        instances = []
        if self.task is None:
            limit = self.max_seq_length - 2
            for doc in docs:
                cur = []
                for s in _split_long(doc, limit):
                    if cur and len(cur) + len(s) > limit:
                        instances.append(self._single(cur))
                        cur = []
                    cur = cur + s
                if cur:
                    instances.append(self._single(cur))
        else:
            limit = self.max_seq_length - 3
            docs = [_split_long(d, limit) for d in docs]
            for i in range(len(docs)):
                self._pairs_from_document(docs, i, rng, instances)
        rng.shuffle(instances)
        return instances

    def _single(self, tokens):
        ids = [self._cls] + tokens + [self._sep]
        return (ids, len(ids), 0)

    def _pairs_from_document(self, docs, index, rng, out):
        """BERT's create_instances_from_document (NSP), or ALBERT's SOP variant."""
        document = docs[index]
        max_num_tokens = self.max_seq_length - 3
        target = max_num_tokens
        if rng.random() < self.short_seq_prob:
            target = rng.randint(2, max_num_tokens)
        chunk, length, i = [], 0, 0
        while i < len(document):
            chunk.append(document[i])
            length += len(document[i])
            if i == len(document) - 1 or length >= target:
                a_end = 1 if len(chunk) < 2 else rng.randint(1, len(chunk) - 1)
                a = [t for seg in chunk[:a_end] for t in seg]
                label = 0
                if self.task == "nsp" and (len(chunk) == 1 or rng.random() < 0.5):
                    label = 1
                    target_b = max(1, target - len(a))
                    other = index
                    for _ in range(10):
                        other = rng.randint(0, len(docs) - 1)
                        if other != index:
                            break
                    rdoc = docs[other]
                    b = []
                    for seg in rdoc[rng.randint(0, len(rdoc) - 1):]:
                        b.extend(seg)
                        if len(b) >= target_b:
                            break
                    i -= len(chunk) - a_end   # put the unused segments back
                else:
                    b = [t for seg in chunk[a_end:] for t in seg]
                    if not b:              # SOP with a one-segment chunk: split the segment
                        if len(a) < 2:
                            chunk, length = [], 0
                            i += 1
                            continue
                        cut = rng.randint(1, len(a) - 1)
                        a, b = a[:cut], a[cut:]
                    if self.task == "sop" and rng.random() < 0.5:
                        a, b, label = b, a, 1
                _truncate_seq_pair(a, b, max_num_tokens, rng)
                ids = [self._cls] + a + [self._sep] + b + [self._sep]
                out.append((ids, len(a) + 2, label))
                chunk, length = [], 0
            i += 1

    # ---- batching ---------------------------------------------------------------------
    def _bucket(self, instances, rng, final):
        """Cut instances into batches (sorted by length when bucketing; batch order shuffled).
        Returns (batches, carry): the carry is the leftover that waits for the next block."""
        bs = self.batch_size
        carry = []
        if not final:
            rest = len(instances) % bs
            if rest:
                rng.shuffle(instances)
                carry, instances = instances[:rest], instances[rest:]
        if self.bucket:
            instances = sorted(instances, key=lambda x: len(x[0]))
        batches = [instances[k:k + bs] for k in range(0, len(instances), bs)]
        if final and self.drop_last and batches and len(batches[-1]) < bs:
            batches.pop()
        rng.shuffle(batches)
        return batches, carry

    def _make_batch(self, rows, key):
        B = len(rows)
        longest = max(len(r[0]) for r in rows)
        if self.pad_to_max:
            L = self.max_seq_length
        else:
            L = min(self.max_seq_length, -(-longest // self.pad_multiple) * self.pad_multiple)
        ids = np.full((B, L), self._pad, dtype=np.int32)
        types = np.zeros((B, L), dtype=np.int32)
        valid = np.empty(B, dtype=np.int32)
        labels = np.empty(B, dtype=np.int32)
        for r, (row, split, label) in enumerate(rows):
            n = len(row)
            ids[r, :n] = row
            types[r, split:n] = 1
            valid[r] = n
            labels[r] = label
        rng = np.random.default_rng(list(key) + [0x5EED])
        out = self._mask(ids, valid, rng)
        out["token_types"] = types
        out["valid_length"] = valid
        if self.task is not None:
            out["nsp_labels"] = labels
        return out

    def _mask(self, ids, valid, rng):
        """Dynamic masking of one batch: ``mask_prob`` of each row's non-special tokens
        (whole words with ``whole_word``), of which 80 % -> [MASK], 10 % -> random token,
        10 % unchanged."""
        B, L = ids.shape
        P = self.max_predictions
        cand = ~self._special[ids]
        cand &= np.arange(L)[None, :] < valid[:, None]
        n_cand = cand.sum(axis=1)
        k = np.minimum(P, np.maximum(1, np.rint(n_cand * self.mask_prob).astype(np.int64)))
        k = np.minimum(k, n_cand)
        positions = np.zeros((B, P), dtype=np.int32)
        weights = np.zeros((B, P), dtype=np.float32)
        if self.whole_word:
            prng = random.Random(int(rng.integers(1 << 62)))
            rows_list = ids.tolist()
            for r in range(B):
                pos = self._whole_word_positions(rows_list[r][:valid[r]], int(k[r]), prng)
                positions[r, :len(pos)] = pos
                weights[r, :len(pos)] = 1.0
        else:
            scores = rng.random((B, L))
            scores[~cand] = 2.0
            top = np.argsort(scores, axis=1, kind="stable")[:, :P]
            order = np.full((B, P), L, dtype=np.int64)     # L = "not selected", sorts last
            order[:, :top.shape[1]] = top
            order = np.where(np.arange(P)[None, :] < k[:, None], order, L)
            order.sort(axis=1)
            sel = order < L
            positions[sel] = order[sel]
            weights[sel] = 1.0
        rows = np.arange(B)[:, None]
        masked_ids = np.where(weights > 0, ids[rows, positions], 0).astype(np.int32)
        r = rng.random((B, P))
        repl = np.where(r < 0.8, self._mask_id,
                        self._random_pool[rng.integers(0, self._random_pool.size, size=(B, P))])
        change = (weights > 0) & (r < 0.9)
        new_ids = ids.copy()
        rr, cc = np.nonzero(change)
        new_ids[rr, positions[rr, cc]] = repl[rr, cc]
        return {"input_ids": new_ids, "masked_positions": positions, "masked_ids": masked_ids,
                "masked_weights": weights}

    def _whole_word_positions(self, row, k, rng):
        """BERT's whole-word masking for one row: words (a start piece and its continuation
        pieces) in random order, each taken whole while it fits in ``k``."""
        if k <= 0:
            return []
        special, start = self._special_list, self._word_start_list
        words, cur = [], None
        for p, t in enumerate(row):
            if special[t]:
                cur = None
            elif cur is None or start[t]:
                cur = [p]
                words.append(cur)
            else:
                cur.append(p)
        rng.shuffle(words)
        chosen, total = [], 0
        for w in words:
            if total >= k:
                break
            if total + len(w) <= k:
                chosen += w
                total += len(w)
        chosen.sort()
        return chosen


def to_ndarrays(batch, ctx=None, dtype=None):
    """The batch as ``mx.nd`` arrays on ``ctx`` (ints stay int32 unless ``dtype`` is given)."""
    import mxnet as mx
    ctx = ctx or mx.cpu()
    out = {}
    for key, value in batch.items():
        out[key] = mx.nd.array(value, ctx=ctx, dtype=dtype or value.dtype)
    return out


