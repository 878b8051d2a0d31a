"""SentencePiece ``.model`` tokenizers: the library's own output, ALBERT's and T5's styles."""
import os
import re
import unicodedata

from .base import Tokenizer, TokenizerError

__all__ = ["SentencePieceTokenizer", "sentinel_token"]


def sentinel_token(i):
    """The text of T5's ``i``-th sentinel token, ``<extra_id_i>``."""
    return f"<extra_id_{i}>"


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece ``.model``, in one of three styles (``preprocess``):

    * ``None`` (the default, and what :func:`build_vocab` trains for BERT-style pairs): ids
      and pieces exactly as the sentencepiece library gives them, after lower-casing when
      ``lower=True``; pairs ``[CLS] a [SEP] b [SEP]``.
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
    * ``"t5"``: as Hugging Face's ``T5Tokenizer``: the special tokens (``<pad> </s> <unk>``
      and the sentinels) written in the text are recognised, each stretch between them is
      encoded by the library; pairs ``a </s> b </s>``; ``decode`` joins the pieces as
      T5's tokenizer does. ``extra_ids`` sentinel tokens ``<extra_id_0>`` ...
      ``<extra_id_{n-1}>`` follow the model's pieces, numbered from the END of the
      vocabulary (``<extra_id_0>`` is the last id), as T5 numbers them; ``sentinel_ids[i]``
      is the id of ``<extra_id_i>``. Picked by :func:`get_tokenizer` for a folder whose
      tokenizer_config names ``T5Tokenizer`` or whose config.json says ``model_type: t5``.

    Special tokens are looked up among the pieces: ``[CLS]``/``<cls>``, ``[SEP]``/``<sep>``,
    ``[MASK]``/``<mask>``, the model's pad, unk, bos and eos ids (or ``<pad>``/``[PAD]``,
    ``<unk>``/``[UNK]``, ``<s>``, ``</s>``)."""

    kind = "sentencepiece"
    PREPROCESS = (None, "albert", "t5")

    def __init__(self, model, *, lower=False, source=None, preprocess=None, keep_accents=True,
                 remove_space=True, extra_ids=0):
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
        self.pair_layout = "t5" if preprocess == "t5" else "bert"
        self.keep_accents = bool(keep_accents)
        self.remove_space = bool(remove_space)
        if isinstance(extra_ids, bool) or not isinstance(extra_ids, int) or extra_ids < 0:
            raise ValueError(f"extra_ids must be a non-negative integer, not {extra_ids!r}")
        if extra_ids and preprocess != "t5":
            raise ValueError(f"{self.source}: extra_ids (sentinel tokens) need the T5 style "
                             f"(preprocess='t5')")
        self.extra_ids = extra_ids
        sp = self._sp
        n = self._pieces = sp.get_piece_size()
        self._sentinels = {sentinel_token(i): n + extra_ids - 1 - i for i in range(extra_ids)}
        self._sentinel_of_id = {i: t for t, i in self._sentinels.items()}

        def find(*names):
            for name in names:
                i = sp.piece_to_id(name)
                if 0 <= i < n and sp.id_to_piece(i) == name:
                    return i
            return None

        def own(i):
            return i if 0 <= i < n else None

        self.unk_id = own(sp.unk_id()) if own(sp.unk_id()) is not None else find("<unk>", "[UNK]")
        self.pad_id = own(sp.pad_id()) if own(sp.pad_id()) is not None else find("<pad>", "[PAD]")
        self.bos_id = own(sp.bos_id()) if own(sp.bos_id()) is not None else find("<s>")
        self.eos_id = own(sp.eos_id()) if own(sp.eos_id()) is not None else find("</s>")
        self.cls_id = find("[CLS]", "<cls>")
        self.sep_id = find("[SEP]", "<sep>")
        self.mask_id = find("[MASK]", "<mask>")
        # the special tokens recognised in the text (ALBERT and T5 styles), longest first
        self._special_pieces = {}
        for i in (self.cls_id, self.sep_id, self.pad_id, self.unk_id, self.mask_id):
            if i is not None:
                self._special_pieces[sp.id_to_piece(i)] = i
        if preprocess == "t5":
            for i in (self.bos_id, self.eos_id):
                if i is not None:
                    self._special_pieces[sp.id_to_piece(i)] = i
            self._special_pieces.update(self._sentinels)
        names = sorted(self._special_pieces, key=lambda t: (-len(t), t))
        self._special_re = re.compile("|".join(map(re.escape, names))) if names else None
        self._mask_piece = sp.id_to_piece(self.mask_id) if self.mask_id is not None else None

    @property
    def sentinel_ids(self):
        """``sentinel_ids[i]`` is the id of ``<extra_id_i>`` (T5's span-corruption
        sentinels, counted down from the last id); empty without ``extra_ids``."""
        return [self._sentinels[sentinel_token(i)] for i in range(self.extra_ids)]

    def _extra_special_ids(self):
        return self._sentinel_of_id.keys()

    def _special_names(self):
        if self.preprocess == "t5":
            return {"pad": "<pad>", "eos": "</s>", "unk": "<unk>"}
        return {"cls": "[CLS]", "sep": "[SEP]", "pad": "<pad>", "mask": "[MASK]", "unk": "<unk>"}

    def _prep(self, text):
        return text.lower() if self.lower else text

    def _split_specials(self, text):
        """``[text, special, text, ..., text]``: the special tokens written in ``text``."""
        if self._special_re is None or not self._special_re.search(text):
            return [text]
        parts, pos = [], 0
        for m in self._special_re.finditer(text):
            parts.append(text[pos:m.start()])
            parts.append(m.group())
            pos = m.end()
        parts.append(text[pos:])
        return parts

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

    def _styled_tokens(self, text):
        """Pieces of ``text`` in the ALBERT or T5 style, special tokens as they were written."""
        parts = self._split_specials(text)
        if self.preprocess == "albert":
            pieces_of = self._albert_pieces
            # parts alternate: text, special, text, ..., text
            for k in range(1, len(parts), 2):
                if parts[k] == self._mask_piece and parts[k - 1]:
                    parts[k - 1] = parts[k - 1].rstrip()      # [MASK] eats the space before it
        else:
            def pieces_of(part):
                return self._sp.encode(self._prep(part), out_type=str)
        out = []
        for k, part in enumerate(parts):
            if k % 2:
                out.append(part)
            elif part:
                out.extend(pieces_of(part))
        return out

    def _styled_ids(self, text):
        special, to_id = self._special_pieces, self._sp.piece_to_id
        return [special[p] if p in special else to_id(p) for p in self._styled_tokens(text)]

    # ---- interface ---------------------------------------------------------------------
    def tokenize(self, text):
        if self.preprocess is not None:
            return self._styled_tokens(text)
        return self._sp.encode(self._prep(text), out_type=str)

    def encode(self, text):
        if self.preprocess is not None:
            return self._styled_ids(text)
        return self._sp.encode(self._prep(text))

    def encode_batch(self, texts):
        if self.preprocess is not None:
            return [self._styled_ids(t) for t in texts]
        texts = [self._prep(t) for t in texts]
        return self._sp.encode(texts) if texts else []

    def id_to_token(self, i):
        i = int(i)
        if i >= self._pieces:
            return self._sentinel_of_id[i]
        return self._sp.id_to_piece(i)

    def token_to_id(self, token):
        if token in self._sentinels:
            return self._sentinels[token]
        i = self._sp.piece_to_id(token)
        return i if self._sp.id_to_piece(i) == token else None

    @property
    def vocab_size(self):
        return self._pieces + self.extra_ids

    def _is_word_start(self, token):
        return token.startswith("\u2581")

    def decode(self, ids, skip_special_tokens=True):
        ids = [int(i) for i in ids]
        if self.preprocess == "t5":
            # as T5's tokenizer: special tokens (unk included) skipped or kept as their text,
            # "▁" turned into spaces, the first token's leading space dropped
            if skip_special_tokens:
                ids = [i for i in ids if i not in self.special_ids]
            text = "".join(self.id_to_token(i) for i in ids).replace("\u2581", " ")
            return text[1:] if text.startswith(" ") else text
        skip = self.special_ids - {self.unk_id} if skip_special_tokens else frozenset()
        return self._sp.decode([i for i in ids if i not in skip])

    def _files(self):
        return {"spiece.model": self._proto}

    def _config(self):
        if self.preprocess == "albert":
            return {"tokenizer_class": "AlbertTokenizer", "do_lower_case": self.lower,
                    "remove_space": self.remove_space, "keep_accents": self.keep_accents,
                    "tiezoo": {"kind": self.kind, "preprocess": "albert"}}
        if self.preprocess == "t5":
            names = {role: self.id_to_token(i) for role, i in
                     (("pad", self.pad_id), ("eos", self.eos_id), ("unk", self.unk_id))
                     if i is not None}
            return {"tokenizer_class": "T5Tokenizer", "extra_ids": self.extra_ids,
                    "do_lower_case": self.lower,
                    **{f"{role}_token": name for role, name in names.items()},
                    "tiezoo": {"kind": self.kind, "preprocess": "t5"}}
        return {"tokenizer_class": "AlbertTokenizer", "do_lower_case": self.lower,
                "keep_accents": True, "tiezoo": {"kind": self.kind, "preprocess": None}}
