"""BERT's WordPiece tokenizer over a ``vocab.txt``, with the Unicode tables it needs.

WordPiece runs on one of two backends that give identical output (the tests check both against
``transformers``' ``BertTokenizerFast``, and the pure-Python character tables against the Rust
ones on every Unicode code point): a pure-Python implementation (``backend="python"``, the
default) and the Rust ``tokenizers`` package (``backend="tokenizers"``, optional). The Python
one is the default because it measured faster here (benchmarks/data_pipeline.py, one core:
~2.9 M tokens/s against ~0.55 M for ``tokenizers`` and ~0.5 M for GluonNLP 0.10's
BERTTokenizer), thanks to a word -> ids cache; ``tokenizers`` only pays off with many threads.
Both implement BERT's basic tokenization as ``tokenizers``' ``BertNormalizer`` +
``BertPreTokenizer`` define it: control characters, U+0000 and U+FFFD removed, whitespace
normalised, CJK ideographs split into single characters, accents stripped (NFD, drop Mn) when
lower-casing (or when ``strip_accents=True``), split on whitespace and punctuation, and a word
longer than ``max_input_chars_per_word`` characters becomes ``[UNK]``. Special tokens written
literally in the text (``"[MASK]"``) are recognised as the special token, as Hugging Face does.
"""
import os
import re
import unicodedata
from itertools import chain

from ._unicode import WHITESPACE, char_class, parse_ranges
from .base import Tokenizer, TokenizerError, hf_tokenizers

__all__ = ["WordPieceTokenizer", "read_vocab_txt", "parse_vocab_txt", "unicode_tables",
           "ASCII_WORD_RE"]

_chain = chain.from_iterable

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_ASCII_CLEAN = {c: None for c in range(32) if chr(c) not in "\t\n\r"}
_ASCII_CLEAN.update({ord("\t"): " ", ord("\n"): " ", ord("\r"): " ", 0x7F: None})
ASCII_WORD_RE = re.compile(r"[0-9A-Za-z]+|[!-/:-@\[-`{-~]")
_ASCII_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Character classes exactly as the Rust ``tokenizers`` BertNormalizer / BertPreTokenizer use
# them (their Unicode tables are older than Python's, so ``unicodedata`` alone differs on a few
# hundred code points). Derived by probing every code point through ``tokenizers`` 0.23;
# tests/test_tokenizers.py compares them with the Rust ones on planes 0-3 and more.
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


def unicode_tables():
    """Compiled regexes for the non-ASCII path, built once on first use."""
    global _tables
    if _tables is None:
        ctrl = parse_ranges(_CTRL_RANGES)
        ws = [(c, c) for a, b in WHITESPACE for c in range(a, b + 1)
              if not any(lo <= c <= hi for lo, hi in ctrl)]
        punct_cls = char_class(parse_ranges(_PUNCT_RANGES))
        _tables = {
            "ctrl": re.compile(f"[{char_class(ctrl)}]+"),
            "ws": re.compile(f"[{char_class(ws)}]"),
            "cjk": re.compile(f"[{char_class(_CJK_RANGES)}]"),
            "mn": re.compile(f"[{char_class(parse_ranges(_MN_RANGES))}]+"),
            "word": re.compile(f"[^ {punct_cls}]+|[{punct_cls}]"),
        }
    return _tables


def read_vocab_txt(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read vocabulary: {e.strerror or e}") from None
    return parse_vocab_txt(raw, path)


def parse_vocab_txt(raw, source):
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
            vocab = read_vocab_txt(vocab)
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
            mod = hf_tokenizers()
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
        t = unicode_tables()
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
        return (ASCII_WORD_RE if ascii_ else unicode_tables()["word"]).findall(text)

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
            words = ASCII_WORD_RE.findall(text.lower() if self.lower else text)
        else:
            text, ascii_ = self._normalize(text)
            words = (ASCII_WORD_RE if ascii_ else unicode_tables()["word"]).findall(text)
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

