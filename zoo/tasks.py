"""Finetuning data and metrics: readers for the standard task formats, their encoding into
model inputs, and the metrics GLUE, CoNLL and SQuAD report.

Readers (every problem is a :class:`TaskDataError` whose message starts ``FILE:LINE:``)::

    read_sequence_examples(path, text_column=..., text_pair_column=..., label_column=...)
        TSV / CSV with a header row, or JSON lines (``.jsonl``); one sentence or a pair.
    read_conll(path, token_column=0, tag_column=-1)
        CoNLL-style: one token per line, its tag in a column, a blank line between
        sentences, ``-DOCSTART-`` lines skipped; BIO (IOB2) tags, BIOES accepted too.
    read_squad(path)
        SQuAD v1.1 / v2.0 JSON (``is_impossible`` questions of v2.0 have no answer).

Encoding (with any ``zoo`` tokenizer; ``truncation=None`` makes an over-long input an
error naming its line)::

    encode_sequence(ex, tokenizer, max_length, truncation)          -> Encoding
    encode_tagging(ex, tokenizer, max_length, truncation, tag_ids)   -> [TaggingFeature]
    encode_squad(ex, tokenizer, max_length, doc_stride, max_query_length) -> [QAFeature]
    decode_squad(ex, features, start_scores, end_scores, ...)        -> answer text

Metrics (plain Python / numpy, each checked against its reference implementation in
tests/test_tasks.py): :func:`accuracy`, :func:`f1_binary`, :func:`f1_macro`, :func:`mcc`,
:func:`pearson`, :func:`spearman`, :func:`entity_f1` (seqeval's default mode),
:func:`squad_scores` (the official SQuAD v1.1 / v2.0 evaluation: normalization, exact
match, token F1, the maximum over the gold answers). ``classification_metrics`` &
co. bundle what each task reports.
"""
import collections
import csv
import json
import math
import os
import re
import string
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TaskDataError", "SequenceExample", "TaggingExample", "QAExample",
           "TaggingFeature", "QAFeature", "detect_format", "read_rows",
           "read_sequence_examples", "read_conll", "read_squad", "label_list",
           "check_labels", "encode_sequence", "encode_tagging", "encode_squad", "decode_squad",
           "accuracy", "f1_binary", "f1_macro", "mcc", "pearson", "spearman", "get_entities",
           "entity_f1", "normalize_answer", "squad_exact", "squad_f1", "squad_scores",
           "classification_metrics", "regression_metrics", "tagging_metrics", "qa_metrics",
           "MAIN_METRIC", "TEXT_COLUMNS", "PAIR_COLUMNS"]

# What each task selects its best checkpoint by (higher is better).
MAIN_METRIC = {"classification": "accuracy", "regression": "spearman", "tagging": "f1",
               "qa": "f1"}
# Column names tried, in order, when --text-column / --text-pair-column are not given.
TEXT_COLUMNS = ("text", "sentence", "sentence1", "text_a")
PAIR_COLUMNS = ("text_pair", "sentence2", "text_b")


class TaskDataError(ValueError):
    """Bad task data; the message names the file and line (``FILE:LINE: what``)."""


# ==================================================================================== examples

@dataclass
class SequenceExample:
    text_a: str
    text_b: object          # str or None
    label: object           # str (classification), float (regression) or None (no label)
    line: int
    source: str = ""


@dataclass
class TaggingExample:
    tokens: list
    tags: object            # list of str, or None (no tags)
    line: int               # the line of the sentence's first token
    source: str = ""


@dataclass
class QAExample:
    qid: str
    question: str
    context: str
    answers: list           # [(text, answer_start)]; [] for an unanswerable question
    is_impossible: bool
    line: int
    source: str = ""
    # filled by encode_squad: the context's words and their character spans
    words: list = field(default_factory=list, repr=False)


# ================================================================================ readers

def _err(path, line, msg):
    return TaskDataError(f"{path}:{line}: {msg}" if line else f"{path}: {msg}")


def detect_format(path, fmt=None):
    """``"tsv"``, ``"csv"`` or ``"jsonl"``: ``fmt`` if given, else from the extension."""
    if fmt and fmt != "auto":
        if fmt not in ("tsv", "csv", "jsonl"):
            raise TaskDataError(f"{path}: unknown format {fmt!r} (tsv, csv or jsonl)")
        return fmt
    low = os.fspath(path).lower()
    for ext, kind in ((".tsv", "tsv"), (".csv", "csv"), (".jsonl", "jsonl"), (".json", "jsonl"),
                      (".ndjson", "jsonl")):
        if low.endswith(ext):
            return kind
    raise TaskDataError(f"{path}: cannot tell the format from the extension (.tsv, .csv, "
                        f".jsonl); pass --format tsv|csv|jsonl")


def _read_text(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise TaskDataError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise _err(path, line, f"not valid UTF-8 (byte 0x{raw[e.start]:02x})") from None
    if not text.strip():
        raise TaskDataError(f"{path}: the file is empty")
    return text


def read_rows(path, fmt=None, delimiter=None):
    """``(columns, [(line, {column: value})])`` of a TSV/CSV file with a header, or of JSON
    lines (columns: the union of the keys; every row must be a JSON object)."""
    path = os.fspath(path)
    kind = detect_format(path, fmt)
    text = _read_text(path)
    rows = []
    if kind == "jsonl":
        columns = {}
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise _err(path, i, f"malformed JSON: {e}") from None
            if not isinstance(obj, dict):
                raise _err(path, i, f"expected a JSON object per line, got "
                                    f"{type(obj).__name__}")
            columns.update(dict.fromkeys(obj))
            rows.append((i, obj))
        columns = list(columns)
    else:
        delim = delimiter or ("\t" if kind == "tsv" else ",")
        lines = text.splitlines(keepends=True)
        if kind == "tsv":
            # GLUE-style TSV: no quoting, a quote character is just a character
            reader = csv.reader(lines, delimiter=delim, quoting=csv.QUOTE_NONE)
        else:
            reader = csv.reader(lines, delimiter=delim)
        try:
            header, start = None, 1
            prev = 0
            for rec in reader:
                start, prev = prev + 1, reader.line_num
                if not any(c.strip() for c in rec):
                    continue
                if header is None:
                    header = [c.strip() for c in rec]
                    dup = [c for c, n in collections.Counter(header).items() if n > 1]
                    if dup:
                        raise _err(path, start, f"duplicate column {dup[0]!r} in the header")
                    continue
                if len(rec) != len(header):
                    raise _err(path, start, f"{len(rec)} fields, but the header has "
                                            f"{len(header)} ({', '.join(header)})")
                rows.append((start, dict(zip(header, rec))))
        except csv.Error as e:
            raise _err(path, reader.line_num, f"malformed {kind.upper()}: {e}") from None
        columns = header or []
    if not rows:
        raise TaskDataError(f"{path}: no examples (the file has "
                            f"{'only a header' if kind != 'jsonl' else 'no JSON lines'})")
    return columns, rows


def _pick_column(path, columns, given, candidates, what, required=True):
    if given:
        if given not in columns:
            raise _err(path, 1, f"no column {given!r} ({what}); columns: "
                                f"{', '.join(map(str, columns))}")
        return given
    for c in candidates:
        if c in columns:
            return c
    if required:
        raise _err(path, 1, f"no {what} column: none of {', '.join(candidates)} is there "
                            f"(columns: {', '.join(map(str, columns))}); name it with the "
                            f"matching --*-column option")
    return None


def _text_value(path, line, row, col):
    if col not in row:
        raise _err(path, line, f"no {col!r} field")
    v = row[col]
    if v is None:
        raise _err(path, line, f"field {col!r} is null")
    if isinstance(v, (dict, list)):
        raise _err(path, line, f"field {col!r} is not text")
    return str(v)


def read_sequence_examples(path, *, task="classification", text_column=None,
                           text_pair_column=None, label_column="label", require_label=True,
                           fmt=None, delimiter=None):
    """Examples of a sentence (or sentence pair) classification / regression file.

    Columns not given are looked up among :data:`TEXT_COLUMNS` / :data:`PAIR_COLUMNS`
    (a pair column is optional). Classification labels are kept as strings; regression
    targets must be numbers. ``require_label=False`` (prediction) reads files without one.
    Returns ``(examples, {"text": col, "pair": col or None, "label": col or None})``.
    """
    path = os.fspath(path)
    columns, rows = read_rows(path, fmt, delimiter)
    text_col = _pick_column(path, columns, text_column, TEXT_COLUMNS, "text")
    pair_col = _pick_column(path, columns, text_pair_column, PAIR_COLUMNS, "text pair",
                            required=False)
    if pair_col == text_col:
        raise TaskDataError(f"{path}: the text and text pair columns are both {text_col!r}")
    if label_column in columns:
        label_col = label_column
    elif require_label:
        raise _err(path, 1, f"no label column {label_column!r} (columns: "
                            f"{', '.join(map(str, columns))}); name it with --label-column")
    else:
        label_col = None
    out = []
    for line, row in rows:
        a = _text_value(path, line, row, text_col)
        b = _text_value(path, line, row, pair_col) if pair_col else None
        label = None
        if label_col is not None:
            if label_col not in row or row[label_col] is None:
                if require_label:
                    raise _err(path, line, f"no {label_col!r} field")
            else:
                raw = row[label_col]
                if task == "regression":
                    try:
                        label = float(raw)
                    except (TypeError, ValueError):
                        raise _err(path, line, f"regression target {raw!r} is not a "
                                               f"number") from None
                    if not math.isfinite(label):
                        raise _err(path, line, f"regression target {raw!r} is not finite")
                else:
                    if isinstance(raw, (dict, list, float)) and not (
                            isinstance(raw, float) and raw.is_integer()):
                        raise _err(path, line, f"label {raw!r} is not a class name")
                    label = str(int(raw)) if isinstance(raw, float) else str(raw).strip()
                    if label == "":
                        raise _err(path, line, "empty label")
        out.append(SequenceExample(a, b, label, line, path))
    return out, {"text": text_col, "pair": pair_col, "label": label_col}


_TAG_RE = re.compile(r"^(O|[BIES]-.+)$")


def read_conll(path, *, token_column=0, tag_column=-1, require_tags=True):
    """Sentences of a CoNLL-style file: whitespace-separated columns, one token a line,
    blank lines between sentences, ``-DOCSTART-`` lines skipped. Tags are BIO (IOB2;
    ``E-``/``S-`` of BIOES accepted). ``require_tags=False``: a line may hold just the
    token (prediction input)."""
    path = os.fspath(path)
    text = _read_text(path)
    out, tokens, tags, first = [], [], [], None

    def flush():
        nonlocal tokens, tags, first
        if tokens:
            out.append(TaggingExample(tokens, tags if tags is not None else None, first, path))
        tokens, tags, first = [], [], None

    for i, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            flush()
            continue
        if parts[0] == "-DOCSTART-":
            flush()
            continue
        if first is None:
            first = i
        try:
            token = parts[token_column]
        except IndexError:
            raise _err(path, i, f"no token column {token_column} (the line has {len(parts)} "
                                f"columns)") from None
        if require_tags or len(parts) > 1:
            if len(parts) < 2:
                raise _err(path, i, f"expected a token and its tag, got {line.strip()!r}")
            try:
                tag = parts[tag_column]
            except IndexError:
                raise _err(path, i, f"no tag column {tag_column} (the line has {len(parts)} "
                                    f"columns)") from None
            if not _TAG_RE.match(tag):
                raise _err(path, i, f"tag {tag!r} is not a BIO tag (O, B-TYPE, I-TYPE)")
            if tags is None:
                raise _err(path, i, "this token has a tag but earlier ones of the sentence "
                                    "have none")
            tags.append(tag)
        else:
            if tags:
                raise _err(path, i, "this token has no tag but earlier ones of the sentence do")
            tags = None
        tokens.append(token)
    flush()
    if not out:
        raise TaskDataError(f"{path}: no sentences")
    return out


_ID_RE = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def read_squad(path, *, require_answers=True):
    """Questions of a SQuAD v1.1 / v2.0 JSON file. Each answer's text must be found in the
    context at its ``answer_start`` (or, when that offset is off, uniquely elsewhere)."""
    path = os.fspath(path)
    text = _read_text(path)
    try:
        doc = json.loads(text)
    except ValueError as e:
        line = getattr(e, "lineno", None)
        raise _err(path, line, f"malformed JSON: {getattr(e, 'msg', e)}") from None
    lines = {}
    for m in _ID_RE.finditer(text):
        try:
            qid = json.loads(f'"{m.group(1)}"')
        except ValueError:
            continue
        lines.setdefault(qid, text.count("\n", 0, m.start()) + 1)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise _err(path, 1, 'not SQuAD JSON: expected {"data": [{"paragraphs": [...]}, ...]}')
    out, seen = [], set()
    for a_i, article in enumerate(doc["data"]):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise TaskDataError(f"{path}: data[{a_i}] has no \"paragraphs\" list")
        for p_i, para in enumerate(paragraphs):
            where = f"data[{a_i}].paragraphs[{p_i}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str) \
                    or not isinstance(para.get("qas"), list):
                raise TaskDataError(f"{path}: {where} needs a \"context\" string and a "
                                    f"\"qas\" list")
            context = para["context"]
            for q_i, qa in enumerate(para["qas"]):
                if not isinstance(qa, dict):
                    raise TaskDataError(f"{path}: {where}.qas[{q_i}] is not an object")
                qid = str(qa.get("id", f"{a_i}-{p_i}-{q_i}"))
                line = lines.get(qid)
                if qid in seen:
                    raise _err(path, line, f"question id {qid!r} occurs twice")
                seen.add(qid)
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    raise _err(path, line, f"question {qid!r} has no question text")
                impossible = bool(qa.get("is_impossible", False))
                answers = []
                raw_answers = qa.get("answers") or []
                if not impossible and not raw_answers and require_answers:
                    raise _err(path, line, f"question {qid!r} has no answers and is not "
                                           f"marked is_impossible")
                for ans in ([] if impossible else raw_answers):
                    if not isinstance(ans, dict) or not isinstance(ans.get("text"), str):
                        raise _err(path, line, f"question {qid!r}: malformed answer {ans!r}")
                    atext, start = ans["text"], ans.get("answer_start")
                    if not isinstance(start, int) or context[start:start + len(atext)] != atext:
                        found = [m.start() for m in re.finditer(re.escape(atext), context)]
                        if not atext or not found:
                            raise _err(path, line, f"question {qid!r}: answer {atext!r} does "
                                                   f"not occur in the context")
                        start = min(found, key=lambda s: abs(s - (start if isinstance(start, int)
                                                                  else 0)))
                    answers.append((atext, start))
                out.append(QAExample(qid, question, context, answers, impossible, line, path))
    if not out:
        raise TaskDataError(f"{path}: no questions")
    return out


# ================================================================================= labels

def _label_key(x):
    try:
        return (0, float(x), x)
    except ValueError:
        return (1, 0.0, x)


def label_list(labels, *, tagging=False):
    """The sorted distinct labels (numbers in numeric order; ``O`` first for tagging)."""
    distinct = sorted(set(labels), key=_label_key)
    if tagging and "O" in distinct:
        distinct.remove("O")
        distinct.insert(0, "O")
    return distinct


def check_labels(path, pairs, known, what="label"):
    """``pairs``: ``(line, label)``; an error at the first label not in ``known``."""
    known_set = set(known)
    for line, label in pairs:
        if label not in known_set:
            shown = ", ".join(map(str, known[:20])) + (", ..." if len(known) > 20 else "")
            raise _err(path, line, f"{what} {label!r} does not occur in the training data "
                                   f"(known: {shown})")


# =============================================================================== encoding

def _too_long(ex, n, max_length, kind="sequence"):
    return _err(ex.source, ex.line, f"{kind} of {n} tokens (special tokens included) is "
                                    f"longer than --max-seq-length {max_length}, and "
                                    f"--truncation is none; pass --truncation longest_first "
                                    f"(or only_first / only_second) or raise --max-seq-length")


def encode_sequence(ex, tokenizer, max_length, truncation="longest_first"):
    """A :class:`SequenceExample` -> ``Encoding(ids, token_types)`` of at most
    ``max_length`` tokens; ``truncation=None`` makes a longer one a :class:`TaskDataError`."""
    from .tokenizers import TokenizerError
    if truncation in (None, "none", False):
        enc = tokenizer.encode_pair(ex.text_a, ex.text_b)
        if len(enc.ids) > max_length:
            raise _too_long(ex, len(enc.ids), max_length)
        return enc
    try:
        return tokenizer.encode_pair(ex.text_a, ex.text_b, max_length=max_length,
                                     truncation=truncation)
    except (TokenizerError, ValueError) as e:
        raise _err(ex.source, ex.line, str(e).split(": ", 1)[-1]) from None


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
            raise _err(ex.source, ex.line, f"question {ex.qid!r} has {len(q_ids)} tokens, more "
                                           f"than --max-query-length {max_query_length}, and "
                                           f"--truncation is none")
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
        raise _err(ex.source, ex.line, f"--max-seq-length {max_length} leaves no room for the "
                                       f"context after the question ({len(q_ids)} tokens); "
                                       f"lower --max-query-length")
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


# ================================================================================ metrics

def _arrays(pred, gold):
    pred, gold = np.asarray(pred), np.asarray(gold)
    if pred.shape != gold.shape:
        raise ValueError(f"predictions {pred.shape} and labels {gold.shape} differ in shape")
    return pred, gold


def accuracy(pred, gold):
    pred, gold = _arrays(pred, gold)
    return float(np.mean(pred == gold)) if len(gold) else 0.0


def _prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def f1_binary(pred, gold, positive=1):
    """F1 of the ``positive`` class (scikit-learn's ``average="binary"``; 0 when undefined)."""
    pred, gold = _arrays(pred, gold)
    tp = int(np.sum((pred == positive) & (gold == positive)))
    fp = int(np.sum((pred == positive) & (gold != positive)))
    fn = int(np.sum((pred != positive) & (gold == positive)))
    return _prf(tp, fp, fn)[2]


def f1_macro(pred, gold, labels=None):
    """Unweighted mean of the per-class F1 over ``labels`` (default: the classes that occur
    in ``pred`` or ``gold``, as scikit-learn)."""
    pred, gold = _arrays(pred, gold)
    labels = sorted(set(pred.tolist()) | set(gold.tolist())) if labels is None else labels
    if not labels:
        return 0.0
    return float(np.mean([f1_binary(pred, gold, positive=c) for c in labels]))


def mcc(pred, gold):
    """Matthews correlation coefficient, multi-class (Gorodkin's R_K, as scikit-learn)."""
    pred, gold = _arrays(pred, gold)
    classes = sorted(set(pred.tolist()) | set(gold.tolist()))
    idx = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), dtype=np.float64)
    for p, g in zip(pred.tolist(), gold.tolist()):
        cm[idx[g], idx[p]] += 1
    t, p = cm.sum(axis=1), cm.sum(axis=0)
    c, s = np.trace(cm), cm.sum()
    cov_pp = s * s - np.dot(p, p)
    cov_tt = s * s - np.dot(t, t)
    if cov_pp == 0 or cov_tt == 0:
        return 0.0
    return float((c * s - np.dot(t, p)) / math.sqrt(cov_tt * cov_pp))


def pearson(x, y):
    """Pearson correlation; 0.0 when either side is constant (undefined)."""
    x, y = _arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    if len(x) < 2:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.dot(x, y) / den) if den > 0 else 0.0


def _ranks(v):
    """Ranks 1..n, ties given their average rank (as scipy.stats.rankdata)."""
    v = np.asarray(v, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=np.float64)
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return ranks


def spearman(x, y):
    """Spearman rank correlation (Pearson of the average ranks); 0.0 when undefined."""
    return pearson(_ranks(x), _ranks(y))


def _split_tag(tag):
    # seqeval: the first character is the prefix, the rest after a "-" the type ("_": none)
    tag = tag or "O"
    return tag[0], tag[1:].split("-", 1)[-1] or "_"


def get_entities(seq):
    """``[(type, start, end)]`` (end inclusive) of the chunks of a BIO / BIOES tag sequence,
    exactly as seqeval's default (non-strict, CoNLL ``conlleval``) mode finds them: an
    ``I-X`` after ``O`` or after another type starts a new chunk. A list of sequences is
    read as one, with an ``O`` between them."""
    if seq and isinstance(seq[0], (list, tuple)):
        seq = [t for s in seq for t in list(s) + ["O"]]
    chunks = []
    prev_tag, prev_type, begin = "O", "", 0   # as seqeval: the first prev_type is ""
    for i, tag in enumerate(list(seq) + ["O"]):
        tag_, type_ = _split_tag(tag)
        if _end_of_chunk(prev_tag, tag_, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag_, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag_, type_
    return chunks


def _end_of_chunk(prev_tag, tag, prev_type, type_):
    return (prev_tag in ("E", "S")
            or (prev_tag == "B" and tag in ("B", "S", "O"))
            or (prev_tag == "I" and tag in ("B", "S", "O"))
            or (prev_tag != "O" and prev_tag != "." and prev_type != type_))


def _start_of_chunk(prev_tag, tag, prev_type, type_):
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S") and tag in ("E", "I"))
            or (prev_tag == "O" and tag in ("E", "I"))
            or (tag != "O" and tag != "." and prev_type != type_))


def entity_f1(pred_seqs, gold_seqs):
    """Entity-level micro ``(precision, recall, f1)`` over sentences (seqeval's default):
    a predicted entity counts when its type, start and end all match a gold one."""
    if len(pred_seqs) != len(gold_seqs):
        raise ValueError(f"{len(pred_seqs)} predicted sentences, {len(gold_seqs)} gold ones")
    tp = n_pred = n_gold = 0
    for p, g in zip(pred_seqs, gold_seqs):
        if len(p) != len(g):
            raise ValueError(f"a sentence of {len(g)} tags got {len(p)} predictions")
        pe, ge = set(get_entities(list(p))), set(get_entities(list(g)))
        tp += len(pe & ge)
        n_pred += len(pe)
        n_gold += len(ge)
    return _prf(tp, n_pred - tp, n_gold - tp)


# ---- SQuAD (the official evaluation script's normalization and scores) ---------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s):
    """Lower case, drop punctuation and the articles a/an/the, collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def squad_exact(pred, gold):
    return float(normalize_answer(pred) == normalize_answer(gold))


def squad_f1(pred, gold):
    """Token F1 after normalization; for an empty side (no answer) 1 if both are empty."""
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions, examples):
    """``{"exact_match", "f1"}`` in percent, plus ``HasAns_*`` / ``NoAns_*`` when there
    are unanswerable questions (SQuAD v2.0): each question scores its best gold answer;
    an unanswerable question's only gold answer is ``""``. ``predictions``: qid -> text."""
    em, f1, has, no = [], [], [], []
    for ex in examples:
        golds = [a for a, _ in ex.answers if normalize_answer(a)] or [""]
        if ex.is_impossible or not ex.answers:
            golds = [""]
        pred = predictions.get(ex.qid, "")
        e = max(squad_exact(pred, g) for g in golds)
        f = max(squad_f1(pred, g) for g in golds)
        em.append(e)
        f1.append(f)
        (no if golds == [""] else has).append((e, f))
    out = {"exact_match": 100.0 * float(np.mean(em)) if em else 0.0,
           "f1": 100.0 * float(np.mean(f1)) if f1 else 0.0}
    if no:
        for name, group in (("HasAns", has), ("NoAns", no)):
            if group:
                out[f"{name}_exact"] = 100.0 * float(np.mean([e for e, _ in group]))
                out[f"{name}_f1"] = 100.0 * float(np.mean([f for _, f in group]))
    return out


# ---- per task -----------------------------------------------------------------------

def classification_metrics(pred, gold, num_classes):
    """accuracy, f1 (binary F1 of class 1 with two classes, else macro F1), macro_f1, mcc."""
    pred, gold = _arrays(pred, gold)
    labels = list(range(num_classes))
    out = {"accuracy": accuracy(pred, gold), "macro_f1": f1_macro(pred, gold, labels),
           "mcc": mcc(pred, gold)}
    out["f1"] = f1_binary(pred, gold, 1) if num_classes == 2 else out["macro_f1"]
    return out


def regression_metrics(pred, gold):
    pred, gold = _arrays(np.asarray(pred, np.float64), np.asarray(gold, np.float64))
    return {"spearman": spearman(pred, gold), "pearson": pearson(pred, gold),
            "mse": float(np.mean((pred - gold) ** 2)) if len(gold) else 0.0}


def tagging_metrics(pred_seqs, gold_seqs):
    """Entity-level precision / recall / f1 (seqeval) and token accuracy."""
    p, r, f = entity_f1(pred_seqs, gold_seqs)
    flat_p = [t for s in pred_seqs for t in s]
    flat_g = [t for s in gold_seqs for t in s]
    acc = float(np.mean([a == b for a, b in zip(flat_p, flat_g)])) if flat_g else 0.0
    return {"f1": f, "precision": p, "recall": r, "accuracy": acc}


def qa_metrics(predictions, examples):
    return squad_scores(predictions, examples)
