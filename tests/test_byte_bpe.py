"""Byte-level BPE: GPT-2 and RoBERTa styles equal to transformers, pure Python equal to the Rust
library, vocabularies trained without the ``tokenizers`` package, the style read from files."""
import json
import os
import random
import subprocess
import sys

import pytest

from zoo.tokenizers import ByteBPETokenizer, TokenizerError, build_vocab, get_tokenizer
from zoo.tokenizers.byte_bpe import byte_chars, pre_tokenize

transformers = pytest.importorskip("transformers")
hf_tokenizers = pytest.importorskip("tokenizers")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _texts():
    from hf_port import TOKENIZER_TEXTS
    from test_tokenizers import LINES
    return TOKENIZER_TEXTS + LINES + [
        "hello <|endoftext|> world", "<|endoftext|><|endoftext|>x", "it's we'll I'M 've 'd",
        "  a  ", "x\n\n  y\t", "a <mask>b <s></s><pad><unk>", "Ünïcödé 2024 ½ Ⅻ ١٢٣ ٣.١٤"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from hf_port import _tokenizer_corpus
    from test_tokenizers import SAMPLE
    path = tmp_path_factory.mktemp("bpe_corpus") / "corpus.txt"
    path.write_text("\n".join(_tokenizer_corpus() + SAMPLE) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["gpt2", "roberta"])
def trained(request, corpus, tmp_path_factory):
    """A byte-level BPE trained by tiezoo in each layout, and transformers' reading of it."""
    layout = request.param
    folder = tmp_path_factory.mktemp(f"bpe_{layout}")
    tok = build_vocab("byte_bpe", 500, [str(corpus)], str(folder), layout=layout)
    cls = transformers.GPT2TokenizerFast if layout == "gpt2" else \
        transformers.RobertaTokenizerFast
    return layout, folder, tok, cls.from_pretrained(str(folder))


def test_trained_vocabulary_layouts(trained):
    layout, folder, tok, hf = trained
    assert sorted(os.listdir(folder)) == ["merges.txt", "tokenizer_config.json", "vocab.json"]
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == tok.vocab_size == 500 == len(hf)
    assert sorted(vocab.values()) == list(range(500))
    if layout == "gpt2":        # GPT-2: <|endoftext|> last; bos = eos = unk; nothing else
        assert (tok.bos_id, tok.eos_id, tok.unk_id) == (499,) * 3
        assert (tok.cls_id, tok.sep_id, tok.pad_id, tok.mask_id) == (None,) * 4
        assert (hf.bos_token_id, hf.eos_token_id, hf.unk_token_id) == (499,) * 3
        assert tok.add_prefix_space is False and tok.special_ids == {499}
    else:                       # RoBERTa: <s> <pad> </s> <unk> first, <mask> last
        assert (tok.cls_id, tok.pad_id, tok.sep_id, tok.unk_id, tok.mask_id) == (0, 1, 2, 3, 499)
        assert (tok.bos_id, tok.eos_id) == (0, 2)
        assert (hf.cls_token_id, hf.pad_token_id, hf.sep_token_id, hf.mask_token_id) == \
            (0, 1, 2, 499)
    # every byte is a token, so no text is ever unknown
    assert all(byte_chars(chr(b) if b < 128 else bytes([b]).decode("latin-1")) for b in range(256))
    assert all(c in vocab for c in byte_chars("".join(map(chr, range(0x20, 0x2000)))))


def test_equals_transformers(trained):
    """encode, encode_pair (truncated too) and decode as transformers' tokenizer of the same
    folder; the optional Rust backend gives the same ids."""
    layout, folder, tok, hf = trained
    rust = get_tokenizer(folder, backend="tokenizers")
    texts = _texts()
    for text in texts:
        ids = hf(text, add_special_tokens=False)["input_ids"]
        assert tok.encode(text) == ids == rust.encode(text), text
        assert tok.tokenize(text) == hf.tokenize(text) == rust.tokenize(text), text
        assert tok.encode_pair(text).ids == hf(text)["input_ids"], text
        ref = hf(text, "zo lan", return_token_type_ids=True)
        enc = tok.encode_pair(text, "zo lan")
        assert enc.ids == ref["input_ids"] and enc.token_types == ref["token_type_ids"], text
        full = tok.encode_pair(text).ids
        for skip in (True, False):
            assert tok.decode(full, skip_special_tokens=skip) == \
                hf.decode(full, skip_special_tokens=skip), text
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts] == rust.encode_batch(texts)
    rng = random.Random(0)
    for _ in range(60):
        a, b = rng.choice(texts), rng.choice(texts)
        m = rng.choice([4, 9, 16, 40])
        ref = hf(a, b, max_length=m, truncation="longest_first")["input_ids"]
        assert tok.encode_pair(a, b, max_length=m).ids == ref, (a, b, m)
    # decoding arbitrary ids: partial UTF-8 sequences, special tokens, ids past the vocabulary
    for _ in range(300):
        ids = [rng.randrange(tok.vocab_size + 3) for _ in range(rng.randint(0, 12))]
        for skip in (True, False):
            assert tok.decode(ids, skip) == hf.decode(ids, skip_special_tokens=skip), ids
    slow = (transformers.GPT2Tokenizer if layout == "gpt2" else
            transformers.RobertaTokenizer).from_pretrained(str(folder))
    assert [slow(t)["input_ids"] for t in texts] == [tok.encode_pair(t).ids for t in texts]


@pytest.mark.parametrize("trained", ["gpt2"], indirect=True)
def test_gpt2_adds_no_special_tokens(trained):
    _layout, _folder, tok, _hf = trained
    text = "katori musen"
    assert tok.encode_pair(text).ids == tok.encode(text)
    assert tok.encode_pair(text, "zo").ids == tok.encode(text) + tok.encode("zo")
    assert tok.encode("a<|endoftext|>") == tok.encode("a") + [tok.eos_id]
    with pytest.raises(TokenizerError, match="mask"):
        tok.require_special_tokens()          # not a masked-LM vocabulary: says which is absent


def test_saved_folder_and_assets_reload(trained, tmp_path):
    layout, _folder, tok, hf = trained
    tok.save(tmp_path / "saved")
    again = [get_tokenizer(tmp_path / "saved"),
             ByteBPETokenizer.from_assets(tok.to_assets())]
    hf_again = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    for text in _texts()[:40]:
        for other in again:
            assert other.style == layout and other.encode_pair(text).ids == \
                tok.encode_pair(text).ids
        assert hf_again(text)["input_ids"] == hf(text)["input_ids"]


def test_build_vocab_is_deterministic_and_needs_no_tokenizers_package(corpus, tmp_path):
    """Two runs give the same files byte for byte; a process where ``tokenizers`` cannot be
    imported trains, saves and reloads the same vocabulary."""
    build_vocab("byte_bpe", 420, [str(corpus)], str(tmp_path / "a"), layout="gpt2")
    build_vocab("byte_bpe", 420, [str(corpus)], str(tmp_path / "b"), layout="gpt2")
    code = (
        "import sys; sys.modules['tokenizers'] = None\n"
        "from zoo.tokenizers import build_vocab, get_tokenizer\n"
        f"tok = build_vocab('byte_bpe', 420, [{str(corpus)!r}], {str(tmp_path / 'c')!r},"
        " layout='gpt2')\n"
        f"print(get_tokenizer({str(tmp_path / 'c')!r}).encode('Katori musen, zo lan!'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        data = (tmp_path / "a" / name).read_bytes()
        assert data == (tmp_path / "b" / name).read_bytes() == (tmp_path / "c" / name).read_bytes()
    assert out.stdout.strip() == str(get_tokenizer(tmp_path / "a").encode("Katori musen, zo lan!"))
    merges = (tmp_path / "a" / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges[0] == "#version: 0.2" and len(merges) > 100


def test_style_comes_from_the_files(trained, tmp_path):
    """tokenizer_config's class, else a tokenizer.json's post-processor, else the special
    tokens in the vocabulary decide the style, each as transformers reads the folder."""
    layout, folder, tok, hf = trained
    text, pair = "Katori musen!", "zo lan"
    # the vocabulary alone (no tokenizer_config.json)
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("vocab.json", "merges.txt"):
        (bare / name).write_bytes((folder / name).read_bytes())
    assert get_tokenizer(bare).style == layout
    # a transformers save reduced to tokenizer.json: the post-processor says it
    hf.save_pretrained(str(tmp_path / "hf"))
    only_json = tmp_path / "json_only"
    only_json.mkdir()
    (only_json / "tokenizer.json").write_bytes((tmp_path / "hf" / "tokenizer.json").read_bytes())
    from_json = get_tokenizer(only_json)
    assert from_json.style == layout
    assert from_json.encode_pair(text, pair).ids == hf(text, pair)["input_ids"]
    # the class named in tokenizer_config.json wins over the vocabulary: a GPT-2 vocabulary
    # used RoBERTa-style (every special role played by <|endoftext|>), and the reverse
    other = tmp_path / "other"
    other.mkdir()
    for name in ("vocab.json", "merges.txt"):
        (other / name).write_bytes((folder / name).read_bytes())
    if layout == "gpt2":
        eot = "<|endoftext|>"
        config = {"tokenizer_class": "RobertaTokenizer", **{f"{r}_token": eot for r in (
            "bos", "eos", "cls", "sep", "unk", "pad", "mask")}}
        reference = transformers.RobertaTokenizerFast
        want = "roberta"
    else:
        config = {"tokenizer_class": "GPT2Tokenizer", "bos_token": "</s>", "eos_token": "</s>",
                  "unk_token": "<unk>", "pad_token": "<pad>"}
        reference = transformers.GPT2TokenizerFast
        want = "gpt2"
    (other / "tokenizer_config.json").write_text(json.dumps(config))
    mine, theirs = get_tokenizer(other), reference.from_pretrained(str(other))
    assert mine.style == want
    for a, b in [(text, None), (text, pair), ("x </s> y <|endoftext|>", "<pad>")]:
        ref = theirs(a, b, return_token_type_ids=True)
        enc = mine.encode_pair(a, b)
        assert (enc.ids, enc.token_types) == (ref["input_ids"], ref["token_type_ids"]), (a, b)
    if want == "gpt2":
        assert (mine.eos_id, mine.pad_id, mine.cls_id) == (2, 1, None)


def test_add_prefix_space_equals_transformers(trained, tmp_path):
    layout, folder, tok, _hf = trained
    cls = transformers.GPT2TokenizerFast if layout == "gpt2" else \
        transformers.RobertaTokenizerFast
    hf = cls.from_pretrained(str(folder), add_prefix_space=True)
    mine = get_tokenizer(folder, add_prefix_space=True)
    for text in _texts():
        assert mine.encode(text) == hf(text, add_special_tokens=False)["input_ids"], text


@pytest.mark.slow
def test_pre_tokenizer_classes_match_rust_on_every_code_point():
    """GPT-2's pattern with the Python tables splits text as tokenizers' ByteLevel
    pre-tokenizer does. Each code point stands after a letter, before a digit, after a
    symbol and after a space, which splits it differently for each class (letter, number,
    white space, other), on planes 0-3 in full and a sample of the others."""
    pre = hf_tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    cps = [c for c in range(0x40000) if not 0xD800 <= c < 0xE000]
    cps += list(range(0xE0000, 0xE1000)) + list(range(0x40000, 0x110000, 101))
    for i in range(0, len(cps), 2048):
        text = "".join(f"a{c}1{c}!{c} {c}'s" for c in map(chr, cps[i:i + 2048]))
        ref = [w for w, _ in pre.pre_tokenize_str(text)]
        assert [byte_chars(w) for w in pre_tokenize(text)] == ref, hex(cps[i])


def test_bad_files_name_the_file(tmp_path):
    folder = tmp_path / "bpe"
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps({"a": 0, "b": 1, "ab": 2}))
    (folder / "merges.txt").write_text("#version: 0.2\na b\nab c\n")
    with pytest.raises(TokenizerError, match=r"bpe: merges.txt line 3: 'c' is not in vocab"):
        get_tokenizer(folder)
    (folder / "merges.txt").write_text("a b c\n")
    with pytest.raises(TokenizerError, match="merges.txt line 1: expected two tokens"):
        get_tokenizer(folder)
    (folder / "vocab.json").write_text("[1, 2]")
    with pytest.raises(TokenizerError, match="vocab.json is not a {token: id} object"):
        get_tokenizer(folder)
    with pytest.raises(ValueError, match="style"):
        ByteBPETokenizer('{"a": 0}', "", style="bart")
