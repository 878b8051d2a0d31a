"""The interface every tokenizer has, the Encoding it returns and pair truncation.

    tok.tokenize(text) -> list[str]            # pieces, no special tokens
    tok.encode(text) -> list[int]              # ids, no special tokens
    tok.encode_pair(a, b=None, *, max_length=None, truncation="longest_first") -> Encoding
    tok.decode(ids, skip_special_tokens=True) -> str
    tok.vocab_size                             # int
    tok.cls_id, tok.sep_id, tok.pad_id, tok.mask_id, tok.unk_id, tok.bos_id, tok.eos_id
                                               # int, or None when absent
    tok.special_ids                            # frozenset of the special token ids present
    tok.save(directory) / Tokenizer.load(directory)
    tok.to_assets() -> {name: str | bytes}    / Tokenizer.from_assets(assets)

How a tokenizer lays out the special tokens of a sequence or pair is its ``pair_layout``
(see :data:`PAIR_LAYOUTS`): ``"bert"`` ``[CLS] a [SEP] b [SEP]`` (types 0..0 1..1),
``"roberta"`` ``<s> a </s></s> b </s>`` (types all 0), ``"t5"`` ``a </s> b </s>`` (types all
0) and ``"gpt2"`` ``a b`` (no special tokens; types 0..0 1..1), each as Hugging Face builds it.
"""
import abc
import importlib
import json
import os
from typing import NamedTuple

from checkpoints.atomic import atomic_write

__all__ = ["ASSET_PREFIX", "CONFIG_NAME", "PAIR_LAYOUTS", "ROLES", "Encoding", "Tokenizer",
           "TokenizerError", "hf_tokenizers", "token_name"]

ASSET_PREFIX = "tokenizer/"
CONFIG_NAME = "tokenizer_config.json"
_TRUNCATIONS = ("longest_first", "only_first", "only_second")
# pair layout -> (tokens before a, after a, before b, after b, token type of the b part), the
# tokens named by role ("cls" is the tokenizer's cls_id, ...)
PAIR_LAYOUTS = {
    "bert": (("cls",), ("sep",), (), ("sep",), 1),
    "roberta": (("cls",), ("sep",), ("sep",), ("sep",), 0),
    "t5": ((), ("eos",), (), ("eos",), 0),
    "gpt2": ((), (), (), (), 1),
}
ROLES = ("cls", "sep", "pad", "mask", "unk", "bos", "eos")


class TokenizerError(ValueError):
    """A vocabulary or tokenizer that cannot be used; the message names the file."""


class Encoding(NamedTuple):
    """``(ids, token_types)`` of an encoded sequence or pair, special tokens included."""
    ids: list
    token_types: list

    @property
    def valid_length(self):
        return len(self.ids)


def hf_tokenizers():
    """The Rust ``tokenizers`` package (an optional backend), or None when not installed."""
    try:
        mod = importlib.import_module("tokenizers")
    except ImportError:
        return None
    return mod if hasattr(mod, "AddedToken") and hasattr(mod, "__version__") else None


def token_name(value):
    """A special token's text from a tokenizer_config entry: a string or a serialized
    AddedToken (``{"content": ...}``); None otherwise."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


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
    pair_layout = "bert"

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
    def decode(self, ids, skip_special_tokens=True):
        ...

    @abc.abstractmethod
    def _files(self):
        """``{file name: str | bytes}`` of this tokenizer's files (Hugging Face layout)."""
        ...

    @abc.abstractmethod
    def _config(self):
        """The tokenizer_config.json content (a dict) that reloads this tokenizer."""
        ...

    # ---- shared ----------------------------------------------------------------------
    source = "<tokenizer>"
    cls_id = sep_id = pad_id = mask_id = unk_id = bos_id = eos_id = None

    def __len__(self):
        return self.vocab_size

    @property
    def special_ids(self):
        """Ids of the special tokens present (never masked in pretraining)."""
        return frozenset(i for i in (getattr(self, f"{role}_id") for role in ROLES)
                         if i is not None) | frozenset(self._extra_special_ids())

    def _extra_special_ids(self):
        """Special ids beyond the named roles (e.g. sentinel tokens)."""
        return ()

    def require_special_tokens(self, names=("cls", "sep", "pad", "mask", "unk")):
        """Raise :class:`TokenizerError` naming the vocabulary if any of these is absent."""
        missing = [n for n in names if getattr(self, f"{n}_id") is None]
        if missing:
            names_of = self._special_names()
            want = ", ".join(f"{n} ({names_of.get(n, '?')})" for n in missing)
            raise TokenizerError(f"{self.source}: the vocabulary has no special token for {want}; "
                                 f"a vocabulary for pretraining/finetuning needs "
                                 f"{', '.join(names_of[n] for n in names if n in names_of)}")

    def _special_names(self):
        """role -> the special token's text, for messages."""
        return {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "mask": "[MASK]", "unk": "[UNK]"}

    def convert_ids_to_tokens(self, ids):
        return [self.id_to_token(int(i)) for i in ids]

    def encode_pair(self, a, b=None, *, max_length=None, truncation="longest_first"):
        """Encode ``a`` (and ``b``) with the model's special tokens (its ``pair_layout``).

        ``a``/``b`` are texts or already-encoded id lists. ``max_length`` bounds the total,
        special tokens included; ``truncation`` is ``"longest_first"`` (Hugging Face's rule: cut
        the longer sequence down to the shorter one's length, then both to about half the
        room), ``"only_first"``, ``"only_second"`` or ``False``
        (then an over-long input raises :class:`TokenizerError`). Returns :class:`Encoding`.
        """
        start, after_a, before_b, after_b, b_type = PAIR_LAYOUTS[self.pair_layout]
        # an empty string b means "no second segment", as in Hugging Face
        has_b = b is not None and not (isinstance(b, str) and b == "")
        used = start + after_a + (before_b + after_b if has_b else ())
        self.require_special_tokens(tuple(dict.fromkeys(used)))
        ia = list(a) if isinstance(a, (list, tuple)) else self.encode(a)
        ib = None
        if has_b:
            ib = list(b) if isinstance(b, (list, tuple)) else self.encode(b)
        if max_length is not None:
            n_special = len(used)
            if max_length < n_special:
                raise ValueError(f"max_length={max_length} leaves no room for the {n_special} "
                                 f"special tokens")
            _truncate_pair(ia, ib, max_length - n_special, truncation, self.source)

        def ids_of(roles):
            return [getattr(self, f"{role}_id") for role in roles]

        ids = ids_of(start) + ia + ids_of(after_a)
        types = [0] * len(ids)
        if ib is not None:
            tail = ids_of(before_b) + ib + ids_of(after_b)
            ids += tail
            types += [b_type] * len(tail)
        return Encoding(ids, types)

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
    def save(self, directory):
        """Write the tokenizer as a Hugging Face style folder (created if needed)."""
        os.makedirs(directory, exist_ok=True)
        files = dict(self._files())
        files[CONFIG_NAME] = json.dumps(self._config(), indent=2, sort_keys=True) + "\n"
        for name, data in files.items():
            atomic_write(os.path.join(directory, name), data)
        return directory

    @classmethod
    def load(cls, directory, **overrides):
        from .loading import get_tokenizer
        return get_tokenizer(directory, **overrides)

    def to_assets(self):
        """``{"tokenizer/<file>": str | bytes}`` for ``checkpoints.save(..., assets=...)``."""
        files = dict(self._files())
        files[CONFIG_NAME] = json.dumps(self._config(), sort_keys=True)
        return {ASSET_PREFIX + name: data for name, data in files.items()}

    @staticmethod
    def from_assets(assets, source="<assets>"):
        """Rebuild a tokenizer from :meth:`to_assets` output (or ``checkpoints.read_assets``)."""
        from .loading import from_files
        files = {}
        for name, data in assets.items():
            if name.startswith(ASSET_PREFIX):
                files[name[len(ASSET_PREFIX):]] = data
        if not files:
            raise TokenizerError(f"{source}: holds no tokenizer assets (no '{ASSET_PREFIX}*' "
                                 f"entries; found: {sorted(assets) or 'none'})")
        return from_files(files, source)

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, source={self.source!r})"
