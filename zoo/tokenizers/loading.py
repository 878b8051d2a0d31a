"""``get_tokenizer``: a tokenizer from a tiezoo checkpoint, a Hugging Face folder or a file.

The style of a tokenizer (lower-casing, ALBERT's or T5's preprocessing, RoBERTa's or GPT-2's
special tokens) comes from the files: tiezoo's own record in tokenizer_config.json, else the
Hugging Face settings there (``tokenizer_class``, ``do_lower_case``, special token names),
else the model's ``config.json`` (``model_type``), else a ``tokenizer.json``, else the
vocabulary itself.
"""
import json
import os

from .base import ASSET_PREFIX, CONFIG_NAME, TokenizerError, token_name
from .byte_bpe import ByteBPETokenizer, special_tokens_from_config, style_from_files
from .hf_json import TOKENIZER_JSON, from_tokenizer_json
from .sentencepiece import SentencePieceTokenizer
from .wordpiece import WordPieceTokenizer, parse_vocab_txt

__all__ = ["get_tokenizer", "from_files", "SPM_NAMES"]

SPM_NAMES = ("spiece.model", "sentencepiece.bpe.model", "tokenizer.model")
# Hugging Face model_type -> the tokenizer class its folders use when tokenizer_config.json
# does not name one (e.g. albert-base-v2 ships no tokenizer_config.json)
_MODEL_TYPE_TOKENIZERS = {"albert": "AlbertTokenizer", "roberta": "RobertaTokenizer",
                          "bert": "BertTokenizer", "electra": "ElectraTokenizer",
                          "t5": "T5Tokenizer", "gpt2": "GPT2Tokenizer", "bart": "BartTokenizer"}
_T5_DEFAULT_EXTRA_IDS = 100          # Hugging Face's T5Tokenizer default


def _as_text(data):
    return data if isinstance(data, str) else bytes(data).decode("utf-8")


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


def _has_vocabulary_files(files):
    """Whether ``files`` hold a vocabulary of their own (then tokenizer.json is not read)."""
    return ("vocab.txt" in files or any(n in files for n in SPM_NAMES)
            or ("vocab.json" in files and "merges.txt" in files))


def _tokenizer_class(config, model_type):
    """The Hugging Face tokenizer class a folder names (or its model type implies), without
    the ``Fast`` suffix; "" when neither says."""
    cls = str(config.get("tokenizer_class") or _MODEL_TYPE_TOKENIZERS.get(model_type) or "")
    return cls[:-len("Fast")] if cls.endswith("Fast") else cls


def _t5_extra_ids(config):
    """How many sentinel tokens a T5 tokenizer_config asks for: the ``<extra_id_N>`` it
    lists as additional special tokens, else ``extra_ids``, else Hugging Face's 100."""
    for key in ("additional_special_tokens", "extra_special_tokens"):
        listed = config.get(key)
        if isinstance(listed, list):
            sentinels = [t for t in map(token_name, listed) if t and t.startswith("<extra_id_")]
            if sentinels:
                return len(sentinels)
    value = config.get("extra_ids", _T5_DEFAULT_EXTRA_IDS)
    return value if isinstance(value, int) and not isinstance(value, bool) else \
        _T5_DEFAULT_EXTRA_IDS


def _wordpiece(files, config, source, sources, explicit, overrides):
    """``explicit``: the vocab.txt path when one was given as a file (it names the tokenizer
    in messages), else None (the folder or checkpoint does)."""
    extra = config.get("tiezoo") or {}
    kind = extra.get("kind")
    if "vocab.txt" not in files:
        raise TokenizerError(f"{source}: a WordPiece tokenizer needs vocab.txt")
    kw = {"lower": config.get("do_lower_case", True if kind is None else None),
          "strip_accents": config.get("strip_accents"),
          "tokenize_chinese_chars": config.get("tokenize_chinese_chars", True),
          # tiezoo's own config keeps it under "tiezoo"; a tokenizer.json gives it at the
          # top level of the config from_tokenizer_json completes
          "max_input_chars_per_word": extra.get("max_input_chars_per_word",
                                                config.get("max_input_chars_per_word", 100))}
    for key in ("unk", "cls", "sep", "pad", "mask"):
        value = token_name(config.get(f"{key}_token"))
        if value is not None:
            kw[f"{key}_token"] = value
    kw.update(overrides)
    return WordPieceTokenizer(parse_vocab_txt(files["vocab.txt"], sources("vocab.txt")),
                              source=source if explicit is None else explicit, **kw)


def _sentencepiece(files, config, source, sources, model_type, overrides):
    extra = config.get("tiezoo") or {}
    spm_name = next((n for n in SPM_NAMES if n in files), None)
    if spm_name is None:
        raise TokenizerError(f"{source}: a SentencePiece tokenizer needs spiece.model")
    cls = _tokenizer_class(config, model_type)
    if "preprocess" in extra:
        preprocess = extra["preprocess"]             # tiezoo's own, any style
    elif extra.get("kind") == "sentencepiece":
        preprocess = None                            # tiezoo's own, written before styles
    else:
        preprocess = {"AlbertTokenizer": "albert", "T5Tokenizer": "t5"}.get(cls)
    if preprocess == "albert":
        kw = {"preprocess": "albert", "lower": config.get("do_lower_case", True),
              "remove_space": config.get("remove_space", True),
              "keep_accents": config.get("keep_accents", False)}
    elif preprocess == "t5":
        kw = {"preprocess": "t5", "lower": config.get("do_lower_case", False),
              "extra_ids": _t5_extra_ids(config)}
    else:
        kw = {"lower": config.get("do_lower_case", False)}
    kw.update(overrides)
    data = files[spm_name]
    return SentencePieceTokenizer(data.encode("latin-1") if isinstance(data, str) else data,
                                  source=sources(spm_name), **kw)


def _byte_bpe(files, config, source, model_type, overrides):
    vocab_json = _as_text(files["vocab.json"])
    try:
        vocab = json.loads(vocab_json)
    except ValueError:
        vocab = None                    # ByteBPETokenizer names the file and the error
    style = style_from_files(config, model_type, vocab if isinstance(vocab, dict) else None)
    roles = special_tokens_from_config(config, style)
    kw = {"add_prefix_space": config.get("add_prefix_space", False),
          "lower": config.get("do_lower_case", False), "style": style, "special_tokens": roles,
          "mask_lstrip": bool(_added_token(config, "mask_token", roles.get("mask")).get(
              "lstrip"))}
    kw.update(overrides)
    return ByteBPETokenizer(vocab_json, _as_text(files["merges.txt"]), source=source, **kw)


def from_files(files, source, *, model_type=None, sources=None, **overrides):
    """Build a tokenizer from ``{file name: str | bytes}`` in the Hugging Face layout.

    A ``tokenizer.json`` is read only where no vocabulary file (vocab.txt, a SentencePiece
    model, vocab.json + merges.txt) is there: it is translated into those files.
    ``source`` names the folder (or, ending in ``.json``, the tokenizer.json itself);
    ``sources`` maps a file name to the path messages show (default ``source/name``).
    ``model_type``: the Hugging Face model type of the model these files belong to (from
    its config.json), which decides the tokenizer's style where tokenizer_config.json does
    not name its class."""
    shown = dict(sources or {})

    def source_of(name):
        return shown.get(name, f"{source}/{name}")

    config = {}
    if CONFIG_NAME in files:
        try:
            config = json.loads(_as_text(files[CONFIG_NAME]))
        except (ValueError, UnicodeDecodeError) as e:
            raise TokenizerError(f"{source_of(CONFIG_NAME)}: not valid JSON ({e})") from None
        if not isinstance(config, dict):
            raise TokenizerError(f"{source_of(CONFIG_NAME)}: not a JSON object")
    if TOKENIZER_JSON in files and not _has_vocabulary_files(files):
        json_source = source if source.lower().endswith(".json") else source_of(TOKENIZER_JSON)
        translated, config = from_tokenizer_json(files[TOKENIZER_JSON], json_source, config,
                                                 model_type)
        files = {**files, **translated}
    kind = (config.get("tiezoo") or {}).get("kind")
    if kind == "wordpiece" or (kind is None and "vocab.txt" in files):
        return _wordpiece(files, config, source, source_of, shown.get("vocab.txt"), overrides)
    if kind == "sentencepiece" or (kind is None and any(n in files for n in SPM_NAMES)):
        return _sentencepiece(files, config, source, source_of, model_type, overrides)
    # "bytebpe": what tiezoo wrote before the kind took build_vocab's name
    if kind in ("byte_bpe", "bytebpe") or (
            kind is None and "vocab.json" in files and "merges.txt" in files):
        return _byte_bpe(files, config, source, model_type, overrides)
    raise TokenizerError(f"{source}: no tokenizer found (looked for vocab.txt, spiece.model, "
                         f"vocab.json + merges.txt, tokenizer.json; found "
                         f"{sorted(files) or 'nothing'})")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise TokenizerError(f"{path}: cannot read: {e.strerror or e}") from None


def get_tokenizer(path, **overrides):
    """The tokenizer stored at ``path``.

    ``path`` is a tiezoo checkpoint (``.params`` / ``.safetensors``, its tokenizer assets), a
    folder in the Hugging Face layout (``vocab.txt`` / ``spiece.model`` / ``vocab.json`` +
    ``merges.txt``, or else a ``tokenizer.json``; honouring ``tokenizer_config.json``:
    ``do_lower_case``, ``strip_accents``, special token names, the tokenizer class), a
    ``vocab.txt`` (WordPiece) or a SentencePiece ``.model``, or a ``tokenizer.json`` on its
    own. A vocabulary file is read with the ``tokenizer_config.json`` beside it when there is
    one (as its folder would be); without one, a ``vocab.txt`` is cased or uncased as its
    tokens suggest. ``overrides`` go to the tokenizer's constructor (e.g. ``lower=True``,
    ``backend="python"``).

    A ``tokenizer.json`` (the ``tokenizers`` library's file, all that transformers 5's
    ``save_pretrained`` writes) is read where the folder has no vocabulary file of its own:
    a WordPiece model (BERT: BertNormalizer + BertPreTokenizer) or a byte-level BPE (RoBERTa,
    GPT-2: ByteLevel pre-tokenizer) becomes the same tokenizer as its ``vocab.txt`` or
    ``vocab.json`` + ``merges.txt`` would; a Unigram model (ALBERT, T5) needs its
    ``spiece.model`` beside it. Anything else in it that tiezoo's tokenizers cannot reproduce
    exactly (another model type, normalizer or pre-tokenizer, added tokens beyond the special
    tokens) is a :class:`TokenizerError` naming the file.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        files = {}
        for name in ("vocab.txt", *SPM_NAMES, "vocab.json", "merges.txt", TOKENIZER_JSON,
                     CONFIG_NAME):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                files[name] = _read(full)
        model_type = _model_type(os.path.join(path, "config.json"))
        return from_files(files, path, model_type=model_type, **overrides)
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
        return from_files(files, path, model_type=_checkpoint_model_type(path, assets),
                          **overrides)
    if lower.endswith(".json"):
        # a tokenizer.json describes the whole tokenizer; the folder's other files are not read
        return from_files({TOKENIZER_JSON: _read(path)}, path, **overrides)
    name = "spiece.model" if lower.endswith(".model") else "vocab.txt"
    folder = os.path.dirname(os.path.abspath(path))
    config_path = os.path.join(folder, CONFIG_NAME)
    if os.path.isfile(config_path):
        return from_files({name: _read(path), CONFIG_NAME: _read(config_path)}, folder,
                          model_type=_model_type(os.path.join(folder, "config.json")),
                          sources={name: path, CONFIG_NAME: config_path}, **overrides)
    if name == "spiece.model":
        return SentencePieceTokenizer(path, **overrides)
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
