"""Tokenizers: exact against the references, assets in checkpoints, vocab training, errors."""
import json
import os
import random

import pytest

from zoo import tokenizers as zt
from zoo.tokenizers import wordpiece
from zoo.tokenizers import (ByteBPETokenizer, SentencePieceTokenizer, TokenizerError,
                            WordPieceTokenizer, build_vocab, get_tokenizer)

transformers = pytest.importorskip("transformers")
hf_tokenizers = pytest.importorskip("tokenizers")

SAMPLE = [
    "Hello, world! This is a simple sentence.",
    "The quick brown fox jumps over the lazy dog's back; isn't it?",
    "Café, naïve, résumé, Ångström, São Paulo, Zürich — déjà vu.",
    "中文字符测试：北京欢迎你。日本語のテキストも。",
    "Mixed 中文 and English: tokenization123 of un-believable things...",
    "Numbers 3.14159, 1,000,000 and $5.99 (approx.) #hashtag @user",
    "Control\x00chars\x07 and zero\u200bwidth and BOM\ufeff here \ufffd",
    "Tabs\tand\nnewlines\r\nand\u00a0nbsp\u3000ideographic\u2028space",
    "ΟΔΟΣ Σίσυφος ΣΣ σ ς",
    "Emoji 😀 and symbols ™ © ® ± × ÷ ≠ ∞",
    "A" * 120 + " longword " + "b" * 99 + " " + "c" * 101,
    "[MASK] is literal, [CLS]x and hello[SEP] too, but [mask] is not. [PAD][UNK]",
    "İstanbul ǅemal ﬁnal straße ÆSIR",
    "antidisestablishmentarianism supercalifragilisticexpialidocious",
    "UPPER lower MiXeD CamelCase snake_case kebab-case",
    "http://example.com/path?query=1&x=2",
    "",
    "   leading and trailing spaces   ",
    "Arabic مرحبا Hebrew שלום Hindi नमस्ते Thai สวัสดี Korean 안녕하세요",
    "Combining e\u0301 vs é, a\u0308 vs ä, unknownword zzyzx qwxz",
]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _fuzz_lines(n=60, seed=3):
    rng = random.Random(seed)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
              (0x900, 0x97F), (0x2000, 0x206F), (0x3000, 0x30FF), (0x4E00, 0x4E80),
              (0xAC00, 0xAC40), (0xFF00, 0xFFEF), (0x1F600, 0x1F64F), (0x0, 0x1F)]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(5, 40)):
            a, b = rng.choice(blocks)
            chars.append(chr(rng.randint(a, b)) if rng.random() < 0.7 else rng.choice(" abcde,"))
        out.append("".join(chars))
    return out


LINES = SAMPLE + _fuzz_lines()


def _make_vocab(lower):
    """A vocabulary from the sample: characters, ##characters, many whole words, some
    prefixes and suffix pieces; a few characters left out so that [UNK] shows up."""
    from tokenizers import normalizers, pre_tokenizers
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                      strip_accents=lower, lowercase=lower)
    pre = pre_tokenizers.BertPreTokenizer()
    words = []
    for line in SAMPLE:
        words += [w for w, _ in pre.pre_tokenize_str(norm.normalize_str(line))]
    left_out = set("😀ǅqΣσ")
    chars = sorted({c for w in words for c in w} - left_out)
    vocab = list(SPECIALS)
    vocab += chars + ["##" + c for c in chars]
    uniq = sorted(set(words))
    vocab += [w for i, w in enumerate(uniq) if i % 2 == 0 and not set(w) & left_out]
    vocab += sorted({w[:3] for w in uniq if len(w) > 4})
    vocab += ["##ing", "##ed", "##s", "##tion", "##able", "##ment", "##ism", "##ous"]
    seen, out = set(), []
    for t in vocab:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def wordpiece_dir(request, tmp_path_factory):
    lower = request.param
    d = tmp_path_factory.mktemp("uncased" if lower else "cased")
    (d / "vocab.txt").write_text("".join(t + "\n" for t in _make_vocab(lower)), encoding="utf-8")
    (d / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": lower}))
    return d, lower


def _hf_bert(d, lower):
    from transformers import BertTokenizerFast
    return BertTokenizerFast.from_pretrained(str(d), do_lower_case=lower)


@pytest.mark.parametrize("backend", ["python", "tokenizers"])
def test_wordpiece_equals_transformers(wordpiece_dir, backend):
    d, lower = wordpiece_dir
    hf = _hf_bert(d, lower)
    tok = WordPieceTokenizer(str(d / "vocab.txt"), lower=lower, backend=backend)
    assert tok.backend == backend
    n_unk = 0
    for line in LINES:
        ref = hf(line, add_special_tokens=False)["input_ids"]
        assert tok.encode(line) == ref, line
        assert tok.tokenize(line) == hf.convert_ids_to_tokens(ref), line
        n_unk += ref.count(tok.unk_id)
    assert n_unk > 5  # the sample does exercise unknown words
    assert tok.encode_batch(LINES[:10]) == [tok.encode(x) for x in LINES[:10]]
    # Pairs, with and without truncation.
    rng = random.Random(0)
    for _ in range(80):
        a, b = rng.choice(LINES), rng.choice(LINES)
        m = rng.choice([None, 5, 8, 16, 33, 64])
        kw = {} if m is None else {"max_length": m, "truncation": "longest_first"}
        ref = hf(a, b, **kw)
        enc = tok.encode_pair(a, b, max_length=m)
        assert enc.ids == ref["input_ids"], (a, b, m)
        assert enc.token_types == ref["token_type_ids"], (a, b, m)
        single = hf(a, **kw)["input_ids"]
        assert tok.encode_pair(a, max_length=m).ids == single


def test_wordpiece_accents_cjk_and_long_words():
    tok = WordPieceTokenizer(SPECIALS + ["cafe", "café", "中", "文", "b" * 99, "x"], lower=True,
                             backend="python")
    assert tok.tokenize("CAFÉ 中文 " + "B" * 99 + " " + "x" * 101) == ["cafe", "中", "文", "b" * 99,
                                                                       "[UNK]"]
    cased = WordPieceTokenizer(SPECIALS + ["Café", "cafe"], lower=False, backend="python")
    assert cased.tokenize("Café cafe CAFE") == ["Café", "cafe", "[UNK]"]


def test_python_tables_match_rust_on_every_code_point():
    """The pure-Python normaliser/pre-tokenizer agrees with tokenizers' BertNormalizer +
    BertPreTokenizer on (practically) all of Unicode: each code point between letters, cased
    and uncased. (The full 0..0x10FFFF sweep was run when the tables were derived.)"""
    from tokenizers import normalizers, pre_tokenizers
    pre = pre_tokenizers.BertPreTokenizer()
    # Planes 0-3 in full (every assigned character but the tags), the tags and variation
    # selectors of plane 14, and a sample of the unassigned and private-use planes.
    cps = [c for c in range(0x40000) if not 0xD800 <= c < 0xE000]
    cps += list(range(0xE0000, 0xE1000)) + list(range(0x40000, 0x110000, 101))
    texts = ["".join(f"a{chr(c)}b{chr(c)} " for c in cps[i:i + 512]) for i in range(0, len(cps), 512)]
    for lower in (True, False):
        norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                          strip_accents=lower, lowercase=lower)
        tok = WordPieceTokenizer(["[UNK]"], lower=lower, backend="python")
        for text in texts:
            ref = [w for w, _ in pre.pre_tokenize_str(norm.normalize_str(text))]
            mine, ascii_ = tok._normalize(text)
            words = (wordpiece.ASCII_WORD_RE if ascii_ else wordpiece.unicode_tables()["word"]).findall(mine)
            assert words == ref, (lower, text[:40])


def test_encode_pair_truncation_options():
    tok = WordPieceTokenizer(SPECIALS + list("abcdefgxyz"), lower=True)
    a, b = "a b c d e f g", "x y z"
    assert tok.encode_pair(a, b, max_length=8, truncation="only_first").ids == \
        [2] + tok.encode("a b") + [3] + tok.encode("x y z") + [3]
    assert tok.encode_pair(a, b, max_length=11, truncation="only_second").ids == \
        [2] + tok.encode(a) + [3] + tok.encode("x") + [3]
    with pytest.raises(TokenizerError, match="truncation is off"):
        tok.encode_pair(a, b, max_length=6, truncation=False)
    with pytest.raises(TokenizerError, match="only_second"):
        tok.encode_pair(a, b, max_length=6, truncation="only_second")
    ids, types = tok.encode_pair(tok.encode("a b"), tok.encode("x"))  # id lists work too
    assert ids == [2, tok.token_to_id("a"), tok.token_to_id("b"), 3, tok.token_to_id("x"), 3]
    assert types == [0, 0, 0, 0, 1, 1]


def test_decode_and_special_ids(wordpiece_dir):
    d, lower = wordpiece_dir
    tok = get_tokenizer(d)
    assert tok.lower is lower
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.vocab_size == len(_make_vocab(lower))
    text = "hello, world! this is a simple sentence." if lower else SAMPLE[0]
    enc = tok.encode_pair(text)
    assert tok.decode(enc.ids) == tok.decode(tok.encode(text))
    assert tok.decode(enc.ids, skip_special_tokens=False).startswith("[CLS] ")
    assert tok.decode(tok.encode("hello world")).replace(" ", "") in ("helloworld", "Helloworld")


def test_save_load_and_assets_round_trip(wordpiece_dir, tmp_path):
    d, lower = wordpiece_dir
    tok = WordPieceTokenizer(str(d / "vocab.txt"), lower=lower)
    tok.save(tmp_path / "saved")
    again = WordPieceTokenizer.load(tmp_path / "saved")
    assets = tok.to_assets()
    assert set(assets) == {"tokenizer/vocab.txt", "tokenizer/tokenizer_config.json"}
    from_assets = zt.Tokenizer.from_assets(assets)
    hf = _hf_bert(tmp_path / "saved", lower)  # the saved folder is a Hugging Face folder too
    for line in LINES[:30]:
        ids = tok.encode(line)
        assert again.encode(line) == ids and from_assets.encode(line) == ids
        assert hf(line, add_special_tokens=False)["input_ids"] == ids
    assert again.lower is lower and from_assets.lower is lower


@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_tokenizer_travels_inside_checkpoint(tmp_path, ext):
    import mxnet as mx
    from mxnet.gluon import nn
    import checkpoints
    block = nn.Dense(2, in_units=3)
    block.initialize()
    tok = WordPieceTokenizer(_make_vocab(False), lower=False)
    path = str(tmp_path / ("model" + ext))
    checkpoints.save(block, path, config={"units": 2}, assets=tok.to_assets())
    back = get_tokenizer(path)
    assert isinstance(back, WordPieceTokenizer) and back.lower is False
    for line in SAMPLE:
        assert back.encode(line) == tok.encode(line)
    plain = str(tmp_path / ("plain" + ext))
    checkpoints.save(block, plain)
    with pytest.raises(TokenizerError, match="stores no tokenizer"):
        get_tokenizer(plain)
    if ext == ".params":  # still a plain MXNet container
        assert "weight" in mx.nd.load(path)


def test_saved_files_get_the_umask_permissions(wordpiece_dir, tmp_path):
    d, lower = wordpiece_dir
    old = os.umask(0o027)
    try:
        get_tokenizer(d).save(tmp_path / "saved")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "saved").iterdir()}
    assert modes == {"vocab.txt": 0o640, "tokenizer_config.json": 0o640}


def test_uncased_or_cased_guessed_from_bare_vocab(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(SPECIALS + ["Hello", "hello"]) + "\n")
    assert get_tokenizer(tmp_path / "vocab.txt").lower is False
    (tmp_path / "v2.txt").write_text("\n".join(SPECIALS + ["hello"]) + "\n")
    assert get_tokenizer(tmp_path / "v2.txt").lower is True
    assert get_tokenizer(tmp_path / "v2.txt", lower=False).lower is False


def _spm_corpus(path, n=1500, seed=0):
    rng = random.Random(seed)
    syll = ["ka", "to", "ri", "mu", "sen", "dal", "or", "vi", "que", "lan", "pe", "zo", "ny", "é"]
    words = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 3))) for _ in range(300)]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            sent = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
            f.write(sent.capitalize() + rng.choice([".", "!", "?", ","]) + "\n")
            if i % 7 == 6:
                f.write("\n")
    return words


def test_sentencepiece_equals_library(tmp_path):
    import sentencepiece as spm
    corpus = tmp_path / "corpus.txt"
    words = _spm_corpus(corpus)
    tok = build_vocab("sentencepiece", 300, [str(corpus)], str(tmp_path / "sp"), lower=False)
    assert isinstance(tok, SentencePieceTokenizer)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert sorted(os.listdir(tmp_path / "sp")) == ["spiece.model", "tokenizer_config.json"]
    ref = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp" / "spiece.model"))
    rng = random.Random(1)
    lines = [" ".join(rng.choice(words) for _ in range(8)) for _ in range(50)]
    lines += SAMPLE + ["unseen wordz QQQ 123", "Katori musen."]
    for line in lines:
        assert tok.encode(line) == ref.encode(line)
        assert tok.tokenize(line) == ref.encode(line, out_type=str)
    assert tok.encode_batch(lines) == [ref.encode(x) for x in lines]
    enc = tok.encode_pair(lines[0], lines[1], max_length=20)
    assert enc.ids[0] == 2 and enc.ids[-1] == 3 and len(enc.ids) <= 20
    assert enc.token_types[-1] == 1 and enc.token_types[0] == 0
    assert tok.decode(tok.encode(lines[0])) == ref.decode(ref.encode(lines[0]))
    # folder, .model file, assets and a lower-casing HF-style config all give the same model
    for other in (get_tokenizer(tmp_path / "sp"), get_tokenizer(tmp_path / "sp" / "spiece.model"),
                  zt.Tokenizer.from_assets(tok.to_assets())):
        assert other.encode(lines[3]) == tok.encode(lines[3])
    hf_dir = tmp_path / "hf"
    hf_dir.mkdir()
    (hf_dir / "spiece.model").write_bytes((tmp_path / "sp" / "spiece.model").read_bytes())
    (hf_dir / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    low = get_tokenizer(hf_dir)
    assert low.lower and low.encode("KATORI Musen") == ref.encode("katori musen")


def test_byte_level_bpe_folder(tmp_path):
    from tokenizers import ByteLevelBPETokenizer
    corpus = tmp_path / "c.txt"
    _spm_corpus(corpus, n=400)
    trainer = ByteLevelBPETokenizer()
    trainer.train([str(corpus)], vocab_size=400, min_frequency=1, show_progress=False,
                  special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    trainer.save_model(str(tmp_path))
    tok = get_tokenizer(tmp_path)
    assert isinstance(tok, ByteBPETokenizer)
    from transformers import RobertaTokenizerFast
    hf = RobertaTokenizerFast.from_pretrained(str(tmp_path))
    for a, b in [("Katori musen pe.", "Zo lan!"), ("héllo wörld", "x")]:
        assert tok.encode(a) == hf(a, add_special_tokens=False)["input_ids"]
        ref = hf(a, b)["input_ids"]
        assert tok.encode_pair(a, b).ids == ref
    assert tok.decode(tok.encode("Katori musen")) == "Katori musen"


def test_build_vocab_wordpiece_and_cli(tmp_path, capsys):
    from zoo.cli import vocab as vocab_cli
    corpus = tmp_path / "c.txt"
    _spm_corpus(corpus)
    import gzip
    with gzip.open(tmp_path / "c2.txt.gz", "wt", encoding="utf-8") as f:
        f.write("Extra words in a gzip file.\n")
    rc = vocab_cli.main(["--kind", "wordpiece", "--size", "400", str(corpus),
                         str(tmp_path / "*.gz"), "-o", str(tmp_path / "wp")])
    assert rc == 0
    assert "wordpiece vocabulary of" in capsys.readouterr().out
    vocab = (tmp_path / "wp" / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert vocab[:5] == SPECIALS and len(vocab) <= 400
    tok = get_tokenizer(tmp_path / "wp")
    assert tok.lower is True
    hf = _hf_bert(tmp_path / "wp", True)
    text = "Katori musen pe, zo lan! Extra words."
    assert tok.encode(text) == hf(text, add_special_tokens=False)["input_ids"]
    assert tok.unk_id not in tok.encode("katori")
    again = build_vocab("wordpiece", 400, [str(corpus), str(tmp_path / "*.gz")], str(tmp_path / "wp2"))
    assert again.vocab == vocab                      # deterministic
    rust = build_vocab("wordpiece", 400, [str(corpus)], str(tmp_path / "wp3"), trainer="tokenizers")
    assert rust.vocab[:5] == SPECIALS and rust.unk_id not in rust.encode("katori")
    rc = vocab_cli.main(["--kind", "wordpiece", "--size", "100", str(tmp_path / "nothing*.txt"),
                         "-o", str(tmp_path / "x")])
    assert rc == 2 and "matches no file" in capsys.readouterr().err


def test_bad_vocabularies(tmp_path):
    (tmp_path / "nounk.txt").write_text("hello\nworld\n")
    with pytest.raises(TokenizerError, match=r"nounk\.txt.*unknown token"):
        get_tokenizer(tmp_path / "nounk.txt")
    (tmp_path / "nomask.txt").write_text("[UNK]\n[PAD]\nhello\n")
    tok = get_tokenizer(tmp_path / "nomask.txt")
    assert tok.tokenize("hello there") == ["hello", "[UNK]"]  # usable for tokenize() alone
    with pytest.raises(TokenizerError, match=r"nomask\.txt.*\[CLS\]"):
        tok.encode_pair("hello")
    with pytest.raises(TokenizerError, match=r"nomask\.txt.*\[MASK\]"):
        tok.require_special_tokens()
    (tmp_path / "bad.txt").write_bytes(b"[UNK]\n\xff\xfe\n")
    with pytest.raises(TokenizerError, match=r"bad\.txt:2: .*UTF-8"):
        get_tokenizer(tmp_path / "bad.txt")
    (tmp_path / "broken.model").write_bytes(b"not a model")
    with pytest.raises(TokenizerError, match=r"broken\.model.*SentencePiece"):
        get_tokenizer(tmp_path / "broken.model")
    with pytest.raises(TokenizerError, match="no such file"):
        get_tokenizer(tmp_path / "missing.txt")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(TokenizerError, match="no tokenizer found"):
        get_tokenizer(tmp_path / "empty_dir")


# ---------------------------------------------------- ALBERT SentencePiece, RoBERTa BPE

_ALBERT_STYLES = {
    "default": None,                                               # HF: lower, strip accents
    "cased+accents": {"tokenizer_class": "AlbertTokenizer", "do_lower_case": False,
                      "keep_accents": True},
    "lower+accents": {"tokenizer_class": "AlbertTokenizerFast", "do_lower_case": True,
                      "keep_accents": True},
    "cased": {"tokenizer_class": "AlbertTokenizer", "do_lower_case": False},
    # whitespace kept as it is: only the sentencepiece-based tokenizer has this option
    "spaces kept": {"tokenizer_class": "AlbertTokenizer", "remove_space": False},
}


@pytest.fixture(scope="module")
def albert_spiece(tmp_path_factory):
    from hf_port import write_albert_spiece
    folder = tmp_path_factory.mktemp("albert_spm")
    write_albert_spiece(folder)
    return folder


@pytest.mark.parametrize("style", list(_ALBERT_STYLES))
def test_albert_sentencepiece_equals_transformers(albert_spiece, tmp_path, style):
    """ALBERT's preprocessing (lower-casing, accents, whitespace, ``quotes'', the 9,9 rule,
    literal special tokens): as transformers' sentencepiece AlbertTokenizer on every line
    (fuzz included), and as its Rust AlbertTokenizer on ordinary text."""
    import shutil
    from hf_port import TOKENIZER_TEXTS, slow_albert_tokenizer
    config = _ALBERT_STYLES[style]
    folder = tmp_path / "albert"
    folder.mkdir()
    if style == "spaces kept":          # a model whose normalizer keeps runs of spaces too
        from hf_port import write_albert_spiece
        write_albert_spiece(folder, remove_extra_whitespaces=False)
    else:
        shutil.copy(albert_spiece / "spiece.model", folder / "spiece.model")
    if config is None:       # no tokenizer_config.json (as albert-base-v2): the model's type
        (folder / "config.json").write_text(json.dumps({"model_type": "albert"}))
    else:
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    opts = {k: v for k, v in (config or {}).items()
            if k in ("do_lower_case", "keep_accents", "remove_space")}
    slow = slow_albert_tokenizer(folder, **opts)
    tok = get_tokenizer(folder)
    assert isinstance(tok, SentencePieceTokenizer) and tok.preprocess == "albert"
    assert tok.lower == opts.get("do_lower_case", True)
    assert tok.keep_accents == opts.get("keep_accents", False)
    assert tok.remove_space == opts.get("remove_space", True)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    texts = TOKENIZER_TEXTS + LINES
    for text in texts:
        assert tok.tokenize(text) == slow.tokenize(text), text
        ref = slow(text, "zo lan", return_token_type_ids=True)
        enc = tok.encode_pair(text, "zo lan")
        assert enc.ids == ref["input_ids"] and enc.token_types == ref["token_type_ids"], text
        assert tok.encode(text) == slow(text, add_special_tokens=False)["input_ids"], text
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
    assert (tok.tokenize("KATORI Zürich") == tok.tokenize("katori zurich")) == \
        (tok.lower and not tok.keep_accents)
    # the same tokenizer again from its own files and from checkpoint assets
    tok.save(tmp_path / "saved")
    for again in (get_tokenizer(tmp_path / "saved"), zt.Tokenizer.from_assets(tok.to_assets())):
        assert (again.preprocess, again.lower, again.keep_accents, again.remove_space) == \
            ("albert", tok.lower, tok.keep_accents, tok.remove_space)
        assert [again.encode(t) for t in texts] == [tok.encode(t) for t in texts]
    if not tok.remove_space:
        assert tok.tokenize("a  [MASK]") == tok.tokenize("a[MASK]")   # [MASK] eats spaces,
        assert tok.tokenize("a  [SEP]") != tok.tokenize("a[SEP]")     # [SEP] does not
        return                         # transformers 5's AlbertTokenizer always collapses

    pytest.importorskip("google.protobuf")        # transformers 5 reads spiece.model with it
    fast = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert type(fast).__name__.startswith("AlbertTokenizer")
    differ = []
    for text in TOKENIZER_TEXTS + SAMPLE:
        ref = fast(text, "zo lan", return_token_type_ids=True)
        enc = tok.encode_pair(text, "zo lan")
        if enc.ids != ref["input_ids"]:
            differ.append(text)
        assert enc.token_types == ref["token_type_ids"] or text in differ, text
    # transformers 5 builds its Rust AlbertTokenizer from spiece.model without the "9,9"
    # rule (nor the score penalty transformers 4 used in its place), so where a piece ends in
    # a digit and a comma it keeps that piece; everywhere else the two agree
    def digit_comma(text):
        pieces = slow.sp_model.encode(slow.preprocess_text(text), out_type=str)
        return any(len(p) > 1 and p[-1] == "," and p[-2].isdigit() for p in pieces)
    assert differ == [t for t in TOKENIZER_TEXTS + SAMPLE if digit_comma(t)]
    assert differ                      # the test text does exercise the rule
    # and Hugging Face reads the folder that tiezoo writes the same way
    saved = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    for text in TOKENIZER_TEXTS:
        assert saved(text)["input_ids"] == fast(text)["input_ids"], text


def test_plain_sentencepiece_stays_plain(albert_spiece, tmp_path):
    """A tiezoo-trained SentencePiece vocabulary keeps the library's own output, also after a
    save and reload (its config records the style), and the style can be asked for."""
    import sentencepiece as spm
    ref = spm.SentencePieceProcessor(model_file=str(albert_spiece / "spiece.model"))
    plain = SentencePieceTokenizer(str(albert_spiece / "spiece.model"))
    assert plain.preprocess is None
    plain.save(tmp_path / "plain")
    again = get_tokenizer(tmp_path / "plain")
    assert again.preprocess is None
    text = "He said ``katori'' 9,9 [MASK] Café"
    assert again.encode(text) == plain.encode(text) == ref.encode(text)
    albert = get_tokenizer(albert_spiece / "spiece.model", preprocess="albert", lower=True,
                           keep_accents=False)
    assert albert.tokenize("[MASK]") == ["[MASK]"] and albert.encode("Café") == \
        ref.encode("cafe")
    with pytest.raises(ValueError, match="preprocess"):
        SentencePieceTokenizer(str(albert_spiece / "spiece.model"), preprocess="xlnet")


@pytest.mark.parametrize("mask_lstrip", [True, False], ids=["published", "default"])
def test_roberta_byte_level_bpe_equals_transformers(tmp_path, mask_lstrip):
    from hf_port import TOKENIZER_TEXTS, write_roberta_tokenizer
    folder = tmp_path / "roberta"
    write_roberta_tokenizer(folder, mask_lstrip=mask_lstrip)
    tok = get_tokenizer(folder)
    assert isinstance(tok, ByteBPETokenizer) and tok.mask_lstrip is mask_lstrip
    hf = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert type(hf).__name__.startswith("RobertaTokenizer")
    texts = TOKENIZER_TEXTS + LINES + ["hello <mask> world", "x  <mask>y", "<s>a</s>"]
    for text in texts:
        assert tok.encode(text) == hf(text, add_special_tokens=False)["input_ids"], text
        assert tok.encode_pair(text).ids == hf(text)["input_ids"], text
        assert tok.encode_pair(text, "zo lan").ids == hf(text, "zo lan")["input_ids"], text
    a, b = tok.encode("katori musen"), tok.encode("zo lan")
    assert tok.encode_pair("katori musen", "zo lan").ids == \
        [tok.cls_id] + a + [tok.sep_id, tok.sep_id] + b + [tok.sep_id]       # <s> a </s></s> b </s>
    assert (tok.cls_id, tok.pad_id, tok.sep_id, tok.unk_id, tok.mask_id) == (0, 1, 2, 3, 4)
    tok.save(tmp_path / "saved")
    again = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    mine = get_tokenizer(tmp_path / "saved")
    for text in texts:
        assert again(text)["input_ids"] == hf(text)["input_ids"] == mine.encode_pair(text).ids


# ---------------------------------------------------- tokenizer.json on its own

def _keep_only(folder, *names):
    """Delete every file of ``folder`` but ``names`` (a transformers save reduced to them)."""
    for name in os.listdir(folder):
        if name not in names:
            os.remove(folder / name)
    assert sorted(os.listdir(folder)) == sorted(names)


def _assert_same_ids(tok, hf, texts, pair_texts):
    """``tok`` gives the ids of Hugging Face tokenizer ``hf``: alone, with the special tokens,
    and as pairs (truncated too)."""
    for text in texts:
        assert tok.encode(text) == hf(text, add_special_tokens=False)["input_ids"], text
        assert tok.encode_pair(text).ids == hf(text)["input_ids"], text
    rng = random.Random(5)
    for _ in range(40):
        a, b = rng.choice(pair_texts), rng.choice(pair_texts)
        m = rng.choice([None, 6, 16, 40])
        kw = {} if m is None else {"max_length": m, "truncation": "longest_first"}
        assert tok.encode_pair(a, b, max_length=m).ids == hf(a, b, **kw)["input_ids"], (a, b, m)


@pytest.mark.parametrize("with_config", [True, False], ids=["with_config", "json_only"])
def test_wordpiece_tokenizer_json_equals_transformers(wordpiece_dir, tmp_path, with_config):
    """A BERT folder as transformers 5 saves it (tokenizer.json + tokenizer_config.json, no
    vocab.txt), or its tokenizer.json alone: the same ids as BertTokenizerFast, as the
    tokenizers library's own reading of the file, and as the vocab.txt it was made from."""
    d, lower = wordpiece_dir
    hf = _hf_bert(d, lower)
    folder = tmp_path / "bert"
    hf.save_pretrained(str(folder))
    _keep_only(folder, "tokenizer.json", *(["tokenizer_config.json"] if with_config else []))
    from_vocab_txt = get_tokenizer(d)
    raw = hf_tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    for tok in (get_tokenizer(folder), get_tokenizer(folder / "tokenizer.json"),
                zt.Tokenizer.from_assets({"tokenizer/tokenizer.json":
                                          (folder / "tokenizer.json").read_bytes()})):
        assert isinstance(tok, WordPieceTokenizer)
        assert tok.lower is lower and tok.strip_accents is lower
        assert tok.vocab == from_vocab_txt.vocab
        assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
        _assert_same_ids(tok, hf, LINES, SAMPLE)
        for line in LINES:
            assert tok.encode(line) == raw.encode(line, add_special_tokens=False).ids, line
    # saved by tiezoo, it is a vocab.txt folder again
    get_tokenizer(folder).save(tmp_path / "resaved")
    assert get_tokenizer(tmp_path / "resaved").encode(SAMPLE[2]) == hf(
        SAMPLE[2], add_special_tokens=False)["input_ids"]


def test_tokenizer_json_settings_and_priority(wordpiece_dir, tmp_path):
    """tokenizer_config.json wins over tokenizer.json's normalizer, as in transformers; a
    vocabulary file in the folder wins over tokenizer.json (which is then not even read)."""
    d, lower = wordpiece_dir
    folder = tmp_path / "bert"
    _hf_bert(d, lower).save_pretrained(str(folder))
    _keep_only(folder, "tokenizer.json", "tokenizer_config.json")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["do_lower_case"] = not lower
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    hf = transformers.AutoTokenizer.from_pretrained(str(folder))
    tok = get_tokenizer(folder)
    assert tok.lower is (not lower)
    text = "Café ZÜRICH hello World"
    assert tok.encode(text) == hf(text, add_special_tokens=False)["input_ids"]
    file_alone = get_tokenizer(folder / "tokenizer.json")            # the file on its own
    assert file_alone.lower is lower and file_alone.encode(text) != tok.encode(text)
    assert get_tokenizer(folder, lower=lower).lower is lower          # overrides win over all
    both = tmp_path / "both"
    both.mkdir()
    (both / "vocab.txt").write_bytes((d / "vocab.txt").read_bytes())
    (both / "tokenizer.json").write_text("{ not json")
    assert get_tokenizer(both).vocab == _make_vocab(lower)


@pytest.mark.parametrize("merges_as", ["pairs", "strings"])
def test_byte_level_bpe_tokenizer_json_equals_transformers(tmp_path, merges_as):
    """A RoBERTa folder reduced to its tokenizer.json (merges as [a, b] pairs, as tokenizers
    >= 0.20 writes them, or as "a b" strings, as older versions did): the same ids as
    transformers' RobertaTokenizer, <mask> absorbing the space before it as tokenizer.json
    says."""
    from hf_port import TOKENIZER_TEXTS, write_roberta_tokenizer
    source = tmp_path / "roberta"
    write_roberta_tokenizer(source, mask_lstrip=True)
    hf = transformers.AutoTokenizer.from_pretrained(str(source))
    folder = tmp_path / "saved"
    hf.save_pretrained(str(folder))
    _keep_only(folder, "tokenizer.json")
    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    assert all(isinstance(m, list) for m in spec["model"]["merges"])
    if merges_as == "strings":
        spec["model"]["merges"] = [" ".join(m) for m in spec["model"]["merges"]]
        (folder / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    raw = hf_tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    texts = TOKENIZER_TEXTS + LINES + ["hello <mask> world", "x  <mask>y", "<s>a</s>"]
    for tok in (get_tokenizer(folder), get_tokenizer(folder / "tokenizer.json")):
        assert isinstance(tok, ByteBPETokenizer) and tok.mask_lstrip is True
        assert (tok.cls_id, tok.pad_id, tok.sep_id, tok.unk_id, tok.mask_id) == (0, 1, 2, 3, 4)
        assert tok.vocab_size == len(spec["model"]["vocab"])
        _assert_same_ids(tok, hf, texts, TOKENIZER_TEXTS)
        for text in texts:
            assert tok.encode(text) == raw.encode(text, add_special_tokens=False).ids, text
        assert tok.decode(tok.encode("Katori musen")) == "Katori musen"


def _wordpiece_json(**changes):
    """A small valid WordPiece tokenizer.json (as a dict), with top-level ``changes``."""
    from tokenizers import AddedToken, Tokenizer, models, normalizers, pre_tokenizers
    vocab = {t: i for i, t in enumerate(SPECIALS + ["hello", "world", "##s"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in SPECIALS])
    spec = json.loads(tok.to_str())
    spec.update(changes)
    return spec


def test_tokenizer_json_errors(tmp_path, albert_spiece):
    import re
    folder = tmp_path / "hf"
    folder.mkdir()
    path = folder / "tokenizer.json"

    def fails(content, match):
        path.write_text(content if isinstance(content, str) else json.dumps(content),
                        encoding="utf-8")
        for where in (folder, path):       # the message names the file either way
            with pytest.raises(TokenizerError, match=re.escape(str(path)) + ": .*" + match):
                get_tokenizer(where)

    spec = _wordpiece_json()
    path.write_text(json.dumps(spec))
    assert get_tokenizer(folder).tokenize("Hellos WORLD!") == ["hello", "##s", "world", "[UNK]"]
    fails('{"model": {"type": "WordPiece", ', "not valid JSON")
    fails("[1, 2]", "not a tokenizer.json")
    fails({"hello": 0, "world": 1}, "this is a vocab.json")
    fails({"version": "1.0"}, "not a tokenizer.json")
    fails(_wordpiece_json(model={"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}),
          "model type 'WordLevel' is not supported")
    fails(_wordpiece_json(model={"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0]]}),
          "Unigram tokenizer.json .* spiece.model")
    fails(_wordpiece_json(model=dict(spec["model"], vocab={"[UNK]": 0, "a": 5})),
          "model.vocab ids are not 0..1")
    fails(_wordpiece_json(pre_tokenizer={"type": "Whitespace"}), "BertPreTokenizer")
    fails(_wordpiece_json(normalizer={"type": "Lowercase"}), "BertNormalizer")
    # an added token the WordPiece tokenizer would not split out of the text as HF does
    fails(_wordpiece_json(added_tokens=spec["added_tokens"] + [
        dict(spec["added_tokens"][0], id=8, content="newword")]), "added token 'newword'")
    fails(_wordpiece_json(added_tokens=[dict(spec["added_tokens"][4], lstrip=True)]),
          "added token '\\[MASK\\]' has lstrip=true")
    bpe = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
           "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False}}
    path.write_text(json.dumps(bpe))
    assert get_tokenizer(folder).encode("ab a") == [2, 0]     # " " is not in this vocabulary
    fails(dict(bpe, pre_tokenizer={"type": "Metaspace", "replacement": "\u2581"}),
          "ByteLevel pre-tokenizer")
    fails(dict(bpe, model=dict(bpe["model"], merges=[["a", "b", "c"]])), r"model.merges\[0\]")
    fails(dict(bpe, model=dict(bpe["model"], byte_fallback=True)), "byte_fallback=True")
    # a Unigram tokenizer.json is fine next to the spiece.model it came from
    (folder / "spiece.model").write_bytes((albert_spiece / "spiece.model").read_bytes())
    path.write_text(json.dumps({"model": {"type": "Unigram", "vocab": [["<unk>", 0.0]]}}))
    assert isinstance(get_tokenizer(folder), SentencePieceTokenizer)
