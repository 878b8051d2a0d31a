"""Task data readers: the standard finetuning file formats, read into examples.

Every problem is a :class:`TaskDataError` whose message starts ``FILE:LINE:`` (or ``FILE:``
when no line applies), so the command line can print it as one line::

    read_sequence_examples(path, task=..., text_column=..., text_pair_column=..., label_column=...)
        TSV / CSV with a header row, or JSON lines (``.jsonl``); one sentence or a pair.
    read_conll(path, token_column=0, tag_column=-1)
        CoNLL-style: one token per line, its tag in a column, a blank line between
        sentences, ``-DOCSTART-`` lines skipped; BIO (IOB2) tags, BIOES accepted too.
    read_squad(path)
        SQuAD v1.1 / v2.0 JSON (``is_impossible`` questions of v2.0 have no answer).
    label_list(labels), check_labels(path, pairs, known)
        the label set of a training file, and the first unknown label of another file.
"""
import collections
import csv
import json
import math
import os
import re
from dataclasses import dataclass, field

__all__ = ["TaskDataError", "SequenceExample", "TaggingExample", "QAExample", "detect_format",
           "read_rows", "read_sequence_examples", "read_conll", "read_squad", "label_list",
           "check_labels", "TEXT_COLUMNS", "PAIR_COLUMNS"]

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

def data_error(path, line, msg):
    """A :class:`TaskDataError` whose message starts ``FILE:LINE:`` (``FILE:`` without a line)."""
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
        raise data_error(path, line, f"not valid UTF-8 (byte 0x{raw[e.start]:02x})") from None
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
                raise data_error(path, i, f"malformed JSON: {e}") from None
            if not isinstance(obj, dict):
                raise data_error(path, i, f"expected a JSON object per line, got "
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
                        raise data_error(path, start, f"duplicate column {dup[0]!r} in the header")
                    continue
                if len(rec) != len(header):
                    raise data_error(path, start, f"{len(rec)} fields, but the header has "
                                                  f"{len(header)} ({', '.join(header)})")
                rows.append((start, dict(zip(header, rec))))
        except csv.Error as e:
            raise data_error(path, reader.line_num, f"malformed {kind.upper()}: {e}") from None
        columns = header or []
    if not rows:
        raise TaskDataError(f"{path}: no examples (the file has "
                            f"{'only a header' if kind != 'jsonl' else 'no JSON lines'})")
    return columns, rows


def _pick_column(path, columns, given, candidates, what, required=True):
    if given:
        if given not in columns:
            raise data_error(path, 1, f"no column {given!r} ({what}); columns: "
                                      f"{', '.join(map(str, columns))}")
        return given
    for c in candidates:
        if c in columns:
            return c
    if required:
        raise data_error(path, 1, f"no {what} column: none of {', '.join(candidates)} is there "
                                  f"(columns: {', '.join(map(str, columns))}); name it with the "
                                  f"matching --*-column option")
    return None


def _text_value(path, line, row, col):
    if col not in row:
        raise data_error(path, line, f"no {col!r} field")
    v = row[col]
    if v is None:
        raise data_error(path, line, f"field {col!r} is null")
    if isinstance(v, (dict, list)):
        raise data_error(path, line, f"field {col!r} is not text")
    return str(v)


def read_sequence_examples(path, *, numeric=False, text_column=None, text_pair_column=None,
                           label_column="label", require_label=True, fmt=None, delimiter=None):
    """Examples of a sentence (or sentence pair) classification / regression file.

    Columns not given are looked up among :data:`TEXT_COLUMNS` / :data:`PAIR_COLUMNS`
    (a pair column is optional). Labels are class names (strings), or with ``numeric``
    regression targets, which must be finite numbers. ``require_label=False`` (prediction)
    reads files without one.
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
        raise data_error(path, 1, f"no label column {label_column!r} (columns: "
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
                    raise data_error(path, line, f"no {label_col!r} field")
            else:
                raw = row[label_col]
                if numeric:
                    try:
                        label = float(raw)
                    except (TypeError, ValueError):
                        raise data_error(path, line, f"regression target {raw!r} is not a "
                                                     f"number") from None
                    if not math.isfinite(label):
                        raise data_error(path, line, f"regression target {raw!r} is not finite")
                else:
                    if isinstance(raw, (dict, list, float)) and not (
                            isinstance(raw, float) and raw.is_integer()):
                        raise data_error(path, line, f"label {raw!r} is not a class name")
                    label = str(int(raw)) if isinstance(raw, float) else str(raw).strip()
                    if label == "":
                        raise data_error(path, line, "empty label")
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
            raise data_error(path, i, f"no token column {token_column} (the line has {len(parts)} "
                                      f"columns)") from None
        if require_tags or len(parts) > 1:
            if len(parts) < 2:
                raise data_error(path, i, f"expected a token and its tag, got {line.strip()!r}")
            try:
                tag = parts[tag_column]
            except IndexError:
                raise data_error(path, i, f"no tag column {tag_column} (the line has {len(parts)} "
                                          f"columns)") from None
            if not _TAG_RE.match(tag):
                raise data_error(path, i, f"tag {tag!r} is not a BIO tag (O, B-TYPE, I-TYPE)")
            if tags is None:
                raise data_error(path, i, "this token has a tag but earlier ones of the sentence "
                                          "have none")
            tags.append(tag)
        else:
            if tags:
                raise data_error(path, i, "this token has no tag but earlier ones of the "
                                          "sentence do")
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
        raise data_error(path, line, f"malformed JSON: {getattr(e, 'msg', e)}") from None
    lines = {}
    for m in _ID_RE.finditer(text):
        try:
            qid = json.loads(f'"{m.group(1)}"')
        except ValueError:
            continue
        lines.setdefault(qid, text.count("\n", 0, m.start()) + 1)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise data_error(path, 1, 'not SQuAD JSON: expected {"data": [{"paragraphs": [...]}, ...]}')
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
                    raise data_error(path, line, f"question id {qid!r} occurs twice")
                seen.add(qid)
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    raise data_error(path, line, f"question {qid!r} has no question text")
                impossible = bool(qa.get("is_impossible", False))
                answers = []
                raw_answers = qa.get("answers") or []
                if not impossible and not raw_answers and require_answers:
                    raise data_error(path, line, f"question {qid!r} has no answers and is not "
                                                 f"marked is_impossible")
                for ans in ([] if impossible else raw_answers):
                    if not isinstance(ans, dict) or not isinstance(ans.get("text"), str):
                        raise data_error(path, line, f"question {qid!r}: malformed answer {ans!r}")
                    atext, start = ans["text"], ans.get("answer_start")
                    if not isinstance(start, int) or context[start:start + len(atext)] != atext:
                        found = [m.start() for m in re.finditer(re.escape(atext), context)]
                        if not atext or not found:
                            raise data_error(path, line, f"question {qid!r}: answer {atext!r} does "
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
            raise data_error(path, line, f"{what} {label!r} does not occur in the training data "
                                         f"(known: {shown})")
