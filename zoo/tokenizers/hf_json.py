"""Reading a ``tokenizer.json`` (the ``tokenizers`` library's file, all that transformers 5's
``save_pretrained`` writes) as the Hugging Face files it stands for.

A WordPiece model (BERT: BertNormalizer + BertPreTokenizer) becomes a ``vocab.txt``, a
byte-level BPE (RoBERTa, GPT-2: ByteLevel pre-tokenizer) a ``vocab.json`` + ``merges.txt``,
and the settings the file holds (lower-casing, special token names, the pair layout) complete
the tokenizer_config. Anything in it that tiezoo's tokenizers cannot reproduce exactly
(another model type, normalizer or pre-tokenizer, added tokens beyond the special tokens) is a
:class:`TokenizerError` naming the file; a Unigram model (ALBERT, T5) is read from the
``spiece.model`` beside it instead.
"""
import json

from .base import TokenizerError, token_name
from .byte_bpe import STYLE_HINT, special_tokens_from_config, style_from_files

__all__ = ["TOKENIZER_JSON", "from_tokenizer_json"]

TOKENIZER_JSON = "tokenizer.json"


def _as_text(data):
    return data if isinstance(data, str) else bytes(data).decode("utf-8")

# BPE model options under which tokenizers' BPE behaves as ByteBPETokenizer's (its defaults)
_BPE_DEFAULTS = {"dropout": (None, 0, 0.0), "unk_token": (None,),
                 "continuing_subword_prefix": (None, ""), "end_of_word_suffix": (None, ""),
                 "byte_fallback": (False,), "ignore_merges": (False,)}


def _json_object(spec, key, source, allow_none=True):
    """``spec[key]``, which must be a JSON object (or null / absent when ``allow_none``)."""
    value = spec.get(key)
    if value is None and allow_none:
        return None
    if not isinstance(value, dict):
        raise TokenizerError(f"{source}: {key} is not a JSON object ({value!r:.80})")
    return value


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
    names = {token_name(merged.get(f"{key}_token")) or default for key, default in
             (("unk", "[UNK]"), ("cls", "[CLS]"), ("sep", "[SEP]"), ("pad", "[PAD]"),
              ("mask", "[MASK]"))}
    # a normalized added token is matched in the normalized text: the same only when
    # the normalizer leaves it as it is, i.e. without lower-casing
    _check_added_tokens(_added_tokens(spec, source), vocab, names, source, "WordPiece",
                        may_normalize=not merged.get("do_lower_case", True))
    return {"vocab.txt": "".join(t + "\n" for t in tokens)}, merged


def _byte_bpe_from_json(spec, model, source, config, model_type):
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
                             f"ByteLevel pre-tokenizer (use_regex=true), as RoBERTa's and "
                             f"GPT-2's; found {pre_tokenizer and pre_tokenizer.get('type')!r}")
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
    hint = _style_of_post_processor(post, source)
    entries = _added_tokens(spec, source)
    # added_tokens_decoder is where a tokenizer_config.json keeps the tokens' flags (<mask>'s
    # lstrip, which transformers 5 writes only into tokenizer.json); the folder's own
    # tokenizer_config.json, when it has them, wins
    found = {"add_prefix_space": bool(pre_tokenizer.get("add_prefix_space", True)),
             "added_tokens_decoder": {str(e["id"]): e for e in entries}, STYLE_HINT: hint}
    merged = {**found, **config}
    roles = special_tokens_from_config(merged, style_from_files(merged, model_type, vocab))
    _check_added_tokens(entries, vocab, set(roles.values()), source, "byte-level BPE",
                        may_lstrip=(roles.get("mask"),))
    files = {"vocab.json": json.dumps(vocab, ensure_ascii=False),
             "merges.txt": "#version: 0.2\n" + "".join(merge_lines)}
    return files, merged


def _style_of_post_processor(post, source):
    """The byte-level BPE style a tokenizer.json's post-processor implies: RoBERTa's
    ``<s> a </s></s> b </s>`` or GPT-2's no special tokens at all."""
    kind = post.get("type")
    if kind == "RobertaProcessing":
        named = [p[0] if isinstance(p, list) and p else p for p in (post.get("cls"),
                                                                     post.get("sep"))]
        if named != ["<s>", "</s>"]:
            raise TokenizerError(f"{source}: RobertaProcessing with cls/sep {named} is not "
                                 f"supported (tiezoo's byte-level BPE uses <s> and </s>)")
        return "roberta"
    if kind == "TemplateProcessing":
        single = post.get("single") if isinstance(post.get("single"), list) else []
        specials = [item for item in single if isinstance(item, dict) and "SpecialToken" in item]
        return "roberta" if specials else "gpt2"
    return "gpt2"            # ByteLevel (offsets only) or none: no special tokens added


def from_tokenizer_json(raw, source, config, model_type=None):
    """Translate a tokenizer.json into ``(files, config)``: the files of the equivalent
    Hugging Face layout (``vocab.txt``, or ``vocab.json`` + ``merges.txt``) and
    ``config`` completed with the settings tokenizer.json holds (lower-casing, special token
    names, ...); ``model_type`` (from config.json) helps decide a byte-level BPE's style. Anything the translation could not reproduce exactly is a TokenizerError."""
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
        return _byte_bpe_from_json(spec, model, source, config, model_type)
    if model_type == "Unigram":
        raise TokenizerError(f"{source}: a Unigram tokenizer.json (ALBERT, XLNet, T5 style) is "
                             f"not read on its own: put the model's spiece.model next to it")
    raise TokenizerError(f"{source}: model type {model_type!r} is not supported (WordPiece and "
                         f"byte-level BPE are; Unigram with its spiece.model)")


