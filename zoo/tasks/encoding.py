"""Encoding task examples into model inputs, and QA scores back into answer text.

Works with any ``zoo`` tokenizer; ``truncation=None`` makes an over-long input a
:class:`~zoo.tasks.data.TaskDataError` naming its file and line::

    encode_sequence(ex, tokenizer, max_length, truncation)          -> Encoding(ids, token_types)
    encode_tagging(ex, tokenizer, max_length, truncation, tag_ids)   -> [TaggingFeature]
    encode_squad(ex, tokenizer, max_length, doc_stride, max_query_length) -> [QAFeature]
    decode_squad(ex, features, start_scores, end_scores, ...)        -> answer text
"""
import re
from dataclasses import dataclass

import numpy as np

from ..tokenizers import TokenizerError
from .data import data_error

__all__ = ["SequenceFeature", "TaggingFeature", "QAFeature", "encode_sequence", "encode_tagging",
           "encode_squad", "decode_squad"]


@dataclass
class SequenceFeature:
    """One encoded sentence (or pair) of a sequence task."""
    example: int              # index of the example
    ids: list
    token_types: list
    label: object             # class index (-1: none), regression target, or None


def _too_long(ex, n, max_length, kind="sequence"):
    return data_error(ex.source, ex.line,
                      f"{kind} of {n} tokens (special tokens included) is longer than "
                      f"--max-seq-length {max_length}, and --truncation is none; pass "
                      f"--truncation longest_first (or only_first / only_second) or raise "
                      f"--max-seq-length")


def encode_sequence(ex, tokenizer, max_length, truncation="longest_first"):
    """A :class:`SequenceExample` -> ``Encoding(ids, token_types)`` of at most
    ``max_length`` tokens; ``truncation=None`` makes a longer one a :class:`TaskDataError`."""
    if truncation in (None, "none", False):
        enc = tokenizer.encode_pair(ex.text_a, ex.text_b)
        if len(enc.ids) > max_length:
            raise _too_long(ex, len(enc.ids), max_length)
        return enc
    try:
        return tokenizer.encode_pair(ex.text_a, ex.text_b, max_length=max_length,
                                     truncation=truncation)
    except (TokenizerError, ValueError) as e:
        raise data_error(ex.source, ex.line, str(e).split(": ", 1)[-1]) from None


def _is_byte_bpe(tokenizer):
    return getattr(tokenizer, "pair_layout", "bert") == "roberta"


def _word_ids(tokenizer, word, first):
    """Token ids of one word of a pre-split text; byte-level BPE marks a word that follows
    a space with its own leading space."""
    if _is_byte_bpe(tokenizer) and not first:
        return tokenizer.encode(" " + word)
    return tokenizer.encode(word)


@dataclass
class TaggingFeature:
    example: int              # index of the example
    word_offset: int          # index of this chunk's first word in the example
    ids: list
    token_types: list
    labels: list              # per position: tag id, or -1 where no tag is predicted
    word_positions: list      # per word of the chunk: its first token's position, or -1


def encode_tagging(ex, tokenizer, max_length, truncation="longest_first", tag_ids=None,
                   index=0):
    """A :class:`TaggingExample` -> one or more :class:`TaggingFeature`.

    Each word is tokenized on its own; its tag goes on its first sub-token (the others are
    not scored, as in BERT's NER recipe). A sentence longer than ``max_length`` is split
    into consecutive chunks of whole words (``truncation=None``: an error instead).
    """
    word_ids = [_word_ids(tokenizer, w, i == 0) for i, w in enumerate(ex.tokens)]
    room = max_length - 2
    total = sum(len(w) for w in word_ids)
    if total > room and truncation in (None, "none", False):
        raise _too_long(ex, total + 2, max_length, "sentence")
    chunks, cur, n = [], [], 0
    for i, ids in enumerate(word_ids):
        ids = ids[:room]  # a single word longer than the model: its first pieces
        if cur and n + len(ids) > room:
            chunks.append(cur)
            cur, n = [], 0
        cur.append(i)
        n += len(ids)
    chunks.append(cur)
    out = []
    for chunk in chunks:
        ids, labels, positions = [tokenizer.cls_id], [-1], []
        for i in chunk:
            piece = word_ids[i][:room]
            if piece:
                positions.append(len(ids))
                tag = ex.tags[i] if (ex.tags is not None and tag_ids is not None) else None
                labels.append(tag_ids[tag] if tag is not None else -1)
                labels.extend([-1] * (len(piece) - 1))
                ids.extend(piece)
            else:
                positions.append(-1)   # a word the tokenizer drops entirely: tagged O
        ids.append(tokenizer.sep_id)
        labels.append(-1)
        out.append(TaggingFeature(index, chunk[0], ids, [0] * len(ids), labels, positions))
    return out


@dataclass
class QAFeature:
    example: int
    ids: list
    token_types: list
    context_start: int            # position of the first context token
    token_to_word: dict           # position -> word index in the example's context
    max_context: dict             # position -> whether this window is its best context
    start_position: int = 0       # training target (0: [CLS], no answer in this window)
    end_position: int = 0
    doc_start: int = 0            # index of the window's first token among the context's


_WORDPIECE_WORDS = re.compile(r"\w+|[^\w\s]")
_SPACE_WORDS = re.compile(r"\S+")


def _context_words(tokenizer, context):
    """``[(start_char, end_char)]``: WordPiece tokenizers split punctuation off words (as
    BERT's basic tokenizer does), so answers can end before a comma; others split on
    whitespace only."""
    rx = _SPACE_WORDS if (_is_byte_bpe(tokenizer) or hasattr(tokenizer, "sp")
                          or type(tokenizer).__name__.startswith("SentencePiece")) \
        else _WORDPIECE_WORDS
    return [(m.start(), m.end()) for m in rx.finditer(context)]


def encode_squad(ex, tokenizer, max_length, doc_stride=128, max_query_length=64,
                 truncation="longest_first", index=0):
    """A :class:`QAExample` -> :class:`QAFeature` windows ``[CLS] question [SEP] context
    window [SEP]`` over the context, ``doc_stride`` tokens apart (BERT's SQuAD recipe).
    A window that does not hold the whole answer is trained to point at [CLS]."""
    q_ids = tokenizer.encode(ex.question)
    if len(q_ids) > max_query_length:
        if truncation in (None, "none", False):
            raise data_error(ex.source, ex.line,
                             f"question {ex.qid!r} has {len(q_ids)} tokens, more than "
                             f"--max-query-length {max_query_length}, and --truncation is none")
        q_ids = q_ids[:max_query_length]
    ex.words = _context_words(tokenizer, ex.context)
    doc_ids, tok_to_word, word_to_tok = [], [], []
    for wi, (s, e) in enumerate(ex.words):
        before = s > 0 and ex.context[s - 1].isspace()
        ids = _word_ids(tokenizer, ex.context[s:e], not before)
        word_to_tok.append(len(doc_ids))
        doc_ids.extend(ids)
        tok_to_word.extend([wi] * len(ids))
    n_special = 4 if _is_byte_bpe(tokenizer) else 3
    room = max_length - len(q_ids) - n_special
    if room < 1:
        raise data_error(ex.source, ex.line,
                         f"--max-seq-length {max_length} leaves no room for the context after "
                         f"the question ({len(q_ids)} tokens); lower --max-query-length")
    # token span of the first answer (training target)
    ans_tok = None
    if ex.answers and not ex.is_impossible:
        text, start = ex.answers[0]
        end = start + len(text)
        w_start = next((i for i, (s, e) in enumerate(ex.words) if e > start), None)
        w_end = next((i for i in range(len(ex.words) - 1, -1, -1)
                      if ex.words[i][0] < end), None)
        if w_start is not None and w_end is not None and w_start <= w_end:
            t_start = word_to_tok[w_start]
            t_end = (word_to_tok[w_end + 1] if w_end + 1 < len(word_to_tok)
                     else len(doc_ids)) - 1
            if t_end >= t_start:
                ans_tok = (t_start, t_end)
    spans, start = [], 0
    while True:
        length = min(room, len(doc_ids) - start)
        spans.append((start, length))
        if start + length >= len(doc_ids):
            break
        start += min(length, doc_stride)
    out = []
    for si, (s, n) in enumerate(spans):
        enc = tokenizer.encode_pair(list(q_ids), list(doc_ids[s:s + n]) or [tokenizer.sep_id])
        ids, types = list(enc.ids), list(enc.token_types)
        if n == 0:   # an empty context: keep the layout, no context tokens
            del ids[-2], types[-2]
        ctx_start = len(ids) - n - 1
        t2w, maxc = {}, {}
        for j in range(n):
            tok = s + j
            t2w[ctx_start + j] = tok_to_word[tok]
            # the window where the token has the most context on its shorter side wins
            best, best_score = None, None
            for sj, (ss, sn) in enumerate(spans):
                if ss <= tok < ss + sn:
                    score = min(tok - ss, ss + sn - 1 - tok) + 0.01 * sn
                    if best_score is None or score > best_score:
                        best, best_score = sj, score
            maxc[ctx_start + j] = best == si
        sp = ep = 0
        if ans_tok is not None and s <= ans_tok[0] and ans_tok[1] < s + n:
            sp, ep = ctx_start + ans_tok[0] - s, ctx_start + ans_tok[1] - s
        out.append(QAFeature(index, ids, types, ctx_start, t2w, maxc, sp, ep, s))
    return out


def decode_squad(ex, features, start_scores, end_scores, *, n_best=20, max_answer_length=30,
                 with_negative=False, null_threshold=0.0):
    """The answer text of one example from its windows' scores (``start_scores[i]`` and
    ``end_scores[i]``: numpy arrays over feature ``i``'s positions). With
    ``with_negative`` (SQuAD v2.0) the answer is ``""`` when the [CLS] (null) score beats
    the best span by more than ``null_threshold``."""
    best_score, best_text = None, ""
    null = None
    for f, st, en in zip(features, start_scores, end_scores):
        ns = float(st[0] + en[0])
        null = ns if null is None else min(null, ns)
        ctx = np.array(sorted(f.token_to_word), dtype=np.int64)
        if not len(ctx):
            continue
        k = min(n_best, len(ctx))
        s_top = ctx[np.argsort(-st[ctx], kind="stable")[:k]]
        e_top = ctx[np.argsort(-en[ctx], kind="stable")[:k]]
        for s in s_top:
            if not f.max_context.get(int(s), False):
                continue
            for e in e_top:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(st[s] + en[e])
                if best_score is None or score > best_score:
                    w_s, w_e = f.token_to_word[int(s)], f.token_to_word[int(e)]
                    best_score = score
                    best_text = ex.context[ex.words[w_s][0]:ex.words[w_e][1]]
    if with_negative and (best_score is None or null - best_score > null_threshold):
        return ""
    return best_text
