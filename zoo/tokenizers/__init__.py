"""Tokenizers behind one interface, one module per idea:

* :mod:`~zoo.tokenizers.base`: the interface (:class:`Tokenizer`), :class:`Encoding`,
  :class:`TokenizerError`, pair layouts and truncation;
* :mod:`~zoo.tokenizers.wordpiece`: BERT's WordPiece (:class:`WordPieceTokenizer`) with the
  Unicode tables it needs;
* :mod:`~zoo.tokenizers.sentencepiece`: SentencePiece models (:class:`SentencePieceTokenizer`:
  the library's output, ALBERT's or T5's style, T5's sentinel tokens);
* :mod:`~zoo.tokenizers.byte_bpe`: byte-level BPE (:class:`ByteBPETokenizer`, RoBERTa or
  GPT-2 style);
* :mod:`~zoo.tokenizers.hf_json`: reading a Hugging Face ``tokenizer.json``;
* :mod:`~zoo.tokenizers.loading`: :func:`get_tokenizer` (checkpoints, folders, files);
* :mod:`~zoo.tokenizers.training`: :func:`build_vocab` (WordPiece, SentencePiece,
  byte-level BPE).

Every tokenizer has ``tokenize(text)`` (pieces, no special tokens), ``encode(text)`` (ids, no
special tokens), ``encode_pair(a, b=None, *, max_length=None, truncation="longest_first")``
(an :class:`Encoding` ``(ids, token_types)`` with the special tokens of its pair layout),
``decode(ids, skip_special_tokens=True)``, ``vocab_size``, the special ids ``cls_id sep_id
pad_id mask_id unk_id bos_id eos_id`` (None when absent) and ``special_ids``,
``save(dir)`` / ``Tokenizer.load(dir)`` (a Hugging Face style folder that transformers reads
too) and ``to_assets()`` / ``Tokenizer.from_assets(assets)`` (the same files under
``tokenizer/<name>``, the form in which they travel inside a tiezoo checkpoint). Also:
``encode_batch``, ``id_to_token`` / ``token_to_id``, ``require_special_tokens()``,
``word_start_mask()`` (whole-word masking).

Dependencies: the standard library and ``sentencepiece``. The ``tokenizers`` package is an
optional backend (``backend="tokenizers"`` for WordPiece and byte-level BPE,
``build_vocab(..., trainer="tokenizers")`` for WordPiece); the default pure-Python paths give
the same ids.
"""
from .base import ASSET_PREFIX, Encoding, Tokenizer, TokenizerError
from .byte_bpe import ByteBPETokenizer
from .loading import get_tokenizer
from .sentencepiece import SentencePieceTokenizer
from .training import WORDPIECE_SPECIALS, build_vocab
from .wordpiece import WordPieceTokenizer

__all__ = ["Encoding", "Tokenizer", "WordPieceTokenizer", "SentencePieceTokenizer",
           "ByteBPETokenizer", "TokenizerError", "get_tokenizer", "build_vocab",
           "ASSET_PREFIX", "WORDPIECE_SPECIALS"]
