"""Reading training text: files and globs, lines, documents.

Input format (BERT's): one sentence per line, a blank line between documents; plain or gzip
(``.gz``) files, many files and glob patterns.

Documented handling of bad input:

* a pattern that matches no file, a missing file, a directory -> :class:`DataError`;
* empty documents (runs of blank lines) are skipped; a document longer than
  ``max_document_lines`` (10,000) lines is cut into several, so a file without blank lines
  streams too;
* bytes that are not UTF-8 -> :class:`DataError` naming the file and line (``errors="replace"``
  substitutes U+FFFD instead, ``errors="skip"`` drops the line);
* a line over ``max_line_bytes`` (1 MiB) -> :class:`DataError` naming the file and line (a
  sign of a binary or wrongly formatted file).
"""
import glob
import gzip
import os
from typing import NamedTuple

__all__ = ["DataError", "expand_files", "iter_lines", "iter_documents", "Position",
           "Document", "document_stream", "decode_document", "DEFAULT_MAX_LINE",
           "DEFAULT_MAX_DOC_LINES", "ERRORS"]

DEFAULT_MAX_LINE = 1 << 20
DEFAULT_MAX_DOC_LINES = 10_000
ERRORS = ("strict", "replace", "skip")


class DataError(ValueError):
    """Unusable training text; the message names the file (and line)."""


def expand_files(patterns):
    """A sorted, de-duplicated list of files from paths and glob patterns (``**`` recursive).

    A pattern that matches nothing, or a directory, raises :class:`DataError`.
    """
    if isinstance(patterns, (str, os.PathLike)):
        patterns = [patterns]
    out, seen = [], set()
    for pat in patterns:
        pat = os.fspath(pat)
        if glob.has_magic(pat):
            matches = sorted(p for p in glob.glob(pat, recursive=True) if os.path.isfile(p))
            if not matches:
                raise DataError(f"{pat}: the pattern matches no file")
        else:
            if os.path.isdir(pat):
                raise DataError(f"{pat}: is a directory; pass files or a glob such as "
                                f"'{os.path.join(pat, '*.txt')}'")
            if not os.path.isfile(pat):
                raise DataError(f"{pat}: no such file")
            matches = [pat]
        for m in matches:
            if m not in seen:
                seen.add(m)
                out.append(m)
    if not out:
        raise DataError("no input files given")
    return out


def _open(path):
    try:
        if path.endswith(".gz"):
            return gzip.open(path, "rb")
        return open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot open: {e.strerror or e}") from None


def _decode(raw, path, lineno, errors):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        if errors == "replace":
            return raw.decode("utf-8", "replace")
        if errors == "skip":
            return None
        raise DataError(f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                        f"{e.start + 1}); fix the file or pass errors='replace'") from None


def _read_line(f, path, lineno, max_line_bytes):
    try:
        raw = f.readline(max_line_bytes + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}:{lineno}: cannot read: {e}") from None
    if len(raw) > max_line_bytes:
        raise DataError(f"{path}:{lineno}: line longer than {max_line_bytes} bytes; the file is "
                        f"not one-sentence-per-line text (or raise max_line_bytes)")
    return raw


def _check_errors(errors):
    if errors not in ERRORS:
        raise ValueError(f"errors must be 'strict', 'replace' or 'skip', not {errors!r}")


def iter_lines(path, *, errors="strict", max_line_bytes=DEFAULT_MAX_LINE):
    """Yield ``(line number, text)`` for each line of a plain or gzip file, without the newline."""
    _check_errors(errors)
    with _open(path) as f:
        lineno = 0
        while True:
            raw = _read_line(f, path, lineno + 1, max_line_bytes)
            if not raw:
                return
            lineno += 1
            text = _decode(raw.rstrip(b"\r\n"), path, lineno, errors)
            if text is not None:
                yield lineno, text


class Position:
    """Where the document stream of an epoch stands: file index (in the epoch's order), byte
    offset in it (uncompressed for .gz), line number and number of documents seen so far."""
    __slots__ = ("file", "offset", "line", "doc")

    def __init__(self, file=0, offset=0, line=0, doc=0):
        self.file, self.offset, self.line, self.doc = file, offset, line, doc

    def to_dict(self):
        return {"file": self.file, "offset": self.offset, "line": self.line, "doc": self.doc}

    @classmethod
    def from_dict(cls, d):
        return cls(int(d["file"]), int(d["offset"]), int(d["line"]), int(d["doc"]))


class Document(NamedTuple):
    """One document of the stream, not yet decoded (only the documents a worker uses are)."""
    index: int           # its place in the epoch's stream of documents
    path: str
    first_line: int      # line number of lines[0] (a document's lines are consecutive)
    lines: list          # its non-blank lines, stripped bytes
    after: Position      # where the stream stands after it


def decode_document(doc, errors="strict"):
    """The sentences (text lines) of a :class:`Document`; a line that is not UTF-8 raises
    :class:`DataError` naming the file and line (or is replaced / dropped, see ``errors``)."""
    out = []
    for k, raw in enumerate(doc.lines):
        text = _decode(raw, doc.path, doc.first_line + k, errors)
        if text is not None:
            out.append(text)
    return out


def document_stream(files, start, *, max_line_bytes=DEFAULT_MAX_LINE,
                    max_document_lines=DEFAULT_MAX_DOC_LINES, on_empty=None):
    """Yield every :class:`Document` of ``files`` (in that order) from ``start``.

    A document of more than ``max_document_lines`` lines is cut into documents of that many
    lines, so that a file without blank lines cannot fill the memory. ``on_empty(path)`` is
    called for a file without any text.
    """
    doc = start.doc
    for fi in range(start.file, len(files)):
        path = files[fi]
        resumed = fi == start.file and start.offset > 0
        with _open(path) as f:
            lineno = 0
            if resumed:
                try:
                    f.seek(start.offset)
                except (OSError, EOFError, gzip.BadGzipFile) as e:
                    raise DataError(f"{path}: cannot seek to the resume position "
                                    f"{start.offset}: {e}") from None
                lineno = start.line
            lines, first, any_text = [], 0, resumed
            while True:
                raw = _read_line(f, path, lineno + 1, max_line_bytes)
                if not raw:
                    break
                lineno += 1
                stripped = raw.strip()
                if not stripped:
                    if lines:
                        yield Document(doc, path, first, lines,
                                       Position(fi, f.tell(), lineno, doc + 1))
                        doc, lines = doc + 1, []
                    continue
                any_text = True
                if not lines:
                    first = lineno
                lines.append(stripped)
                if len(lines) >= max_document_lines:
                    yield Document(doc, path, first, lines, Position(fi, f.tell(), lineno, doc + 1))
                    doc, lines = doc + 1, []
            if lines:
                yield Document(doc, path, first, lines, Position(fi + 1, 0, 0, doc + 1))
                doc += 1
            elif not any_text and on_empty is not None:
                on_empty(path)


def iter_documents(files, *, num_shards=1, shard_index=0, errors="strict",
                   max_line_bytes=DEFAULT_MAX_LINE, max_document_lines=DEFAULT_MAX_DOC_LINES):
    """Yield ``(doc_index, [sentence, ...])`` for a shard's documents, in file order: the
    ``k``-th document belongs to shard ``k % num_shards`` (other shards' documents are scanned
    for their boundaries, not decoded)."""
    _check_errors(errors)
    paths = expand_files(files)
    for doc in document_stream(paths, Position(), max_line_bytes=max_line_bytes,
                               max_document_lines=max_document_lines):
        if doc.index % num_shards == shard_index:
            sentences = decode_document(doc, errors)
            if sentences:
                yield doc.index, sentences
