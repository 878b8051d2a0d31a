"""Tokenizers behind one interface: WordPiece (BERT), SentencePiece (ALBERT) and byte-level BPE.

Every tokenizer has::

    tok.tokenize(text) -> list[str]            # pieces, no special tokens
    tok.encode(text) -> list[int]              # ids, no special tokens
    tok.encode_pair(a, b=None, *, max_length=None, truncation="longest_first") -> Encoding
    tok.decode(ids, skip_special_tokens=True) -> str
    tok.vocab_size                             # int
    tok.cls_id, tok.sep_id, tok.pad_id, tok.mask_id, tok.unk_id   # int, or None when absent
    tok.special_ids                            # frozenset of the special token ids present
    tok.save(directory) / Tokenizer.load(directory)
    tok.to_assets() -> {name: str | bytes}    / Tokenizer.from_assets(assets)

:class:`Encoding` is a named tuple ``(ids, token_types)`` (so ``ids, types = tok.encode_pair(a, b)``
works) with a ``valid_length`` property. WordPiece and SentencePiece lay a pair out as
``[CLS] a [SEP] b [SEP]`` with token types ``0 ... 0 1 ... 1``; byte-level BPE (RoBERTa) as
``<s> a </s></s> b </s>`` with token types all 0.

``save(dir)`` writes a folder in the Hugging Face layout (``vocab.txt`` / ``spiece.model`` /
``vocab.json`` + ``merges.txt``, plus ``tokenizer_config.json``), so Hugging Face loads it too.
A folder whose vocabulary is only in a ``tokenizer.json`` (what transformers 5 saves) is read
as well, for WordPiece and byte-level BPE: see :func:`get_tokenizer`.
``to_assets()`` holds the same files under ``tokenizer/<name>``, the form in which they travel
inside a tiezoo checkpoint (``checkpoints.save(..., assets=tok.to_assets())``); ``get_tokenizer``
reads them back from the checkpoint.

WordPiece runs on one of two backends that give identical output (the tests check both against
``transformers``' ``BertTokenizerFast``, and the pure-Python character tables against the Rust
ones on every Unicode code point): a pure-Python implementation (``backend="python"``, the
default) and the Rust ``tokenizers`` package (``backend="tokenizers"``). The Python one is the
default because it measured faster here (benchmarks/data_pipeline.py, one core: ~2.9 M tokens/s
against ~0.55 M for ``tokenizers`` and ~0.5 M for GluonNLP 0.10's BERTTokenizer), thanks to a
word -> ids cache; ``tokenizers`` only pays off with many threads. Both implement BERT's basic
tokenization as ``tokenizers``' ``BertNormalizer`` + ``BertPreTokenizer`` define it: control
characters, U+0000 and U+FFFD removed, whitespace normalised, CJK ideographs split into single
characters, accents stripped (NFD, drop Mn) when lower-casing (or when ``strip_accents=True``),
split on whitespace and punctuation, and a word longer than ``max_input_chars_per_word``
characters becomes ``[UNK]``. Special tokens written literally in the text (``"[MASK]"``) are
recognised as the special token, as Hugging Face does.

Also: ``tok.encode_batch(texts)``, ``tok.id_to_token(i)`` / ``tok.token_to_id(t)``,
``tok.require_special_tokens()`` (a :class:`TokenizerError` naming the vocabulary file when
``[CLS] [SEP] [PAD] [MASK] [UNK]`` are not all there), ``tok.word_start_mask()`` (for
whole-word masking) and, for WordPiece, ``tok.basic_tokenize(text)`` and ``tok.vocab``.

Dependencies: WordPiece and vocabulary training need nothing beyond the standard library and
``sentencepiece``; the ``tokenizers`` package is optional (``backend="tokenizers"``,
``build_vocab(..., trainer="tokenizers")``) except for byte-level BPE folders, which need it.
"""
import abc
import importlib
import json
import os
import re
import unicodedata
from itertools import chain
from typing import NamedTuple

__all__ = ["Encoding", "Tokenizer", "WordPieceTokenizer", "SentencePieceTokenizer",
           "ByteBPETokenizer", "TokenizerError", "get_tokenizer", "build_vocab",
           "ASSET_PREFIX"]

ASSET_PREFIX = "tokenizer/"
_chain = chain.from_iterable
_CONFIG_NAME = "tokenizer_config.json"
_TRUNCATIONS = ("longest_first", "only_first", "only_second")


class TokenizerError(ValueError):
    """A vocabulary or tokenizer that cannot be used; the message names the file."""


class Encoding(NamedTuple):
    """``(ids, token_types)`` of an encoded sequence or pair, special tokens included."""
    ids: list
    token_types: list

    @property
    def valid_length(self):
        return len(self.ids)


def _hf_tokenizers():
    """The Rust ``tokenizers`` package, or None when it is not installed."""
    try:
        mod = importlib.import_module("tokenizers")
    except ImportError:
        return None
    return mod if hasattr(mod, "AddedToken") and hasattr(mod, "__version__") else None


def _truncate_pair(a, b, budget, truncation, source):
    """Shorten id lists ``a`` and ``b`` (in place) so that ``len(a) + len(b) <= budget``."""
    total = len(a) + (len(b) if b is not None else 0)
    excess = total - budget
    if excess <= 0:
        return
    if not truncation:
        raise TokenizerError(f"{source}: sequence of {total} tokens does not fit "
                             f"max_length (room for {budget} after special tokens) and truncation "
                             f"is off")
    if truncation is True:
        truncation = "longest_first"
    if truncation not in _TRUNCATIONS:
        raise ValueError(f"truncation must be one of {_TRUNCATIONS} or True/False, not {truncation!r}")
    if truncation == "only_first" or (truncation == "only_second" and b is None):
        target = a
    elif truncation == "only_second":
        target = b
    else:
        target = None
    if target is not None:
        if excess > len(target):
            raise TokenizerError(f"{source}: cannot truncate with {truncation!r}: {excess} tokens "
                                 f"too many, the truncated sequence has only {len(target)}")
        del target[len(target) - excess:]
        return
    if b is None:
        del a[budget:]
        return
    # longest_first, as Hugging Face tokenizers computes it: the shorter sequence keeps its
    # length when the longer one alone can make room; otherwise both get about half.
    n1, n2 = len(a), len(b)
    swap = n1 > n2
    if swap:
        n1, n2 = n2, n1
    n2 = n1 if n1 > budget else max(n1, budget - n1)
    if n1 + n2 > budget:
        n1 = budget // 2
        n2 = n1 + budget % 2
    if swap:
        n1, n2 = n2, n1
    del a[n1:]
    del b[n2:]


class Tokenizer(abc.ABC):
    """The common interface; see the module docstring."""

    kind = None
    pair_layout = "bert"          # "bert": [CLS] a [SEP] b [SEP]; "roberta": <s> a </s></s> b </s>

    # ---- to be provided by subclasses -------------------------------------------------
    @abc.abstractmethod
    def tokenize(self, text):
        ...

    @abc.abstractmethod
    def encode(self, text):
        ...

    def encode_batch(self, texts):
        """``[encode(t) for t in texts]``, faster where the backend batches."""
        return [self.encode(t) for t in texts]

    @abc.abstractmethod
    def id_to_token(self, i):
        ...

    @abc.abstractmethod
    def token_to_id(self, token):
        """The id of ``token``, or None when the vocabulary lacks it."""
        ...

    @property
    @abc.abstractmethod
    def vocab_size(self):
        ...

    @abc.abstractmethod
    def _files(self):
        """``{file name: str | bytes}`` of this tokenizer's files (Hugging Face layout)."""
        ...

    # ---- shared ----------------------------------------------------------------------
    source = "<tokenizer>"
    cls_id = sep_id = pad_id = mask_id = unk_id = None

    def __len__(self):
        return self.vocab_size

    @property
    def special_ids(self):
        return frozenset(i for i in (self.cls_id, self.sep_id, self.pad_id, self.mask_id,
                                     self.unk_id) if i is not None)

    def require_special_tokens(self, names=("cls", "sep", "pad", "mask", "unk")):
        """Raise :class:`TokenizerError` naming the vocabulary if any of these is absent."""
        missing = [n for n in names if getattr(self, f"{n}_id") is None]
        if missing:
            want = ", ".join(f"{n} ({self._special_names().get(n, '?')})" for n in missing)
            raise TokenizerError(f"{self.source}: the vocabulary has no special token for {want}; "
                                 f"a vocabulary for pretraining/finetuning needs "
                                 f"{', '.join(self._special_names().values())}")

    def _special_names(self):
        return {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "mask": "[MASK]", "unk": "[UNK]"}

    def convert_ids_to_tokens(self, ids):
        return [self.id_to_token(int(i)) for i in ids]

    def encode_pair(self, a, b=None, *, max_length=None, truncation="longest_first"):
        """Encode ``a`` (and ``b``) with the model's special tokens.

        ``a``/``b`` are texts or already-encoded id lists. ``max_length`` bounds the total,
        special tokens included; ``truncation`` is ``"longest_first"`` (Hugging Face's rule: cut
        the longer sequence down to the shorter one's length, then both to about half the
        room), ``"only_first"``, ``"only_second"`` or ``False``
        (then an over-long input raises :class:`TokenizerError`). Returns :class:`Encoding`.
        """
        self.require_special_tokens(("cls", "sep"))
        ia = list(a) if isinstance(a, (list, tuple)) else self.encode(a)
        # An empty string b means "no second segment", as in Hugging Face.
        ib = None if b is None or b == "" else (list(b) if isinstance(b, (list, tuple))
                                                 else self.encode(b))
        if self.pair_layout == "roberta":
            n_special = 2 if ib is None else 4
        else:
            n_special = 2 if ib is None else 3
        if max_length is not None:
            if max_length < n_special:
                raise ValueError(f"max_length={max_length} leaves no room for the {n_special} "
                                 f"special tokens")
            _truncate_pair(ia, ib, max_length - n_special, truncation, self.source)
        cls, sep = self.cls_id, self.sep_id
        ids = [cls] + ia + [sep]
        types = [0] * len(ids)
        if ib is not None:
            if self.pair_layout == "roberta":
                ids += [sep] + ib + [sep]
                types += [0] * (len(ib) + 2)
            else:
                ids += ib + [sep]
                types += [1] * (len(ib) + 1)
        return Encoding(ids, types)

    @abc.abstractmethod
    def decode(self, ids, skip_special_tokens=True):
        ...

    def word_start_mask(self):
        """A numpy bool array (vocab_size,): True where a token begins a word (for whole-word
        masking); special tokens count as word starts."""
        import numpy as np
        out = np.ones(self.vocab_size, dtype=bool)
        for i in range(self.vocab_size):
            out[i] = self._is_word_start(self.id_to_token(i))
        for i in self.special_ids:
            out[i] = True
        return out

    def _is_word_start(self, token):
        return True

    # ---- persistence -----------------------------------------------------------------
    @abc.abstractmethod
    def _config(self):
        ...

    def save(self, directory):
        """Write the tokenizer as a Hugging Face style folder (created if needed)."""
        os.makedirs(directory, exist_ok=True)
        files = dict(self._files())
        files[_CONFIG_NAME] = json.dumps(self._config(), indent=2, sort_keys=True) + "\n"
        for name, data in files.items():
            path = os.path.join(directory, name)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            os.replace(tmp, path)
        return directory

    @classmethod
    def load(cls, directory, **overrides):
        return get_tokenizer(directory, **overrides)

    def to_assets(self):
        """``{"tokenizer/<file>": str | bytes}`` for ``checkpoints.save(..., assets=...)``."""
        files = dict(self._files())
        files[_CONFIG_NAME] = json.dumps(self._config(), sort_keys=True)
        return {ASSET_PREFIX + name: data for name, data in files.items()}

    @staticmethod
    def from_assets(assets, source="<assets>"):
        """Rebuild a tokenizer from :meth:`to_assets` output (or ``checkpoints.read_assets``)."""
        files = {}
        for name, data in assets.items():
            if name.startswith(ASSET_PREFIX):
                files[name[len(ASSET_PREFIX):]] = data
        if not files:
            raise TokenizerError(f"{source}: holds no tokenizer assets (no '{ASSET_PREFIX}*' "
                                 f"entries; found: {sorted(assets) or 'none'})")
        return _from_files(files, source)

    def __repr__(self):
        return (f"{type(self).__name__}(vocab_size={self.vocab_size}, source={self.source!r})")


# --------------------------------------------------------------------------------------
# WordPiece
# --------------------------------------------------------------------------------------

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
# Rust's char::is_whitespace (the White_Space property) plus \t \n \r.
_WS_CODEPOINTS = ([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680]
                  + list(range(0x2000, 0x200B)) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
_ASCII_CLEAN = {c: None for c in range(32) if chr(c) not in "\t\n\r"}
_ASCII_CLEAN.update({ord("\t"): " ", ord("\n"): " ", ord("\r"): " ", 0x7F: None})
_ASCII_WORD_RE = re.compile(r"[0-9A-Za-z]+|[!-/:-@\[-`{-~]")
_ASCII_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Character classes exactly as the Rust ``tokenizers`` BertNormalizer / BertPreTokenizer use
# them (their Unicode tables are older than Python's, so ``unicodedata`` alone differs on a few
# hundred code points). Derived by probing every code point through ``tokenizers`` 0.23;
# tests/test_tokenizers.py re-derives them (a slow test) and compares.
_CTRL_RANGES = (
    "0-8 B-C E-1F 7F-9F AD 600-605 61C 6DD 70F 180E 200B-200F 202A-202E 2060-2064 2066-206F "
    "E000-F8FF FEFF FFF9-FFFB FFFD 110BD 1BCA0-1BCA3 1D173-1D17A E0001 E0020-E007F F0000-FFFFD "
    "100000-10FFFD "
)
_PUNCT_RANGES = (
    "21-2F 3A-40 5B-60 7B-7E A1 A7 AB B6-B7 BB BF 37E 387 55A-55F 589-58A 5BE 5C0 5C3 5C6 5F3-5F4 "
    "609-60A 60C-60D 61B 61E-61F 66A-66D 6D4 700-70D 7F7-7F9 830-83E 85E 964-965 970 AF0 DF4 E4F "
    "E5A-E5B F04-F12 F14 F3A-F3D F85 FD0-FD4 FD9-FDA 104A-104F 10FB 1360-1368 1400 166D-166E "
    "169B-169C 16EB-16ED 1735-1736 17D4-17D6 17D8-17DA 1800-180A 1944-1945 1A1E-1A1F 1AA0-1AA6 "
    "1AA8-1AAD 1B5A-1B60 1BFC-1BFF 1C3B-1C3F 1C7E-1C7F 1CC0-1CC7 1CD3 2010-2027 2030-2043 "
    "2045-2051 2053-205E 207D-207E 208D-208E 2308-230B 2329-232A 2768-2775 27C5-27C6 27E6-27EF "
    "2983-2998 29D8-29DB 29FC-29FD 2CF9-2CFC 2CFE-2CFF 2D70 2E00-2E2E 2E30-2E42 3001-3003 "
    "3008-3011 3014-301F 3030 303D 30A0 30FB A4FE-A4FF A60D-A60F A673 A67E A6F2-A6F7 A874-A877 "
    "A8CE-A8CF A8F8-A8FA A8FC A92E-A92F A95F A9C1-A9CD A9DE-A9DF AA5C-AA5F AADE-AADF AAF0-AAF1 "
    "ABEB FD3E-FD3F FE10-FE19 FE30-FE52 FE54-FE61 FE63 FE68 FE6A-FE6B FF01-FF03 FF05-FF0A "
    "FF0C-FF0F FF1A-FF1B FF1F-FF20 FF3B-FF3D FF3F FF5B FF5D FF5F-FF65 10100-10102 1039F 103D0 "
    "1056F 10857 1091F 1093F 10A50-10A58 10A7F 10AF0-10AF6 10B39-10B3F 10B99-10B9C 11047-1104D "
    "110BB-110BC 110BE-110C1 11140-11143 11174-11175 111C5-111C9 111CD 111DB 111DD-111DF "
    "11238-1123D 112A9 114C6 115C1-115D7 11641-11643 1173C-1173E 12470-12474 16A6E-16A6F 16AF5 "
    "16B37-16B3B 16B44 1BC9F 1DA87-1DA8B "
)
_MN_RANGES = (
    "300-33F 342 345-36F 483-487 591-5BD 5BF 5C1-5C2 5C4-5C5 5C7 610-61A 64B-65F 670 6D6-6DC "
    "6DF-6E4 6E7-6E8 6EA-6ED 711 730-74A 7A6-7B0 7EB-7F3 816-819 81B-823 825-827 829-82D 859-85B "
    "8E3-902 93A 93C 941-948 94D 951-957 962-963 981 9BC 9C1-9C4 9CD 9E2-9E3 A01-A02 A3C A41-A42 "
    "A47-A48 A4B-A4D A51 A70-A71 A75 A81-A82 ABC AC1-AC5 AC7-AC8 ACD AE2-AE3 B01 B3C B3F B41-B44 "
    "B4D B56 B62-B63 B82 BC0 BCD C00 C3E-C40 C46-C47 C4A-C4D C55-C56 C62-C63 C81 CBC CBF CC6 CCC- "
    "CCD CE2-CE3 D01 D41-D44 D4D D62-D63 DCA DD2-DD4 DD6 E31 E34-E3A E47-E4E EB1 EB4-EB9 EBB-EBC "
    "EC8-ECD F18-F19 F35 F37 F39 F71-F72 F74 F77 F79-F7E F80 F82-F84 F86-F87 F8D-F92 F94-F97 "
    "F99-F9C F9E-FA1 FA3-FA6 FA8-FAB FAD-FB8 FBA-FBC FC6 102D-1030 1032-1037 1039-103A 103D-103E "
    "1058-1059 105E-1060 1071-1074 1082 1085-1086 108D 109D 135D-135F 1712-1714 1732-1734 "
    "1752-1753 1772-1773 17B4-17B5 17B7-17BD 17C6 17C9-17D3 17DD 180B-180D 18A9 1920-1922 "
    "1927-1928 1932 1939-193B 1A17-1A18 1A1B 1A56 1A58-1A5E 1A60 1A62 1A65-1A6C 1A73-1A7C 1A7F "
    "1AB0-1ABD 1B00-1B03 1B34 1B36-1B3A 1B3C 1B42 1B6B-1B73 1B80-1B81 1BA2-1BA5 1BA8-1BA9 "
    "1BAB-1BAD 1BE6 1BE8-1BE9 1BED 1BEF-1BF1 1C2C-1C33 1C36-1C37 1CD0-1CD2 1CD4-1CE0 1CE2-1CE8 "
    "1CED 1CF4 1CF8-1CF9 1DC0-1DF5 1DFC-1DFF 20D0-20DC 20E1 20E5-20F0 2CEF-2CF1 2D7F 2DE0-2DFF "
    "302A-302D 3099-309A A66F A674-A67D A69E-A69F A6F0-A6F1 A802 A806 A80B A825-A826 A8C4 "
    "A8E0-A8F1 A926-A92D A947-A951 A980-A982 A9B3 A9B6-A9B9 A9BC A9E5 AA29-AA2E AA31-AA32 "
    "AA35-AA36 AA43 AA4C AA7C AAB0 AAB2-AAB4 AAB7-AAB8 AABE-AABF AAC1 AAEC-AAED AAF6 ABE5 ABE8 "
    "ABED FB1E FE00-FE0F FE20-FE2F 101FD 102E0 10376-1037A 10A01-10A03 10A05-10A06 10A0C-10A0F "
    "10A38-10A3A 10A3F 10AE5-10AE6 11001 11038-11046 1107F-11081 110B3-110B6 110B9-110BA "
    "11100-11102 11127-1112B 1112D 11130-11134 11173 11180-11181 111B6-111BE 111CA-111CC "
    "1122F-11231 11234 11236-11237 112DF 112E3-112EA 11300-11301 1133C 11340 11366-1136C "
    "11370-11374 114B3-114B8 114BA 114BF-114C0 114C2-114C3 115B2-115B5 115BC-115BD 115BF-115C0 "
    "115DC-115DD 11633-1163A 1163D 1163F-11640 116AB 116AD 116B0-116B5 116B7 1171D-1171F "
    "11722-11725 11727-1172B 16AF0-16AF4 16B30-16B36 16F8F-16F92 1BC9D-1BC9E 1D167-1D169 "
    "1D17B-1D182 1D185-1D18B 1D1AA-1D1AD 1D242-1D244 1DA00-1DA36 1DA3B-1DA6C 1DA75 1DA84 "
    "1DA9B-1DA9F 1DAA1-1DAAF 1E8D0-1E8D6 E0100-E01EF "
)

# Upper-case letters newer than Python 3.11's Unicode 14 tables that Rust lower-cases.
_LOWER_EXTRA = {int(k, 16): chr(int(v, 16)) for k, v in (p.split(":") for p in (
    "1C89:1C8A A7CB:264 A7CC:A7CD A7CE:A7CF A7D2:A7D3 A7D4:A7D5 A7DA:A7DB A7DC:19B "
    + " ".join(f"{0x10D50 + i:X}:{0x10D70 + i:X}" for i in range(22))
    + " " + " ".join(f"{0x16EA0 + i:X}:{0x16EBB + i:X}" for i in range(25))).split())}

_tables = None


def _parse_ranges(spec):
    out = []
    for part in "".join(spec).split():
        a, _, b = part.partition("-")
        out.append((int(a, 16), int(b or a, 16)))
    return out


def _class_of(ranges):
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)


def _unicode_tables():
    """Compiled regexes for the non-ASCII path, built once on first use."""
    global _tables
    if _tables is None:
        ctrl = _parse_ranges(_CTRL_RANGES)
        ws = [(c, c) for c in _WS_CODEPOINTS if not any(a <= c <= b for a, b in ctrl)]
        punct_cls = _class_of(_parse_ranges(_PUNCT_RANGES))
        _tables = {
            "ctrl": re.compile(f"[{_class_of(ctrl)}]+"),
            "ws": re.compile(f"[{_class_of(ws)}]"),
            "cjk": re.compile(f"[{_class_of(_CJK_RANGES)}]"),
            "mn": re.compile(f"[{_class_of(_parse_ranges(_MN_RANGES))}]+"),
            "word": re.compile(f"[^ {punct_cls}]+|[{punct_cls}]"),
        }
    return _tables


def _read_vocab_txt(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read vocabulary: {e.strerror or e}") from None
    return _parse_vocab_txt(raw, path)


def _parse_vocab_txt(raw, source):
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[:e.start].count(b"\n") + 1
            raise TokenizerError(f"{source}:{line}: vocabulary is not valid UTF-8 "
                                 f"(byte 0x{raw[e.start]:02x})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise TokenizerError(f"{source}: vocabulary is empty")
    return tokens


class WordPieceTokenizer(Tokenizer):
    """BERT WordPiece over a ``vocab.txt`` token list (one token per line, id = line number).

    ``lower``: lower-case (uncased models); None guesses from the vocabulary (cased when it
    holds upper-case tokens). ``strip_accents``: None follows ``lower`` (Hugging Face's rule).
    ``backend``: ``"python"`` (default, fastest on one core) or ``"tokenizers"`` (the Rust
    package, multi-threaded ``encode_batch``); both give identical ids.
    """

    kind = "wordpiece"

    def __init__(self, vocab, *, lower=None, strip_accents=None, tokenize_chinese_chars=True,
                 max_input_chars_per_word=100, unk_token="[UNK]", cls_token="[CLS]",
                 sep_token="[SEP]", pad_token="[PAD]", mask_token="[MASK]", backend="python",
                 source=None, cache_size=1 << 20):
        if isinstance(vocab, (str, os.PathLike)):
            source = source or str(vocab)
            vocab = _read_vocab_txt(vocab)
        self.source = source or "<vocab list>"
        self._tokens = list(vocab)
        self._vocab = {t: i for i, t in enumerate(self._tokens)}
        if lower is None:
            specials = {unk_token, cls_token, sep_token, pad_token, mask_token}
            lower = not any(t not in specials and not t.startswith("[") and t != t.lower()
                            for t in self._tokens)
        self.lower = bool(lower)
        self.strip_accents = self.lower if strip_accents is None else bool(strip_accents)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self._names = {"cls": cls_token, "sep": sep_token, "pad": pad_token, "mask": mask_token,
                       "unk": unk_token}
        for key, name in self._names.items():
            setattr(self, f"{key}_id", self._vocab.get(name))
        if self.unk_id is None:
            raise TokenizerError(f"{self.source}: the vocabulary has no unknown token {unk_token!r}; "
                                 f"a WordPiece vocabulary needs one (and [CLS] [SEP] [PAD] [MASK] "
                                 f"for BERT)")
        present = sorted((n for n in self._names.values() if n in self._vocab), key=len, reverse=True)
        self._special_re = re.compile("|".join(re.escape(n) for n in present)) if present else None
        self._special_first = "".join(sorted({n[0] for n in present if n}))
        self._cache = {}
        self._cache_size = cache_size
        self._fast = None
        if backend not in ("python", "tokenizers"):
            raise ValueError(f"backend must be 'python' or 'tokenizers', not {backend!r}")
        if backend == "tokenizers":
            mod = _hf_tokenizers()
            if mod is None:
                raise TokenizerError("backend='tokenizers' needs the 'tokenizers' package "
                                     "(pip install tokenizers)")
            self._fast = self._build_fast(mod, present)
        self.backend = "tokenizers" if self._fast is not None else "python"

    def _special_names(self):
        return dict(self._names)

    def _build_fast(self, mod, present):
        from tokenizers import models, normalizers, pre_tokenizers, AddedToken
        model = models.WordPiece(dict(self._vocab), unk_token=self._names["unk"],
                                 max_input_chars_per_word=self.max_input_chars_per_word)
        tok = mod.Tokenizer(model)
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=self.tokenize_chinese_chars,
            strip_accents=self.strip_accents, lowercase=self.lower)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.add_special_tokens([AddedToken(n, normalized=False, special=True) for n in present])
        return tok

    # ---- pure Python basic tokenization + WordPiece ------------------------------------
    def _normalize(self, text):
        if text.isascii():
            text = text.translate(_ASCII_CLEAN)
            return (text.lower() if self.lower else text), True
        t = _unicode_tables()
        text = t["ctrl"].sub("", text)
        text = t["ws"].sub(" ", text)
        if self.tokenize_chinese_chars:
            text = t["cjk"].sub(r" \g<0> ", text)
        if self.strip_accents:
            # U+11938 decomposes in Python's NFD tables, not in Rust's (older) ones; private
            # use U+E000 cannot occur here (removed with the control characters above).
            protect = "\U00011938" in text
            if protect:
                text = text.replace("\U00011938", "\ue000")
            text = t["mn"].sub("", unicodedata.normalize("NFD", text))
            if protect:
                text = text.replace("\ue000", "\U00011938")
        if self.lower:
            # Per character, as the Rust normaliser does (no final-sigma context rule).
            text = text.translate(_LOWER_EXTRA)
            text = text.lower() if "\u03a3" not in text else "".join([c.lower() for c in text])
        return text, text.isascii()

    def _word_ids(self, word):
        vocab = self._vocab
        if len(word) > self.max_input_chars_per_word:
            return (self.unk_id,)
        out, start, n = [], 0, len(word)
        while start < n:
            end = n
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                found = vocab.get(sub)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return (self.unk_id,)
            out.append(found)
            start = end
        return tuple(out)

    def basic_tokenize(self, text):
        """The words of BERT's basic tokenization (normalised, split on whitespace and
        punctuation, CJK characters apart), before WordPiece; special tokens are not kept."""
        text, ascii_ = self._normalize(text)
        return (_ASCII_WORD_RE if ascii_ else _unicode_tables()["word"]).findall(text)

    def _fill(self, word):
        ids = self._word_ids(word)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[word] = ids
        return ids

    def _encode_plain(self, text, out):
        if text.isascii():
            if _ASCII_CTRL_RE.search(text):
                text = text.translate(_ASCII_CLEAN)
            words = _ASCII_WORD_RE.findall(text.lower() if self.lower else text)
        else:
            text, ascii_ = self._normalize(text)
            words = (_ASCII_WORD_RE if ascii_ else _unicode_tables()["word"]).findall(text)
        cache = self._cache
        try:
            parts = list(map(cache.__getitem__, words))    # the common case: all cached
        except KeyError:
            parts = [cache[w] if w in cache else self._fill(w) for w in words]
        out.extend(_chain(parts))

    def _encode_python(self, text):
        out = []
        if self._special_first and any(c in text for c in self._special_first) \
                and self._special_re.search(text):
            pos = 0
            for m in self._special_re.finditer(text):
                self._encode_plain(text[pos:m.start()], out)
                out.append(self._vocab[m.group()])
                pos = m.end()
            self._encode_plain(text[pos:], out)
        else:
            self._encode_plain(text, out)
        return out

    # ---- interface ---------------------------------------------------------------------
    def encode(self, text):
        if self._fast is not None:
            return self._fast.encode(text, add_special_tokens=False).ids
        return self._encode_python(text)

    def encode_batch(self, texts):
        if self._fast is not None:
            texts = list(texts)
            if not texts:
                return []
            return [e.ids for e in self._fast.encode_batch_fast(texts, add_special_tokens=False)]
        return [self._encode_python(t) for t in texts]

    def tokenize(self, text):
        toks = self._tokens
        return [toks[i] for i in self.encode(text)]

    def id_to_token(self, i):
        return self._tokens[i]

    def token_to_id(self, token):
        return self._vocab.get(token)

    @property
    def vocab_size(self):
        return len(self._tokens)

    @property
    def vocab(self):
        """The token list (id = index)."""
        return list(self._tokens)

    def _is_word_start(self, token):
        return not token.startswith("##")

    def decode(self, ids, skip_special_tokens=True):
        skip = self.special_ids - {self.unk_id} if skip_special_tokens else frozenset()
        words = []
        for i in ids:
            i = int(i)
            if i in skip:
                continue
            tok = self._tokens[i]
            if tok.startswith("##") and words:
                words[-1] += tok[2:]
            else:
                words.append(tok)
        return " ".join(words)

    def _files(self):
        return {"vocab.txt": "".join(t + "\n" for t in self._tokens)}

    def _config(self):
        return {"tokenizer_class": "BertTokenizer", "do_lower_case": self.lower,
                "strip_accents": self.strip_accents,
                "tokenize_chinese_chars": self.tokenize_chinese_chars,
                "unk_token": self._names["unk"], "cls_token": self._names["cls"],
                "sep_token": self._names["sep"], "pad_token": self._names["pad"],
                "mask_token": self._names["mask"],
                "tiezoo": {"kind": self.kind,
                           "max_input_chars_per_word": self.max_input_chars_per_word}}


# --------------------------------------------------------------------------------------
# SentencePiece
# --------------------------------------------------------------------------------------

class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece ``.model``, in one of two styles (``preprocess``):

    * ``None`` (the default, and what :func:`build_vocab` trains): ids and pieces exactly as
      the sentencepiece library gives them, after lower-casing when ``lower=True``.
    * ``"albert"``: exactly as Hugging Face's ``AlbertTokenizer`` (the sentencepiece-based
      one; its Rust ``AlbertTokenizerFast`` agrees on ordinary text): special tokens written
      in the text (``[CLS] [SEP] [MASK] <pad> <unk>``) are recognised first, ``[MASK]``
      absorbing the whitespace before it; each stretch of text between them then has its
      whitespace collapsed (``remove_space``), ````` and ``''`` turned into ``"``, accents
      removed (NFKD, combining marks dropped) unless ``keep_accents``, and is lower-cased
      when ``lower``; and a piece ending in a digit and a comma is split as ALBERT's
      tokenizer splits it (``9,9`` -> ``▁9 , 9``). :func:`get_tokenizer` picks this style for
      a folder or checkpoint whose ``tokenizer_config.json`` names ``AlbertTokenizer``, or
      whose model ``config.json`` says ``model_type: albert``, with Hugging Face's defaults
      (``do_lower_case=True``, ``remove_space=True``, ``keep_accents=False``).

    Special tokens are looked up among the pieces: ``[CLS]``/``<cls>``, ``[SEP]``/``<sep>``,
    ``[MASK]``/``<mask>``, the model's pad and unk ids (or ``<pad>``/``[PAD]``)."""

    kind = "sentencepiece"
    PREPROCESS = (None, "albert")

    def __init__(self, model, *, lower=False, source=None, preprocess=None, keep_accents=True,
                 remove_space=True):
        import sentencepiece as spm
        if preprocess not in self.PREPROCESS:
            raise ValueError(f"preprocess must be one of {self.PREPROCESS}, not {preprocess!r}")
        if isinstance(model, (str, os.PathLike)):
            source = source or str(model)
            try:
                with open(model, "rb") as f:
                    model = f.read()
            except OSError as e:
                raise TokenizerError(f"{model}: cannot read SentencePiece model: "
                                     f"{e.strerror or e}") from None
        self.source = source or "<sentencepiece model>"
        self._proto = bytes(model)
        self._sp = spm.SentencePieceProcessor()
        try:
            self._sp.LoadFromSerializedProto(self._proto)
        except Exception as e:  # sentencepiece raises RuntimeError/OSError with terse text
            raise TokenizerError(f"{self.source}: not a valid SentencePiece model ({e})") from None
        self.lower = bool(lower)
        self.preprocess = preprocess
        self.keep_accents = bool(keep_accents)
        self.remove_space = bool(remove_space)
        n = self._sp.get_piece_size()

        def find(*names):
            for name in names:
                i = self._sp.piece_to_id(name)
                if 0 <= i < n and self._sp.id_to_piece(i) == name:
                    return i
            return None

        self.unk_id = self._sp.unk_id() if self._sp.unk_id() >= 0 else find("<unk>", "[UNK]")
        self.pad_id = self._sp.pad_id() if self._sp.pad_id() >= 0 else find("<pad>", "[PAD]")
        self.cls_id = find("[CLS]", "<cls>")
        self.sep_id = find("[SEP]", "<sep>")
        self.mask_id = find("[MASK]", "<mask>")
        # ALBERT style: the special tokens recognised in the text (longest first)
        self._special_pieces = {}
        for i in (self.cls_id, self.sep_id, self.pad_id, self.unk_id, self.mask_id):
            if i is not None:
                self._special_pieces[self._sp.id_to_piece(i)] = i
        names = sorted(self._special_pieces, key=lambda t: (-len(t), t))
        self._special_re = re.compile("|".join(map(re.escape, names))) if names else None
        self._mask_piece = self._sp.id_to_piece(self.mask_id) if self.mask_id is not None \
            else None

    def _special_names(self):
        return {"cls": "[CLS]", "sep": "[SEP]", "pad": "<pad>", "mask": "[MASK]", "unk": "<unk>"}

    def _prep(self, text):
        return text.lower() if self.lower else text

    # ---- ALBERT style ------------------------------------------------------------------
    def _albert_text(self, text):
        """AlbertTokenizer.preprocess_text."""
        if self.remove_space:
            text = " ".join(text.strip().split())
        text = text.replace("``", '"').replace("''", '"')
        if not self.keep_accents:
            text = unicodedata.normalize("NFKD", text)
            text = "".join(c for c in text if not unicodedata.combining(c))
        return text.lower() if self.lower else text

    def _albert_pieces(self, text):
        """AlbertTokenizer._tokenize: the pieces of one stretch of text (no special tokens)."""
        sp = self._sp
        out = []
        for piece in sp.encode(self._albert_text(text), out_type=str):
            if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                cur = sp.encode(piece[:-1].replace("\u2581", ""), out_type=str)
                if piece[0] != "\u2581" and cur and cur[0][0] == "\u2581":
                    cur = cur[1:] if len(cur[0]) == 1 else [cur[0][1:]] + cur[1:]
                out.extend(cur)
                out.append(piece[-1])
            else:
                out.append(piece)
        return out

    def _albert_tokens(self, text):
        """Pieces of ``text``, special tokens included as they were written."""
        if self._special_re is None or not self._special_re.search(text):
            return self._albert_pieces(text)
        parts, pos = [], 0
        for m in self._special_re.finditer(text):
            parts.append(text[pos:m.start()])
            parts.append(m.group())
            pos = m.end()
        parts.append(text[pos:])
        # parts alternate: text, special, text, ..., text
        for k in range(1, len(parts), 2):
            if parts[k] == self._mask_piece and parts[k - 1]:
                parts[k - 1] = parts[k - 1].rstrip()          # [MASK] eats the space before it
        out = []
        for k, part in enumerate(parts):
            if k % 2:
                out.append(part)
            elif part:
                out.extend(self._albert_pieces(part))
        return out

    def _albert_ids(self, text):
        special, to_id = self._special_pieces, self._sp.piece_to_id
        return [special[p] if p in special else to_id(p) for p in self._albert_tokens(text)]

    # ---- interface ---------------------------------------------------------------------
    def tokenize(self, text):
        if self.preprocess == "albert":
            return self._albert_tokens(text)
        return self._sp.encode(self._prep(text), out_type=str)

    def encode(self, text):
        if self.preprocess == "albert":
            return self._albert_ids(text)
        return self._sp.encode(self._prep(text))

    def encode_batch(self, texts):
        if self.preprocess == "albert":
            return [self._albert_ids(t) for t in texts]
        texts = [self._prep(t) for t in texts]
        return self._sp.encode(texts) if texts else []

    def id_to_token(self, i):
        return self._sp.id_to_piece(int(i))

    def token_to_id(self, token):
        i = self._sp.piece_to_id(token)
        return i if self._sp.id_to_piece(i) == token else None

    @property
    def vocab_size(self):
        return self._sp.get_piece_size()

    def _is_word_start(self, token):
        return token.startswith("\u2581")

    def decode(self, ids, skip_special_tokens=True):
        skip = self.special_ids - {self.unk_id} if skip_special_tokens else frozenset()
        return self._sp.decode([int(i) for i in ids if int(i) not in skip])

    def _files(self):
        return {"spiece.model": self._proto}

    def _config(self):
        if self.preprocess == "albert":
            return {"tokenizer_class": "AlbertTokenizer", "do_lower_case": self.lower,
                    "remove_space": self.remove_space, "keep_accents": self.keep_accents,
                    "tiezoo": {"kind": self.kind, "preprocess": "albert"}}
        return {"tokenizer_class": "AlbertTokenizer", "do_lower_case": self.lower,
                "keep_accents": True, "tiezoo": {"kind": self.kind, "preprocess": None}}


# --------------------------------------------------------------------------------------
# Byte-level BPE (GPT-2 / RoBERTa vocab.json + merges.txt), through the tokenizers package
# --------------------------------------------------------------------------------------

class ByteBPETokenizer(Tokenizer):
    """Byte-level BPE from ``vocab.json`` + ``merges.txt`` (RoBERTa layout:
    ``<s> a </s></s> b </s>``). Needs the ``tokenizers`` package."""

    kind = "bytebpe"
    pair_layout = "roberta"

    def __init__(self, vocab_json, merges_txt, *, add_prefix_space=False, lower=False,
                 source=None, mask_lstrip=False):
        mod = _hf_tokenizers()
        if mod is None:
            raise TokenizerError(f"{source or 'byte-level BPE'}: needs the 'tokenizers' package "
                                 f"(pip install tokenizers)")
        from tokenizers import models, pre_tokenizers, decoders, AddedToken
        self.source = source or "<byte-level BPE>"
        self._vocab_json = vocab_json if isinstance(vocab_json, str) else vocab_json.decode("utf-8")
        self._merges_txt = merges_txt if isinstance(merges_txt, str) else merges_txt.decode("utf-8")
        try:
            vocab = json.loads(self._vocab_json)
        except ValueError as e:
            raise TokenizerError(f"{self.source}: vocab.json is not valid JSON ({e})") from None
        merges = []
        for lineno, line in enumerate(self._merges_txt.splitlines(), 1):
            if not line or line.startswith("#version"):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise TokenizerError(f"{self.source}: merges.txt line {lineno}: expected two "
                                     f"tokens, got {line!r}")
            merges.append((parts[0], parts[1]))
        self.add_prefix_space = bool(add_prefix_space)
        self.lower = bool(lower)
        tok = mod.Tokenizer(models.BPE(vocab, merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=self.add_prefix_space)
        tok.decoder = decoders.ByteLevel()
        self._id_to_tok = {i: t for t, i in vocab.items()}
        self._vocab = vocab
        self._size = max(vocab.values()) + 1 if vocab else 0
        names = {"cls": "<s>", "sep": "</s>", "pad": "<pad>", "mask": "<mask>", "unk": "<unk>"}
        for key, name in names.items():
            setattr(self, f"{key}_id", vocab.get(name))
        # <mask> eats the whitespace before it where the folder's tokenizer says so (RoBERTa's
        # published tokenizers do; transformers' RobertaTokenizer default does not)
        self.mask_lstrip = bool(mask_lstrip)
        tok.add_special_tokens([AddedToken(n, special=True, normalized=False,
                                           lstrip=self.mask_lstrip and key == "mask")
                                for key, n in names.items() if n in vocab])
        self._tok = tok

    def _special_names(self):
        return {"cls": "<s>", "sep": "</s>", "pad": "<pad>", "mask": "<mask>", "unk": "<unk>"}

    def _prep(self, text):
        return text.lower() if self.lower else text

    def tokenize(self, text):
        return self._tok.encode(self._prep(text), add_special_tokens=False).tokens

    def encode(self, text):
        return self._tok.encode(self._prep(text), add_special_tokens=False).ids

    def encode_batch(self, texts):
        texts = [self._prep(t) for t in texts]
        return [e.ids for e in self._tok.encode_batch_fast(texts, add_special_tokens=False)] if texts else []

    def id_to_token(self, i):
        return self._id_to_tok.get(int(i), "")

    def token_to_id(self, token):
        return self._vocab.get(token)

    @property
    def vocab_size(self):
        return self._size

    def _is_word_start(self, token):
        return token.startswith("\u0120")

    def decode(self, ids, skip_special_tokens=True):
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def _files(self):
        return {"vocab.json": self._vocab_json, "merges.txt": self._merges_txt}

    def _config(self):
        out = {"tokenizer_class": "RobertaTokenizer", "add_prefix_space": self.add_prefix_space,
               "do_lower_case": self.lower, "tiezoo": {"kind": self.kind}}
        if self.mask_lstrip:
            out["mask_token"] = {"__type": "AddedToken", "content": "<mask>", "lstrip": True,
                                 "rstrip": False, "normalized": False, "single_word": False,
                                 "special": True}
        return out


# --------------------------------------------------------------------------------------
# get_tokenizer
# --------------------------------------------------------------------------------------

def _as_text(data):
    return data if isinstance(data, str) else bytes(data).decode("utf-8")


# Hugging Face model_type -> the tokenizer class its folders use when tokenizer_config.json
# does not name one (e.g. albert-base-v2 ships no tokenizer_config.json)
_MODEL_TYPE_TOKENIZERS = {"albert": "AlbertTokenizer", "roberta": "RobertaTokenizer",
                          "bert": "BertTokenizer", "electra": "ElectraTokenizer"}


def _added_token(config, key, content):
    """The serialized AddedToken of special token ``key`` (``"mask_token"``) in a
    tokenizer_config, from its own entry or from ``added_tokens_decoder``; {} if none."""
    value = config.get(key)
    if isinstance(value, dict):
        return value
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for entry in decoder.values():
            if isinstance(entry, dict) and entry.get("content") == content:
                return entry
    return {}


# --------------------------------------------------------------------------------------
# tokenizer.json (the ``tokenizers`` library's serialization), translated into the files above
# --------------------------------------------------------------------------------------

_TOKENIZER_JSON = "tokenizer.json"
_SPM_NAMES = ("spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
_BYTE_BPE_SPECIALS = ("<s>", "</s>", "<pad>", "<mask>", "<unk>")
# BPE model options under which tokenizers' BPE behaves as ByteBPETokenizer's (its defaults)
_BPE_DEFAULTS = {"dropout": (None, 0, 0.0), "unk_token": (None,),
                 "continuing_subword_prefix": (None, ""), "end_of_word_suffix": (None, ""),
                 "byte_fallback": (False,), "ignore_merges": (False,)}


def _has_vocabulary_files(files):
    """Whether ``files`` hold a vocabulary of their own (then tokenizer.json is not read)."""
    return ("vocab.txt" in files or any(n in files for n in _SPM_NAMES)
            or ("vocab.json" in files and "merges.txt" in files))


def _json_object(spec, key, source, allow_none=True):
    """``spec[key]``, which must be a JSON object (or null / absent when ``allow_none``)."""
    value = spec.get(key)
    if value is None and allow_none:
        return None
    if not isinstance(value, dict):
        raise TokenizerError(f"{source}: {key} is not a JSON object ({value!r:.80})")
    return value


def _token_name(value):
    """A special token name from a tokenizer_config entry: a string or a serialized AddedToken."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _added_tokens(spec, source):
    """tokenizer.json's ``added_tokens``: a list of ``{"id", "content", ...}`` objects."""
    entries = spec.get("added_tokens") or []
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("content"), str)
            and isinstance(e.get("id"), int) for e in entries):
        raise TokenizerError(f"{source}: added_tokens is not a list of {{\"id\", \"content\"}} "
                             f"objects")
    return entries


def _check_added_tokens(entries, vocab, names, source, kind, *, may_lstrip=(),
                        may_normalize=True):
    """Every added token must be one of the special tokens that tiezoo's tokenizer recognises
    in text, at its id in the model's vocabulary, and be matched as that tokenizer matches it:
    Hugging Face splits every added token out of the text before the model sees it, so any
    other would be tokenized differently here."""
    for entry in entries:
        content, token_id = entry["content"], entry["id"]
        if vocab.get(content) != token_id:
            raise TokenizerError(f"{source}: added token {content!r} (id {token_id}) is not in "
                                 f"the model's vocabulary at that id; tiezoo's {kind} tokenizer "
                                 f"supports no added tokens beyond the vocabulary")
        if content not in names:
            raise TokenizerError(f"{source}: added token {content!r} is not one of the special "
                                 f"tokens tiezoo's {kind} tokenizer recognises in text "
                                 f"({', '.join(sorted(names))})")
        flags = [f for f in ("single_word", "rstrip", "lstrip", "normalized") if entry.get(f)]
        allowed = set()
        if content in may_lstrip:
            allowed.add("lstrip")
        if may_normalize:
            allowed.add("normalized")
        unsupported = [f for f in flags if f not in allowed]
        if unsupported:
            raise TokenizerError(f"{source}: added token {content!r} has "
                                 f"{', '.join(f'{f}=true' for f in unsupported)}, which tiezoo's "
                                 f"{kind} tokenizer does not support")


def _wordpiece_from_json(spec, model, source, config):
    """vocab.txt and tokenizer_config settings of a WordPiece tokenizer.json (BERT)."""
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise TokenizerError(f"{source}: model.vocab is missing or empty (a WordPiece model "
                             f"needs a {{token: id}} object)")
    tokens = [None] * len(vocab)
    for token, token_id in vocab.items():
        if (not isinstance(token_id, int) or isinstance(token_id, bool)
                or not 0 <= token_id < len(tokens) or tokens[token_id] is not None):
            raise TokenizerError(f"{source}: model.vocab ids are not 0..{len(tokens) - 1}, each "
                                 f"once (token {token!r} has id {token_id!r})")
        if "\n" in token or "\r" in token:
            raise TokenizerError(f"{source}: model.vocab token {token!r} holds a line break")
        tokens[token_id] = token
    prefix = model.get("continuing_subword_prefix", "##")
    if prefix != "##":
        raise TokenizerError(f"{source}: WordPiece continuing_subword_prefix {prefix!r} is not "
                             f"supported (tiezoo's WordPiece uses '##')")
    max_chars = model.get("max_input_chars_per_word", 100)
    unk = model.get("unk_token", "[UNK]")
    if not isinstance(max_chars, int) or not isinstance(unk, str):
        raise TokenizerError(f"{source}: model.max_input_chars_per_word must be an integer and "
                             f"model.unk_token a string")
    normalizer = _json_object(spec, "normalizer", source)
    if normalizer is None or normalizer.get("type") != "BertNormalizer":
        raise TokenizerError(f"{source}: a WordPiece tokenizer.json needs a BertNormalizer "
                             f"normalizer (found {normalizer and normalizer.get('type')!r})")
    if not normalizer.get("clean_text", True):
        raise TokenizerError(f"{source}: BertNormalizer with clean_text=false is not supported")
    pre_tokenizer = _json_object(spec, "pre_tokenizer", source)
    if pre_tokenizer is None or pre_tokenizer.get("type") != "BertPreTokenizer":
        found_type = pre_tokenizer and pre_tokenizer.get("type")
        raise TokenizerError(f"{source}: a WordPiece tokenizer.json needs the BertPreTokenizer "
                             f"pre-tokenizer (found {found_type!r})")
    found = {"do_lower_case": bool(normalizer.get("lowercase", True)),
             "strip_accents": normalizer.get("strip_accents"),
             "tokenize_chinese_chars": bool(normalizer.get("handle_chinese_chars", True)),
             "max_input_chars_per_word": max_chars, "unk_token": unk}
    # [CLS] and [SEP] are named by the post-processor, [PAD] by the padding settings; [MASK]
    # only by tokenizer_config.json (else the default)
    post = _json_object(spec, "post_processor", source) or {}
    if post.get("type") == "BertProcessing":
        for key in ("cls", "sep"):
            if isinstance(post.get(key), list) and post[key] and isinstance(post[key][0], str):
                found[f"{key}_token"] = post[key][0]
    elif post.get("type") == "TemplateProcessing" and isinstance(post.get("single"), list):
        special = [item["SpecialToken"].get("id") for item in post["single"]
                   if isinstance(item, dict) and isinstance(item.get("SpecialToken"), dict)]
        if len(special) >= 2 and all(isinstance(t, str) for t in special):
            found["cls_token"], found["sep_token"] = special[0], special[-1]
    padding = _json_object(spec, "padding", source) or {}
    if isinstance(padding.get("pad_token"), str):
        found["pad_token"] = padding["pad_token"]
    # tokenizer_config.json wins where both say something: Hugging Face's BertTokenizer
    # rebuilds the normalizer and the special tokens from it
    merged = {**found, **config}
    names = {_token_name(merged.get(f"{key}_token")) or default for key, default in
             (("unk", "[UNK]"), ("cls", "[CLS]"), ("sep", "[SEP]"), ("pad", "[PAD]"),
              ("mask", "[MASK]"))}
    # a normalized added token is matched in the normalized text: the same only when
    # the normalizer leaves it as it is, i.e. without lower-casing
    _check_added_tokens(_added_tokens(spec, source), vocab, names, source, "WordPiece",
                        may_normalize=not merged.get("do_lower_case", True))
    return {"vocab.txt": "".join(t + "\n" for t in tokens)}, merged


def _byte_bpe_from_json(spec, model, source, config):
    """vocab.json, merges.txt and tokenizer_config settings of a byte-level BPE
    tokenizer.json (RoBERTa, GPT-2 style)."""
    vocab = model.get("vocab")
    if (not isinstance(vocab, dict) or not vocab
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0
                       for i in vocab.values())):
        raise TokenizerError(f"{source}: model.vocab is missing, empty or not a {{token: id}} "
                             f"object of non-negative ids")
    # what kind of BPE it is first: the pre-tokenizer says it better than the options
    if _json_object(spec, "normalizer", source) is not None:
        raise TokenizerError(f"{source}: a byte-level BPE tokenizer.json with a normalizer is "
                             f"not supported (type {spec['normalizer'].get('type')!r})")
    pre_tokenizer = _json_object(spec, "pre_tokenizer", source)
    if pre_tokenizer is None or pre_tokenizer.get("type") != "ByteLevel" \
            or not pre_tokenizer.get("use_regex", True):
        raise TokenizerError(f"{source}: a BPE tokenizer.json is supported only with the "
                             f"ByteLevel pre-tokenizer (use_regex=true), as RoBERTa's; found "
                             f"{pre_tokenizer and pre_tokenizer.get('type')!r}")
    for option, accepted in _BPE_DEFAULTS.items():
        if option in model and model[option] not in accepted:
            raise TokenizerError(f"{source}: BPE option {option}={model[option]!r} is not "
                                 f"supported")
    merges = model.get("merges")
    if not isinstance(merges, list):
        raise TokenizerError(f"{source}: model.merges is not a list")
    merge_lines = []
    for k, merge in enumerate(merges):
        # "a b" strings (tokenizers before 0.20) or [a, b] pairs (later ones)
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(p, str) and p and not set(p) & set(" \n\r") for p in pair)):
            raise TokenizerError(f"{source}: model.merges[{k}] is not a pair of tokens without "
                                 f"spaces ({merge!r:.80})")
        merge_lines.append(f"{pair[0]} {pair[1]}\n")
    post = _json_object(spec, "post_processor", source) or {}
    if post.get("type") == "RobertaProcessing":
        named = [p[0] if isinstance(p, list) and p else p for p in (post.get("cls"),
                                                                     post.get("sep"))]
        if named != ["<s>", "</s>"]:
            raise TokenizerError(f"{source}: RobertaProcessing with cls/sep {named} is not "
                                 f"supported (tiezoo's byte-level BPE uses <s> and </s>)")
    entries = _added_tokens(spec, source)
    _check_added_tokens(entries, vocab, set(_BYTE_BPE_SPECIALS), source, "byte-level BPE",
                        may_lstrip=("<mask>",))
    # added_tokens_decoder is where a tokenizer_config.json keeps the tokens' flags (<mask>'s
    # lstrip, which transformers 5 writes only into tokenizer.json); the folder's own
    # tokenizer_config.json, when it has them, wins
    found = {"add_prefix_space": bool(pre_tokenizer.get("add_prefix_space", True)),
             "added_tokens_decoder": {str(e["id"]): e for e in entries}}
    files = {"vocab.json": json.dumps(vocab, ensure_ascii=False),
             "merges.txt": "#version: 0.2\n" + "".join(merge_lines)}
    return files, {**found, **config}


def _from_tokenizer_json(raw, source, config):
    """Translate a tokenizer.json into ``(files, config)``: the files of the equivalent
    Hugging Face layout (``vocab.txt``, or ``vocab.json`` + ``merges.txt``) and
    ``config`` completed with the settings tokenizer.json holds (lower-casing, special token
    names, ...). Anything the translation could not reproduce exactly is a TokenizerError."""
    try:
        spec = json.loads(_as_text(raw))
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{source}: not valid JSON ({e})") from None
    if not isinstance(spec, dict):
        raise TokenizerError(f"{source}: not a tokenizer.json (the top level is not a JSON "
                             f"object)")
    if "model" not in spec:
        if spec and all(isinstance(v, int) for v in spec.values()):
            raise TokenizerError(f"{source}: this is a vocab.json, not a tokenizer.json; pass "
                                 f"the folder holding vocab.json and merges.txt")
        raise TokenizerError(f"{source}: not a tokenizer.json (no \"model\" entry)")
    model = _json_object(spec, "model", source, allow_none=False)
    model_type = model.get("type")
    if model_type is None:       # older serializations leave the type out
        model_type = ("BPE" if "merges" in model else "WordPiece"
                      if "max_input_chars_per_word" in model
                      else "Unigram" if isinstance(model.get("vocab"), list) else None)
    if model_type == "WordPiece":
        return _wordpiece_from_json(spec, model, source, config)
    if model_type == "BPE":
        return _byte_bpe_from_json(spec, model, source, config)
    if model_type == "Unigram":
        raise TokenizerError(f"{source}: a Unigram tokenizer.json (ALBERT, XLNet, T5 style) is "
                             f"not read on its own: put the model's spiece.model next to it")
    raise TokenizerError(f"{source}: model type {model_type!r} is not supported (WordPiece and "
                         f"byte-level BPE are; Unigram with its spiece.model)")


def _from_files(files, source, *, model_type=None, **overrides):
    """Build a tokenizer from ``{file name: str | bytes}`` in the Hugging Face layout.

    A ``tokenizer.json`` is read only where no vocabulary file (vocab.txt, a SentencePiece
    model, vocab.json + merges.txt) is there: it is translated into those files.
    ``source`` names the folder (or, ending in ``.json``, the tokenizer.json itself).
    ``model_type``: the Hugging Face model type of the model these files belong to (from
    its config.json), which decides the tokenizer's style where tokenizer_config.json does
    not name its class."""
    config = {}
    if _CONFIG_NAME in files:
        try:
            config = json.loads(_as_text(files[_CONFIG_NAME]))
        except (ValueError, UnicodeDecodeError) as e:
            raise TokenizerError(f"{source}: {_CONFIG_NAME} is not valid JSON ({e})") from None
        if not isinstance(config, dict):
            raise TokenizerError(f"{source}: {_CONFIG_NAME} is not a JSON object")
    if _TOKENIZER_JSON in files and not _has_vocabulary_files(files):
        json_source = source if source.lower().endswith(".json") \
            else f"{source}/{_TOKENIZER_JSON}"
        translated, config = _from_tokenizer_json(files[_TOKENIZER_JSON], json_source, config)
        files = {**files, **translated}
    extra = config.get("tiezoo") or {}
    kind = extra.get("kind")
    spm_name = next((n for n in _SPM_NAMES if n in files), None)
    if kind == "wordpiece" or (kind is None and "vocab.txt" in files):
        if "vocab.txt" not in files:
            raise TokenizerError(f"{source}: a WordPiece tokenizer needs vocab.txt")
        kw = {"lower": config.get("do_lower_case", True if kind is None else None),
              "strip_accents": config.get("strip_accents"),
              "tokenize_chinese_chars": config.get("tokenize_chinese_chars", True),
              # tiezoo's own config keeps it under "tiezoo"; a tokenizer.json gives it at the
              # top level of the config _from_tokenizer_json completes
              "max_input_chars_per_word": extra.get("max_input_chars_per_word",
                                                    config.get("max_input_chars_per_word", 100))}
        for key in ("unk", "cls", "sep", "pad", "mask"):
            value = _token_name(config.get(f"{key}_token"))
            if value is not None:
                kw[f"{key}_token"] = value
        kw.update(overrides)
        return WordPieceTokenizer(_parse_vocab_txt(files["vocab.txt"], f"{source}/vocab.txt"),
                                  source=source, **kw)
    if kind == "sentencepiece" or (kind is None and spm_name):
        if spm_name is None:
            raise TokenizerError(f"{source}: a SentencePiece tokenizer needs spiece.model")
        cls = str(config.get("tokenizer_class") or _MODEL_TYPE_TOKENIZERS.get(model_type) or "")
        if cls.endswith("Fast"):
            cls = cls[:-len("Fast")]
        if "preprocess" in extra:
            preprocess = extra["preprocess"]             # tiezoo's own, either style
        elif extra.get("kind") == "sentencepiece":
            preprocess = None                            # tiezoo's own, written before styles
        else:
            preprocess = "albert" if cls == "AlbertTokenizer" else None
        if preprocess == "albert":
            kw = {"preprocess": "albert", "lower": config.get("do_lower_case", True),
                  "remove_space": config.get("remove_space", True),
                  "keep_accents": config.get("keep_accents", False)}
        else:
            kw = {"lower": config.get("do_lower_case", False)}
        kw.update(overrides)
        data = files[spm_name]
        return SentencePieceTokenizer(data.encode("latin-1") if isinstance(data, str) else data,
                                      source=f"{source}/{spm_name}", **kw)
    if kind == "bytebpe" or (kind is None and "vocab.json" in files and "merges.txt" in files):
        kw = {"add_prefix_space": config.get("add_prefix_space", False),
              "lower": config.get("do_lower_case", False),
              "mask_lstrip": bool(_added_token(config, "mask_token", "<mask>").get("lstrip"))}
        kw.update(overrides)
        return ByteBPETokenizer(_as_text(files["vocab.json"]), _as_text(files["merges.txt"]),
                                source=source, **kw)
    raise TokenizerError(f"{source}: no tokenizer found (looked for vocab.txt, spiece.model, "
                         f"vocab.json + merges.txt, tokenizer.json; found "
                         f"{sorted(files) or 'nothing'})")


def get_tokenizer(path, **overrides):
    """The tokenizer stored at ``path``.

    ``path`` is a tiezoo checkpoint (``.params`` / ``.safetensors``, its tokenizer assets), a
    folder in the Hugging Face layout (``vocab.txt`` / ``spiece.model`` / ``vocab.json`` +
    ``merges.txt``, or else a ``tokenizer.json``; honouring ``tokenizer_config.json``:
    ``do_lower_case``, ``strip_accents``, special token names), a ``vocab.txt`` (WordPiece;
    cased or uncased guessed from the vocabulary unless ``lower=`` is given), a SentencePiece
    ``.model`` or a ``tokenizer.json`` on its own. ``overrides`` go to the tokenizer's
    constructor (e.g. ``lower=True``, ``backend="python"``).

    A ``tokenizer.json`` (the ``tokenizers`` library's file, all that transformers 5's
    ``save_pretrained`` writes) is read where the folder has no vocabulary file of its own:
    a WordPiece model (BERT: BertNormalizer + BertPreTokenizer) or a byte-level BPE (RoBERTa:
    ByteLevel pre-tokenizer) becomes the same tokenizer as its ``vocab.txt`` or ``vocab.json``
    + ``merges.txt`` would; a Unigram model (ALBERT) needs its ``spiece.model`` beside it.
    Anything else in it that tiezoo's tokenizers cannot reproduce exactly (another model
    type, normalizer or pre-tokenizer, added tokens beyond the special tokens) is a
    :class:`TokenizerError` naming the file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        files = {}
        for name in ("vocab.txt", *_SPM_NAMES, "vocab.json", "merges.txt", _TOKENIZER_JSON,
                     _CONFIG_NAME):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                with open(full, "rb") as f:
                    files[name] = f.read()
        model_type = _model_type(os.path.join(path, "config.json"))
        return _from_files(files, path, model_type=model_type, **overrides)
    if not os.path.exists(path):
        raise TokenizerError(f"{path}: no such file or directory")
    lower = path.lower()
    if lower.endswith((".params", ".safetensors")):
        from checkpoints import read_assets
        assets = read_assets(path)
        files = {k[len(ASSET_PREFIX):]: v for k, v in assets.items() if k.startswith(ASSET_PREFIX)}
        if not files:
            raise TokenizerError(f"{path}: the checkpoint stores no tokenizer (no "
                                 f"'{ASSET_PREFIX}*' assets); pass the vocabulary file instead")
        return _from_files(files, path, model_type=_checkpoint_model_type(path, assets),
                           **overrides)
    if lower.endswith(".model"):
        return SentencePieceTokenizer(path, **overrides)
    if lower.endswith(".json"):
        # a tokenizer.json describes the whole tokenizer; the folder's other files are not read
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise TokenizerError(f"{path}: cannot read: {e.strerror or e}") from None
        return _from_files({_TOKENIZER_JSON: data}, path, **overrides)
    return WordPieceTokenizer(path, **overrides)


def _model_type(config_path):
    """``model_type`` of a Hugging Face config.json, or None."""
    try:
        with open(config_path, "rb") as f:
            value = json.loads(f.read().decode("utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


def _checkpoint_model_type(path, assets):
    """The Hugging Face model type of a tiezoo checkpoint: its converted source's
    config.json (asset ``hf/config.json``), else its family."""
    data = assets.get("hf/config.json")
    if data is not None:
        try:
            value = json.loads(_as_text(data)).get("model_type")
            if isinstance(value, str):
                return value
        except (ValueError, AttributeError, UnicodeDecodeError):
            pass
    try:
        from checkpoints import inspect
        family = (inspect(path).config or {}).get("family")
    except Exception:      # the tokenizer does not need the config; any trouble: no hint
        return None
    return family if isinstance(family, str) else None


# --------------------------------------------------------------------------------------
# Training vocabularies
# --------------------------------------------------------------------------------------

WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def build_vocab(kind, size, files, out_dir, *, lower=True, min_frequency=2,
                limit_alphabet=1000, character_coverage=0.9995, model_type="unigram",
                max_sentences=2_000_000, errors="strict", trainer="python"):
    """Train a vocabulary of ``size`` tokens on text ``files`` (paths or globs, plain or .gz,
    one sentence per line) and save a tokenizer folder at ``out_dir``; returns the tokenizer.

    ``kind="wordpiece"``: WordPiece vocabulary learnt the way Hugging Face's WordPiece trainer
    does it (BPE merges over BERT-basic-tokenized words, ``##`` marking continuations; pairs
    seen fewer than ``min_frequency`` times are not merged; at most ``limit_alphabet``
    characters), special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` at ids 0..4; writes
    ``vocab.txt``. ``trainer="python"`` (default) is deterministic: the same files give the
    same vocabulary, byte for byte; ``trainer="tokenizers"`` uses the Rust trainer (faster on
    very large corpora, but its tie-breaking varies from run to run).
    ``kind="sentencepiece"``: the sentencepiece trainer (``model_type`` unigram or bpe), with
    ``<pad>``=0, ``<unk>``=1, ``[CLS]``=2, ``[SEP]``=3, ``[MASK]``=4 (the ALBERT layout);
    writes ``spiece.model``. Both write ``tokenizer_config.json``.
    """
    from . import data as _data
    paths = _data.expand_files(files)
    size = int(size)
    if size < 10:
        raise ValueError(f"vocabulary size {size} is too small")

    def lines():
        for path in paths:
            for _lineno, text in _data.iter_lines(path, errors=errors):
                text = text.strip()
                if text:
                    yield text

    os.makedirs(out_dir, exist_ok=True)
    if kind == "wordpiece":
        if trainer == "tokenizers":
            tokens = _train_wordpiece_rust(lines(), size, lower, min_frequency, limit_alphabet)
        elif trainer == "python":
            basic = WordPieceTokenizer(["[UNK]"], lower=lower)
            counts = {}
            for text in lines():
                for w in basic.basic_tokenize(text):
                    counts[w] = counts.get(w, 0) + 1
            tokens = _train_wordpiece(counts, size, min_frequency=min_frequency,
                                      limit_alphabet=limit_alphabet)
        else:
            raise ValueError(f"trainer must be 'python' or 'tokenizers', not {trainer!r}")
        result = WordPieceTokenizer(tokens, lower=lower, source=os.path.join(out_dir, "vocab.txt"))
    elif kind == "sentencepiece":
        import sentencepiece as spm
        import io
        model = io.BytesIO()
        it = (t.lower() if lower else t for t in lines())
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=it, model_writer=model, vocab_size=size,
                model_type=model_type, character_coverage=character_coverage,
                pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                control_symbols=["[CLS]", "[SEP]", "[MASK]"],
                input_sentence_size=max_sentences, shuffle_input_sentence=True,
                max_sentence_length=1 << 16, minloglevel=2,
                num_threads=os.cpu_count() or 1)
        except RuntimeError as e:
            raise TokenizerError(f"sentencepiece training on {len(paths)} file(s) failed: {e}") from None
        result = SentencePieceTokenizer(model.getvalue(), lower=lower,
                                        source=os.path.join(out_dir, "spiece.model"))
    else:
        raise ValueError(f"kind must be 'wordpiece' or 'sentencepiece', not {kind!r}")
    result.save(out_dir)
    return result


def _train_wordpiece(word_counts, size, *, min_frequency=2, limit_alphabet=1000,
                     max_word_chars=100, specials=WORDPIECE_SPECIALS):
    """A WordPiece vocabulary (token list) from ``{word: count}``: BPE merges with ``##``
    continuation pieces, most frequent pair first, ties broken by the pair's text, so the
    result is deterministic."""
    import heapq
    char_freq = {}
    for w, c in word_counts.items():
        for ch in w:
            char_freq[ch] = char_freq.get(ch, 0) + c
    alphabet = sorted(char_freq, key=lambda ch: (-char_freq[ch], ch))[:limit_alphabet]
    keep = set(alphabet)
    words, counts = [], []
    for w in sorted(word_counts):
        if len(w) > max_word_chars or not set(w) <= keep:
            continue   # such a word becomes [UNK] at tokenization time anyway
        words.append([w[0]] + ["##" + ch for ch in w[1:]])
        counts.append(word_counts[w])
    vocab = list(dict.fromkeys(specials))
    seen = set(vocab)
    cont_freq = {}
    for syms, c in zip(words, counts):
        for s in syms[1:]:
            cont_freq[s] = cont_freq.get(s, 0) + c
    for tok in alphabet + sorted(cont_freq, key=lambda s: (-cont_freq[s], s)):
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)
    pair_counts, where = {}, {}
    for i, (syms, c) in enumerate(zip(words, counts)):
        for pair in zip(syms, syms[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + c
            where.setdefault(pair, set()).add(i)
    heap = [(-c, a, b) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)
    while len(vocab) < size and heap:
        negc, a, b = heapq.heappop(heap)
        pair = (a, b)
        if pair_counts.get(pair, 0) != -negc:
            continue                       # stale heap entry
        if -negc < min_frequency:
            break
        merged = a + (b[2:] if b.startswith("##") else b)
        if merged not in seen:
            seen.add(merged)
            vocab.append(merged)
        changed = set()
        for i in where.pop(pair, ()):
            syms, c = words[i], counts[i]
            out, j, n = [], 0, len(syms)
            while j < n:
                if j + 1 < n and syms[j] == a and syms[j + 1] == b:
                    out.append(merged)
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            for p in zip(syms, syms[1:]):
                pair_counts[p] -= c
                changed.add(p)
            for p in zip(out, out[1:]):
                pair_counts[p] = pair_counts.get(p, 0) + c
                where.setdefault(p, set()).add(i)
                changed.add(p)
            words[i] = out
        pair_counts.pop(pair, None)
        for p in changed:
            c = pair_counts.get(p, 0)
            if c > 0 and p != pair:
                heapq.heappush(heap, (-c, p[0], p[1]))
            elif c <= 0:
                pair_counts.pop(p, None)
    return vocab


def _train_wordpiece_rust(lines, size, lower, min_frequency, limit_alphabet):
    mod = _hf_tokenizers()
    if mod is None:
        raise TokenizerError("trainer='tokenizers' needs the 'tokenizers' package "
                             "(pip install tokenizers)")
    from tokenizers import models, normalizers, pre_tokenizers, trainers
    tok = mod.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=lower, lowercase=lower)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=size, min_frequency=min_frequency,
                                        special_tokens=list(WORDPIECE_SPECIALS),
                                        limit_alphabet=limit_alphabet,
                                        continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    return [t for t, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]
