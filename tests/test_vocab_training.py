"""Vocabulary training (``build_vocab``, ``zoo build-vocab``): SentencePiece model types and
T5's layout with sentinels equal to transformers, and one clear line for each mistake."""
import json
import os

import pytest

from zoo.cli import vocab as vocab_cli
from zoo.tokenizers import SentencePieceTokenizer, TokenizerError, build_vocab, get_tokenizer

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from hf_port import _tokenizer_corpus
    path = tmp_path_factory.mktemp("vocab_corpus") / "corpus.txt"
    path.write_text("\n".join(_tokenizer_corpus()) + "\n", encoding="utf-8")
    return path


def _texts():
    from hf_port import TOKENIZER_TEXTS
    from test_tokenizers import LINES
    return TOKENIZER_TEXTS + LINES + ["ka <extra_id_0> to<extra_id_1>ri", "a</s>b <pad> <unk>",
                                      "x <extra_id_99> y", "<extra_id_100>", "  Katori  Musen "]


@pytest.fixture(scope="module")
def t5_folder(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("t5")
    tok = build_vocab("sentencepiece", 400, [str(corpus)], str(folder), layout="t5")
    return folder, tok


def test_t5_layout_equals_transformers(t5_folder):
    """pad 0, eos 1, unk 2; 100 sentinels numbered from the end (<extra_id_0> last); encode,
    pairs and decode as transformers' T5Tokenizer of the same folder."""
    folder, tok = t5_folder
    hf = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert type(hf).__name__.startswith("T5Tokenizer")
    assert sorted(os.listdir(folder)) == ["spiece.model", "tokenizer_config.json"]
    assert tok.vocab_size == len(hf) == 400 and tok.extra_ids == 100
    assert (tok.pad_id, tok.eos_id, tok.unk_id) == (hf.pad_token_id, hf.eos_token_id,
                                                     hf.unk_token_id) == (0, 1, 2)
    assert tok.bos_id is None and tok.cls_id is None
    sentinels = [f"<extra_id_{i}>" for i in range(100)]
    assert tok.sentinel_ids == hf.convert_tokens_to_ids(sentinels) == list(range(399, 299, -1))
    assert [tok.id_to_token(i) for i in tok.sentinel_ids] == sentinels
    assert tok.token_to_id("<extra_id_7>") == 392 and set(tok.sentinel_ids) <= tok.special_ids
    for text in _texts():
        ids = hf(text, add_special_tokens=False)["input_ids"]
        assert tok.encode(text) == ids, text
        if tok.unk_id not in ids:      # an unknown piece's text is the library's, HF's differs
            assert tok.tokenize(text) == hf.tokenize(text), text
        assert tok.encode_pair(text).ids == hf(text)["input_ids"], text      # a </s>
        ref = hf(text, "zo lan", return_token_type_ids=True)                   # a </s> b </s>
        enc = tok.encode_pair(text, "zo lan")
        assert (enc.ids, enc.token_types) == (ref["input_ids"], ref["token_type_ids"]), text
        for skip in (True, False):
            assert tok.decode(enc.ids, skip) == hf.decode(enc.ids, skip_special_tokens=skip), text
    m = 12
    for a, b in [(_texts()[0], _texts()[2]), ("ka to ri", _texts()[3])]:
        assert tok.encode_pair(a, b, max_length=m).ids == \
            hf(a, b, max_length=m, truncation="longest_first")["input_ids"]


def test_t5_layout_reloads_and_counts_sentinels(t5_folder, corpus, tmp_path):
    folder, tok = t5_folder
    text = "ka <extra_id_3> tori musen"
    for again in (get_tokenizer(folder), get_tokenizer(folder / "spiece.model"),
                  SentencePieceTokenizer.from_assets(tok.to_assets())):
        assert again.preprocess == "t5" and again.extra_ids == 100
        assert again.encode_pair(text).ids == tok.encode_pair(text).ids
    # a Hugging Face T5 folder as published: spiece.model, the model type in config.json and
    # the sentinels listed as additional special tokens (7 here)
    hf_like = tmp_path / "hf"
    hf_like.mkdir()
    (hf_like / "spiece.model").write_bytes((folder / "spiece.model").read_bytes())
    (hf_like / "config.json").write_text(json.dumps({"model_type": "t5"}))
    assert get_tokenizer(hf_like).extra_ids == 100            # Hugging Face's default
    (hf_like / "tokenizer_config.json").write_text(json.dumps(
        {"extra_ids": 0, "additional_special_tokens": [f"<extra_id_{i}>" for i in range(7)]}))
    seven = get_tokenizer(hf_like)
    assert seven.preprocess == "t5" and seven.vocab_size == 307 and seven.sentinel_ids[0] == 306
    assert seven.vocab_size == len(transformers.AutoTokenizer.from_pretrained(str(hf_like)))
    small = build_vocab("sentencepiece", 300, [str(corpus)], str(tmp_path / "ten"),
                        layout="t5", extra_ids=10)
    assert small.vocab_size == 300 and small.sentinel_ids == list(range(299, 289, -1))


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_model_types(corpus, tmp_path, model_type):
    """The model type asked for is the one trained, and the tokenizer gives the library's
    own pieces for it."""
    import sentencepiece as spm
    pb2 = pytest.importorskip("sentencepiece.sentencepiece_model_pb2")
    tok = build_vocab("sentencepiece", 300, [str(corpus)], str(tmp_path / "sp"),
                      model_type=model_type, lower=False)
    proto = pb2.ModelProto()
    proto.ParseFromString((tmp_path / "sp" / "spiece.model").read_bytes())
    assert proto.trainer_spec.model_type == {"unigram": 1, "bpe": 2}[model_type]
    ref = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp" / "spiece.model"))
    for text in _texts():
        assert tok.encode(text) == ref.encode(text) and tok.tokenize(text) == \
            ref.encode(text, out_type=str)
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)


def test_model_file_honours_the_config_beside_it(t5_folder, tmp_path):
    """A spiece.model (or vocab.txt) given as a file is read with the tokenizer_config.json
    beside it, as its folder is: here its lower-casing."""
    folder, _ = t5_folder
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "spiece.model").write_bytes((folder / "spiece.model").read_bytes())
    alone = get_tokenizer(plain / "spiece.model")
    assert alone.lower is False
    (plain / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    lowered = get_tokenizer(plain / "spiece.model")
    assert lowered.lower is True and lowered.source == str(plain / "spiece.model")
    assert lowered.encode("KATORI Musen") == alone.encode("katori musen") != \
        alone.encode("KATORI Musen")
    assert get_tokenizer(plain / "spiece.model", lower=False).lower is False   # overrides win
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (plain / "vocab.txt").write_text("\n".join(specials + ["Hello", "hello"]) + "\n")
    from_file = get_tokenizer(plain / "vocab.txt")
    assert from_file.lower is True and from_file.source == str(plain / "vocab.txt")
    (plain / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    assert get_tokenizer(plain / "vocab.txt").tokenize("Hello hello") == ["Hello", "hello"]


def _cli(capsys, *argv):
    rc = vocab_cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece", "byte_bpe"])
def test_cli_trains_every_kind(corpus, tmp_path, capsys, kind):
    extra = {"wordpiece": [], "sentencepiece": ["--layout", "t5", "--extra-ids", "10"],
             "byte_bpe": ["--layout", "gpt2"]}[kind]
    rc, out, err = _cli(capsys, "--kind", kind, "--size", 300, corpus, "-o", tmp_path / "v",
                        *extra)
    assert rc == 0 and err == ""
    tok = get_tokenizer(tmp_path / "v")
    assert out == f"wrote {kind} vocabulary of {tok.vocab_size} tokens to {tmp_path / 'v'} " \
                  f"({'lower-cased' if tok.lower else 'cased'})\n"
    assert tok.vocab_size <= 300 and tok.unk_id not in tok.encode("katori musen")
    assert tok.lower is (kind == "wordpiece")             # bert layout lower-cases by default


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece", "byte_bpe"])
def test_cli_empty_corpus_is_one_line_exit_2_nothing_written(tmp_path, capsys, kind):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\n")
    rc, out, err = _cli(capsys, "--kind", kind, "--size", 300, empty, "-o", tmp_path / "v")
    assert rc == 2 and out == ""
    assert err == (f"zoo build-vocab: error: {empty}: no text to train a vocabulary on (the "
                   f"corpus is empty or holds only blank lines); give files with one sentence "
                   f"per line\n")
    assert not (tmp_path / "v").exists()


def test_cli_mistakes_are_one_line_exit_2(corpus, tmp_path, capsys):
    rc, _, err = _cli(capsys, "--kind", "sentencepiece", "--size", 5000, corpus, "-o",
                      tmp_path / "v")
    assert rc == 2 and "INTERNAL" not in err and len(err.splitlines()) == 1
    assert err.startswith(f"zoo build-vocab: error: {corpus}: too little text for a "
                          f"SentencePiece vocabulary of 5000 tokens: this corpus gives at most ")
    most = int(err.split("at most ")[1].split(";")[0])
    assert _cli(capsys, "--kind", "sentencepiece", "--size", most, corpus, "-o",
                tmp_path / "v")[0] == 0                         # the size it names works
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    rc, out, err = _cli(capsys, "--kind", "wordpiece", "--size", 300, corpus, empty, "-o",
                        tmp_path / "w")
    assert rc == 0 and err == f"zoo build-vocab: warning: {empty}: empty file (no text); skipped\n"
    for argv, message in [
            (["--kind", "wordpiece", "--layout", "t5"], "layout 't5' is not one of a wordpiece"),
            (["--kind", "byte_bpe", "--size", "100"], "too small for a byte-level BPE"),
            (["--kind", "sentencepiece", "--extra-ids", "3"], "extra_ids (sentinel tokens) "
                                                              "belong to the t5 layout"),
            (["--size", "50", str(tmp_path / "nothing*.txt")], "the pattern matches no file")]:
        rc, out, err = _cli(capsys, *(argv if "--size" in argv else argv + ["--size", "300"]),
                            corpus, "-o", tmp_path / "x")
        assert rc == 2 and message in err and len(err.splitlines()) == 1, (argv, err)


def test_empty_pretraining_corpus_with_vocab_size_names_the_corpus(tmp_path, capsys):
    from zoo.cli import pretrain
    empty = tmp_path / "corpus.txt"
    empty.write_text("\n\n")
    rc = pretrain.main(["--model", "bert_tiny", "--corpus", str(empty), "--output",
                        str(tmp_path / "run"), "--max-steps", "2", "--vocab-size", "100"])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"error: {empty}: no text to train a vocabulary on" in err
    assert "only special tokens" not in err and "Traceback" not in err


def test_byte_bpe_and_t5_sizes_count_everything(corpus, tmp_path):
    with pytest.raises(ValueError, match="extra ids"):
        build_vocab("sentencepiece", 105, [str(corpus)], str(tmp_path / "a"), layout="t5")
    with pytest.raises(TokenizerError, match="too little text"):
        build_vocab("sentencepiece", 100_000, [str(corpus)], str(tmp_path / "b"), layout="t5")
