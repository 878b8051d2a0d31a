"""Test-side helpers for comparing tiezoo models with tiny random ``transformers`` models.

``load_hf_state_dict`` copies a transformers ``state_dict`` into a tiezoo model through a
family's name table (``checkpoints/convert_<family>.py``) and the model's own ``@tied``
declarations, checking that two source names for one tensor agree. (The real conversion
path is ``zoo convert``; this keeps the equivalence tests independent of it.)
"""
import mxnet as mx
import numpy as np
import pytest

from checkpoints.ties import resolve_declared

# The numerical oracles are test-only and optional: a test that compares with them carries
# @requires_oracles and is skipped without them, and only it (the rest of its module runs).
try:
    import torch
    import transformers
except ImportError:                 # pragma: no cover - exercised where they are missing
    torch = transformers = None
requires_oracles = pytest.mark.skipif(
    transformers is None, reason="the test oracles torch and transformers are not installed")

ATOL = 1e-4


def randomize_torch(module, seed=0):
    """Every parameter random (LayerNorm scales around 1), so no swap hides behind a constant."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():       # tied tensors are listed once
            noise = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(1.0 + noise if name.lower().endswith("norm.weight") else noise)


def randomize_mx(block, seed=0):
    rng = np.random.RandomState(seed)
    for name, p in block.collect_params().items():     # shared parameters once
        noise = rng.normal(0, 0.1, size=p.shape).astype("float32")
        p.set_data(mx.nd.array(1.0 + noise if name.endswith("gamma") else noise))


def load_hf_state_dict(model, state_dict, table, architecture):
    """Copy ``state_dict`` (name -> torch tensor) into ``model`` via ``table``.

    Returns the set of canonical tiezoo names filled; a tensor whose tiezoo name the model
    lacks (a head it was built without) is skipped.
    """
    params = model._collect_params_with_prefix()
    filled = set()
    for name, tensor in state_dict.items():
        ours = table.hf_to_tiezoo_name(name, architecture)
        if ours is None:
            continue
        ours = resolve_declared(model, ours)
        if ours not in params:
            continue
        value = tensor.detach().cpu().numpy()
        if ours in filled:
            np.testing.assert_array_equal(params[ours].data().asnumpy(), value,
                                          err_msg=f"two source tensors for {ours} differ")
            continue
        assert tuple(params[ours].shape) == value.shape, (name, ours, params[ours].shape,
                                                           value.shape)
        params[ours].set_data(mx.nd.array(value))
        filled.add(ours)
    return filled


def batch(vocab, B=3, L=12, P=4, seed=0, pad_id=None, low=0):
    """Random ids, token types, valid lengths < L (padding), masked positions < length.

    Padding positions hold ``pad_id`` when given, else arbitrary ids (which must not matter).
    """
    rng = np.random.RandomState(seed)
    ids = rng.randint(low, vocab, size=(B, L))
    valid = np.array([L, L - 5, 3][:B])
    types = (np.arange(L)[None, :] >= (valid[:, None] // 2)).astype(np.int64)
    for b in range(B):
        types[b, valid[b]:] = 0
        if pad_id is not None:
            ids[b, valid[b]:] = pad_id
    # position 0 holds [CLS], which pretraining never masks (0 pads masked_positions)
    masked = np.stack([rng.choice(np.arange(1, valid[b]), size=P, replace=valid[b] - 1 < P)
                       for b in range(B)])
    return ids, types, valid, masked


def nd(*arrays):
    return [mx.nd.array(a, dtype="float32") for a in arrays]


def attention_mask(ids, valid):
    return (np.arange(ids.shape[1])[None, :] < valid[:, None]).astype(np.int64)


def assert_valid_close(ours, theirs, valid, what, atol=ATOL):
    """Compare (B, L, ...) outputs at the valid positions of each example only."""
    for b, n in enumerate(valid):
        np.testing.assert_allclose(ours[b, :n], theirs[b, :n], atol=atol, rtol=0,
                                   err_msg=f"{what}, example {b}")


def gather(scores, positions):
    """scores (B, L, ...) numpy, positions (B, P) -> (B, P, ...)."""
    return scores[np.arange(len(scores))[:, None], positions]


def to_hf_state_dict(model, table, architecture):
    """``model``'s canonical parameters under ``architecture``'s Hugging Face names (what a
    converter writes: tied aliases left out, names the architecture has no place for
    dropped), as torch tensors."""
    import torch
    from checkpoints import ties_of
    ties = ties_of(model)
    out = {}
    for name, param in model._collect_params_with_prefix().items():
        if name in ties:
            continue
        hf_name = table.tiezoo_to_hf_name(name, architecture)
        if hf_name is not None:
            out[hf_name] = torch.tensor(param.data().asnumpy())
    return out


def load_into_hf(hf_model, state):
    """Load ``state`` into a transformers model: no tensor may be unexpected, and every
    parameter must come from ``state`` itself or be tied to one that does."""
    result = hf_model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    params = dict(hf_model.named_parameters(remove_duplicate=False))
    loaded = {id(params[k]) for k in state if k in params}
    not_written = [n for n in result.missing_keys if n in params and id(params[n]) not in loaded]
    assert not not_written, f"not written by the converter: {not_written}"
    return hf_model


# ------------------------------------------------------------------ tokenizer references

# Text with what ALBERT's preprocessing touches: accents, case, runs of whitespace, ``quotes''
# and digit groups with commas (its "9,9" rule), special tokens written literally.
TOKENIZER_TEXTS = [
    "Hello, world! This is a simple sentence.",
    "Café, naïve, résumé, Ångström, São Paulo, Zürich, déjà vu.",
    "He said ``katori musen'' and left; isn't it?",
    "Numbers 3.14159, 1,000,000 and $5.99 (approx.) 9,9 12,5 a305,7 7,,1",
    "   leading   and\ttrailing \n spaces   ",
    "UPPER lower MiXeD KATORI Musen",
    "a [MASK] b [MASK]c [CLS]x and hello[SEP]too, but [mask] is not; <unk> <pad>",
    "two  spaces  [MASK]  and a tab\t[MASK]\tthen [SEP]  [MASK]",
    "Tabs\tand\nnewlines\r\nand\u00a0nbsp",
    "Emoji 😀 and symbols ™ © ± × ÷",
    "Ｆｕｌｌ width and ﬁ ligature",
    "",
    "katorimusenpezolan",
]


def _tokenizer_corpus(n=1500, seed=0):
    import random
    rng = random.Random(seed)
    syll = ["ka", "to", "ri", "mu", "sen", "dal", "or", "vi", "que", "lan", "pe", "zo", "ny",
            "é", "ü", "Ka", "TO"]
    words = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 3))) for _ in range(300)]
    words += ["1,000", "9,9", "3.14", "don't", "``quoted''", "hello", "world", "Café"]
    # numbers whose "12," is a frequent prefix: pieces ending in a digit and a comma, which
    # ALBERT's tokenizer splits again (its "9,9" rule)
    words += [f"{n},{rng.choice(syll)}{rng.randint(0, 99)}" for n in ("12", "7", "305")
              for _ in range(30)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
            + rng.choice([".", "!", "?", ","]) for _ in range(n)]


def write_roberta_tokenizer(folder, vocab_size=300, mask_lstrip=True):
    """A tiny byte-level BPE (vocab.json + merges.txt) trained with ``tokenizers`` on generated
    text, with RoBERTa's special tokens at ids 0..4, and a tokenizer_config.json like the
    published RoBERTa tokenizers' (``<mask>`` absorbing the space before it). Returns its
    vocabulary size."""
    import json
    import os
    from tokenizers import ByteLevelBPETokenizer
    os.makedirs(folder, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_tokenizer_corpus(), vocab_size=vocab_size, min_frequency=1,
                            show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    config = {"tokenizer_class": "RobertaTokenizer", "add_prefix_space": False,
              "errors": "replace", "model_max_length": 512}
    if mask_lstrip:
        config["mask_token"] = {"__type": "AddedToken", "content": "<mask>", "lstrip": True,
                                "normalized": False, "rstrip": False, "single_word": False,
                                "special": True}
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f)
    return bpe.get_vocab_size()


def write_albert_spiece(folder, vocab_size=200, config=None, **train_options):
    """A tiny SentencePiece unigram model in ALBERT's layout (``<pad>`` 0, ``<unk>`` 1,
    ``[CLS]`` 2, ``[SEP]`` 3, ``[MASK]`` 4) trained on generated text, as ``spiece.model``,
    and ``config`` (if given) as tokenizer_config.json. Returns its vocabulary size.
    ``train_options`` go to the sentencepiece trainer."""
    import io
    import json
    import os
    import sentencepiece as spm
    os.makedirs(folder, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_tokenizer_corpus()), model_writer=model,
        vocab_size=vocab_size, pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"], minloglevel=2, num_threads=1,
        **train_options)
    with open(os.path.join(folder, "spiece.model"), "wb") as f:
        f.write(model.getvalue())
    if config is not None:
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump(config, f)
    return vocab_size


def slow_albert_tokenizer(folder, **kwargs):
    """transformers' sentencepiece-based ``AlbertTokenizer`` as transformers 4.x defines it
    (transformers 5 keeps only the Rust one): its ``preprocess_text`` and ``_tokenize``, on
    transformers' own SentencePiece tokenizer base class (special-token splitting, ``[MASK]``
    with ``lstrip``). ``kwargs``: do_lower_case, remove_space, keep_accents."""
    import os
    import unicodedata
    from transformers.tokenization_utils_base import AddedToken
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

    underline = "\u2581"

    class SlowAlbertTokenizer(SentencePieceBackend):
        vocab_files_names = {"vocab_file": "spiece.model"}
        model_input_names = ["input_ids", "token_type_ids", "attention_mask"]

        def __init__(self, vocab_file, do_lower_case=True, remove_space=True,
                     keep_accents=False, **kw):
            self.do_lower_case = do_lower_case
            self.remove_space = remove_space
            self.keep_accents = keep_accents
            super().__init__(vocab_file=vocab_file, do_lower_case=do_lower_case,
                             remove_space=remove_space, keep_accents=keep_accents,
                             bos_token="[CLS]", eos_token="[SEP]", unk_token="<unk>",
                             sep_token="[SEP]", pad_token="<pad>", cls_token="[CLS]",
                             mask_token=AddedToken("[MASK]", lstrip=True, rstrip=False,
                                                   normalized=False), **kw)
            # transformers 5 registers the pieces already in spiece.model with default
            # stripping; transformers 4's AlbertTokenizer had [MASK] absorb the space before it
            mask_id = self.sp_model.piece_to_id("[MASK]")
            self._added_tokens_decoder[mask_id] = AddedToken(
                "[MASK]", lstrip=True, rstrip=False, normalized=False, special=True)

        def preprocess_text(self, inputs):
            outputs = " ".join(inputs.strip().split()) if self.remove_space else inputs
            outputs = outputs.replace("``", '"').replace("''", '"')
            if not self.keep_accents:
                outputs = unicodedata.normalize("NFKD", outputs)
                outputs = "".join([c for c in outputs if not unicodedata.combining(c)])
            if self.do_lower_case:
                outputs = outputs.lower()
            return outputs

        def _tokenize(self, text, **kw):
            pieces = self.sp_model.encode(self.preprocess_text(text), out_type=str)
            new_pieces = []
            for piece in pieces:
                if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit():
                    cur = self.sp_model.EncodeAsPieces(piece[:-1].replace(underline, ""))
                    if piece[0] != underline and cur[0][0] == underline:
                        cur = cur[1:] if len(cur[0]) == 1 else [cur[0][1:]] + cur[1:]
                    cur.append(piece[-1])
                    new_pieces.extend(cur)
                else:
                    new_pieces.append(piece)
            return new_pieces

        def build_inputs_with_special_tokens(self, a, b=None):
            cls, sep = [self.cls_token_id], [self.sep_token_id]
            return cls + a + sep if b is None else cls + a + sep + b + sep

        def create_token_type_ids_from_sequences(self, a, b=None):
            return [0] * (len(a) + 2) if b is None else [0] * (len(a) + 2) + [1] * (len(b) + 1)

    return SlowAlbertTokenizer(os.path.join(str(folder), "spiece.model"), **kwargs)
