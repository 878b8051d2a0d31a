"""Training vocabularies: :func:`build_vocab` for WordPiece, SentencePiece and byte-level BPE.

Nothing here needs the ``tokenizers`` package: WordPiece and byte-level BPE are learnt by a
deterministic pure-Python BPE (the same files give the same vocabulary, byte for byte),
SentencePiece by the ``sentencepiece`` library. ``trainer="tokenizers"`` (WordPiece only) uses
the Rust trainer where it is installed.
"""
import heapq
import io
import itertools
import json
import os
import re
import warnings

from ..data.text import DataError, expand_files, iter_lines
from .base import TokenizerError
from .byte_bpe import BYTE_TO_CHAR, STYLES, ByteBPETokenizer, byte_chars, pre_tokenize
from .sentencepiece import SentencePieceTokenizer
from .wordpiece import WordPieceTokenizer

__all__ = ["build_vocab", "LAYOUTS", "WORDPIECE_SPECIALS"]

WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# kind -> the special-token layouts it can be trained with, the default first
LAYOUTS = {"wordpiece": ("bert",), "sentencepiece": ("bert", "t5"),
           "byte_bpe": ("roberta", "gpt2")}
# lower-casing by default: BERT-style vocabularies are uncased, T5/RoBERTa/GPT-2 ones cased
_LOWER_BY_DEFAULT = {"bert": True, "t5": False, "roberta": False, "gpt2": False}
_T5_EXTRA_IDS = 100


def _corpus_lines(paths, errors):
    """The non-blank lines of ``paths``, stripped. A corpus without text raises DataError
    naming the files; a file without text among others is skipped with a warning naming it."""
    empty = []
    for path in paths:
        file_has_text = False
        for _lineno, text in iter_lines(path, errors=errors):
            text = text.strip()
            if text:
                file_has_text = True
                yield text
        if not file_has_text:
            empty.append(path)
    if len(empty) == len(paths):
        names = ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")
        raise DataError(f"{names}: no text to train a vocabulary on (the corpus is empty or "
                        f"holds only blank lines); give files with one sentence per line")
    for path in empty:
        warnings.warn(f"{path}: empty file (no text); skipped", UserWarning, stacklevel=2)


def _non_empty(lines):
    """``lines`` with its first item already read, so that an empty corpus raises here,
    before a trainer starts on it."""
    first = next(lines)          # raises DataError (from _corpus_lines) when there is nothing
    return itertools.chain([first], lines)


def build_vocab(kind, size, files, out_dir, *, lower=None, layout=None, extra_ids=None,
                min_frequency=2, limit_alphabet=1000, character_coverage=0.9995,
                model_type="unigram", max_sentences=2_000_000, errors="strict",
                trainer="python", add_prefix_space=False):
    """Train a vocabulary of ``size`` tokens (special tokens and sentinels included) on text
    ``files`` (paths or globs, plain or .gz, one sentence per line) and save a tokenizer folder
    at ``out_dir`` that :func:`get_tokenizer` and Hugging Face read; returns the tokenizer.

    ``kind="wordpiece"``: WordPiece vocabulary learnt the way Hugging Face's WordPiece trainer
    does it (BPE merges over BERT-basic-tokenized words, ``##`` marking continuations; pairs
    seen fewer than ``min_frequency`` times are not merged; at most ``limit_alphabet``
    characters), special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` at ids 0..4; writes
    ``vocab.txt``. ``trainer="python"`` (default) is deterministic; ``trainer="tokenizers"``
    uses the Rust trainer (faster on very large corpora, but its tie-breaking varies).

    ``kind="sentencepiece"``: the sentencepiece trainer (``model_type`` ``"unigram"`` or
    ``"bpe"``); writes ``spiece.model``. ``layout="bert"`` (default): ``<pad>``=0,
    ``<unk>``=1, ``[CLS]``=2, ``[SEP]``=3, ``[MASK]``=4 (ALBERT's layout), pairs
    ``[CLS] a [SEP] b [SEP]``. ``layout="t5"``: ``<pad>``=0, ``</s>``=1, ``<unk>``=2, then the
    pieces, then ``extra_ids`` (default 100) sentinels ``<extra_id_N>`` numbered from the end
    of the vocabulary as T5 numbers them (``<extra_id_0>`` is the last id); pairs
    ``a </s> b </s>``.

    ``kind="byte_bpe"``: byte-level BPE over GPT-2's pre-tokens (all 256 bytes in the
    vocabulary, so no text is ever unknown); writes ``vocab.json`` + ``merges.txt``.
    ``layout="roberta"`` (default): ``<s> <pad> </s> <unk>`` at ids 0..3 and ``<mask>`` last,
    as RoBERTa; ``layout="gpt2"``: ``<|endoftext|>`` last (bos, eos and unk), as GPT-2.

    ``lower``: lower-case the text (default: True for the ``"bert"`` layout, False for the
    others). A corpus without text raises :class:`zoo.data.DataError` naming the files.
    """
    size = int(size)
    if kind not in LAYOUTS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, LAYOUTS))}, not {kind!r}")
    layout = LAYOUTS[kind][0] if layout is None else layout
    if layout not in LAYOUTS[kind]:
        raise ValueError(f"layout {layout!r} is not one of a {kind} vocabulary (those are: "
                         f"{', '.join(LAYOUTS[kind])})")
    if extra_ids is not None and layout != "t5":
        raise ValueError(f"extra_ids (sentinel tokens) belong to the t5 layout, not {layout!r}")
    if trainer not in ("python", "tokenizers") or (trainer != "python" and kind != "wordpiece"):
        raise ValueError(f"trainer must be 'python' (or 'tokenizers' for wordpiece), "
                         f"not {trainer!r}")
    lower = _LOWER_BY_DEFAULT[layout] if lower is None else bool(lower)
    paths = expand_files(files)
    if size < 10:
        raise ValueError(f"vocabulary size {size} is too small")
    lines = _corpus_lines(paths, errors)       # nothing is written until training succeeds
    if kind == "wordpiece":
        result = _wordpiece(lines, size, lower, min_frequency, limit_alphabet, trainer,
                            os.path.join(out_dir, "vocab.txt"))
    elif kind == "sentencepiece":
        result = _sentencepiece(lines, size, paths, lower, layout,
                                _T5_EXTRA_IDS if extra_ids is None else int(extra_ids),
                                model_type, character_coverage, max_sentences,
                                os.path.join(out_dir, "spiece.model"))
    else:
        result = _byte_bpe(lines, size, lower, layout, min_frequency, add_prefix_space,
                           out_dir)
    result.save(out_dir)
    return result


# --------------------------------------------------------------------------------------
# BPE merges, shared by WordPiece and byte-level BPE
# --------------------------------------------------------------------------------------

def _bpe_merges(words, counts, min_frequency, join):
    """Learn BPE merges over ``words`` (lists of symbols, changed in place) seen ``counts``
    times: yield ``(a, b, merged)`` for the most frequent adjacent pair, ties broken by the
    pair's text (so the result is deterministic), until no pair is seen ``min_frequency``
    times; ``merged = join(a, b)``. The caller stops when it has enough."""
    pair_counts, where = {}, {}
    for i, (syms, c) in enumerate(zip(words, counts)):
        for pair in zip(syms, syms[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + c
            where.setdefault(pair, set()).add(i)
    heap = [(-c, a, b) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)
    while heap:
        negc, a, b = heapq.heappop(heap)
        pair = (a, b)
        if pair_counts.get(pair, 0) != -negc:
            continue                       # stale heap entry
        if -negc < min_frequency:
            return
        merged = join(a, b)
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
        yield a, b, merged


# --------------------------------------------------------------------------------------
# WordPiece
# --------------------------------------------------------------------------------------

def _wordpiece(lines, size, lower, min_frequency, limit_alphabet, trainer, source):
    if trainer == "tokenizers":
        tokens = _train_wordpiece_rust(_non_empty(lines), size, lower, min_frequency,
                                       limit_alphabet)
    else:
        basic = WordPieceTokenizer(["[UNK]"], lower=lower)
        counts = {}
        for text in lines:
            for w in basic.basic_tokenize(text):
                counts[w] = counts.get(w, 0) + 1
        tokens = _train_wordpiece(counts, size, min_frequency=min_frequency,
                                  limit_alphabet=limit_alphabet)
    return WordPieceTokenizer(tokens, lower=lower, source=source)


def _train_wordpiece(word_counts, size, *, min_frequency=2, limit_alphabet=1000,
                     max_word_chars=100, specials=WORDPIECE_SPECIALS):
    """A WordPiece vocabulary (token list) from ``{word: count}``: BPE merges with ``##``
    continuation pieces, most frequent pair first, ties broken by the pair's text."""
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
    if len(vocab) >= size:
        return vocab

    def join(a, b):
        return a + (b[2:] if b.startswith("##") else b)

    for _a, _b, merged in _bpe_merges(words, counts, min_frequency, join):
        if merged not in seen:
            seen.add(merged)
            vocab.append(merged)
        if len(vocab) >= size:
            break
    return vocab


def _train_wordpiece_rust(lines, size, lower, min_frequency, limit_alphabet):
    from .base import hf_tokenizers
    mod = hf_tokenizers()
    if mod is None:
        raise TokenizerError("trainer='tokenizers' needs the 'tokenizers' package "
                             "(pip install tokenizers)")
    from tokenizers import models, normalizers, pre_tokenizers, trainers
    tok = mod.Tokenizer(models.WordPiece(unk_token="[UNK]"))
    # the normaliser lower-cases and strips accents as the WordPiece tokenizer will
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=lower, lowercase=lower)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=size, min_frequency=min_frequency,
                                        special_tokens=list(WORDPIECE_SPECIALS),
                                        limit_alphabet=limit_alphabet,
                                        continuing_subword_prefix="##", show_progress=False)
    tok.train_from_iterator(lines, trainer=trainer)
    return [t for t, _ in sorted(tok.get_vocab().items(), key=lambda kv: kv[1])]


# --------------------------------------------------------------------------------------
# SentencePiece
# --------------------------------------------------------------------------------------

_SPM_TOO_HIGH = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value "
                           r"<= (\d+)")


def _sentencepiece(lines, size, paths, lower, layout, extra_ids, model_type,
                   character_coverage, max_sentences, source):
    import sentencepiece as spm
    names = ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")
    if model_type not in ("unigram", "bpe"):
        raise ValueError(f"model_type must be 'unigram' or 'bpe', not {model_type!r}")
    if layout == "t5":
        if extra_ids < 0:
            raise ValueError(f"extra_ids must be >= 0, not {extra_ids}")
        specials = {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1}
    else:
        extra_ids = 0
        specials = {"pad_id": 0, "unk_id": 1, "bos_id": -1, "eos_id": -1,
                    "control_symbols": ["[CLS]", "[SEP]", "[MASK]"]}
    pieces = size - extra_ids
    if pieces < 10:
        raise ValueError(f"vocabulary size {size} leaves {pieces} pieces beside the "
                         f"{extra_ids} extra ids; give a larger size")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_non_empty(t.lower() if lower else t for t in lines),
            model_writer=model, vocab_size=pieces,
            model_type=model_type, character_coverage=character_coverage,
            input_sentence_size=max_sentences, shuffle_input_sentence=True,
            max_sentence_length=1 << 16, minloglevel=2,
            num_threads=os.cpu_count() or 1, **specials)
    except RuntimeError as e:
        too_high = _SPM_TOO_HIGH.search(str(e))
        if too_high:
            most = int(too_high.group(2)) + extra_ids
            raise TokenizerError(f"{names}: too little text for a SentencePiece vocabulary of "
                                 f"{size} tokens: this corpus gives at most {most}; ask for "
                                 f"that many or fewer, or add text") from None
        detail = str(e).split("] ", 1)[-1].strip() or "no usable sentence"
        raise TokenizerError(f"{names}: SentencePiece training failed ({detail}); check that "
                             f"the corpus is plain text, one sentence per line") from None
    return SentencePieceTokenizer(model.getvalue(), lower=lower, source=source,
                                  preprocess="t5" if layout == "t5" else None,
                                  extra_ids=extra_ids)


# --------------------------------------------------------------------------------------
# Byte-level BPE
# --------------------------------------------------------------------------------------

def _byte_bpe(lines, size, lower, layout, min_frequency, add_prefix_space, out_dir):
    """vocab.json + merges.txt: specials, the 256 byte characters, then merges of the most
    frequent pairs within pre-tokens (learnt as in :func:`_bpe_merges`)."""
    specials = list(dict.fromkeys(STYLES[layout].values()))
    # RoBERTa keeps <mask> last and the others first; GPT-2 its one special token last
    head = [t for t in ("<s>", "<pad>", "</s>", "<unk>") if t in specials] \
        if layout == "roberta" else []
    tail = [t for t in specials if t not in head]
    alphabet = [BYTE_TO_CHAR[b] for b in range(256)]
    room = size - len(head) - len(alphabet) - len(tail)
    if room < 0:
        raise ValueError(f"vocabulary size {size} is too small for a byte-level BPE: it needs "
                         f"{size - room} for the 256 bytes and {len(specials)} special tokens")
    counts = {}
    for text in lines:
        text = text.lower() if lower else text         # as ByteBPETokenizer does
        if add_prefix_space and not text.startswith(" "):
            text = " " + text
        for word in pre_tokenize(text):
            counts[word] = counts.get(word, 0) + 1
    words, word_counts = [], []
    for word in sorted(counts):
        words.append(list(byte_chars(word)))
        word_counts.append(counts[word])
    vocab = head + alphabet
    seen, merges = set(vocab), []
    if room:
        for a, b, merged in _bpe_merges(words, word_counts, min_frequency, str.__add__):
            merges.append(f"{a} {b}\n")
            if merged not in seen:
                seen.add(merged)
                vocab.append(merged)
                if len(vocab) - len(head) - len(alphabet) >= room:
                    break
    vocab += tail
    vocab_json = json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False)
    return ByteBPETokenizer(vocab_json, "#version: 0.2\n" + "".join(merges), style=layout,
                            lower=lower, add_prefix_space=add_prefix_space,
                            source=out_dir)
