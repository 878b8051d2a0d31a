"""``zoo.lm_data.CausalLMPipeline``: fixed-length blocks that cover the token stream exactly,
shards that partition the documents, exact resume from any batch (across buffers and
epochs), the padded last batch of a finite run, and clear errors."""
import json

import numpy as np
import pytest

import zoo
from zoo.data import DataError
from zoo.lm_data import CausalLMPipeline, end_of_text_id
from zoo.tokenizers import build_vocab


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """40 documents of 1-4 lines, and a byte-level BPE trained on them."""
    root = tmp_path_factory.mktemp("lm")
    rng = np.random.RandomState(0)
    words = ["the", "module", "returns", "a", "list", "of", "values", "when", "called",
             "Raise", "ValueError", "if", "x", "is", "negative.", "See", "also:", "é"]
    docs = [["".join(" ".join(rng.choice(words, size=rng.randint(3, 12))))
             for _ in range(rng.randint(1, 5))] for _ in range(40)]
    path = root / "docs.txt"
    path.write_text("".join("\n".join(d) + "\n\n\n" for d in docs))
    tok = build_vocab("byte_bpe", 300, [str(path)], str(root / "vocab"), layout="gpt2")
    return path, docs, tok


def _stream(docs, tok):
    eos = tok.eos_id
    return [t for d in docs for t in tok.encode("\n".join(d)) + [eos]]


def _pipe(corpus, **kw):
    path, _, tok = corpus
    options = dict(batch_size=3, max_seq_length=8, num_epochs=1, shuffle=False)
    options.update(kw)
    return CausalLMPipeline([str(path)], tok, **options)


def _rows(batches):
    """(inputs, labels) of every real position, row by row, in batch order."""
    out = []
    for b in batches:
        for i, n in enumerate(b["valid_length"]):
            assert b["label_weights"][i, :n].all() and not b["label_weights"][i, n:].any()
            out.append((list(b["input_ids"][i, :n]), list(b["labels"][i, :n])))
    return out


def test_blocks_cover_the_token_stream_once(corpus):
    _, docs, tok = corpus
    stream = _stream(docs, tok)
    batches = list(_pipe(corpus))
    assert all(b["input_ids"].shape[1] == 8 for b in batches)
    assert [len(b["valid_length"]) for b in batches[:-1]] == [3] * (len(batches) - 1)
    rows = _rows(batches)
    assert [t for inputs, _ in rows for t in inputs] == stream[:-1]
    assert [t for _, labels in rows for t in labels] == stream[1:]   # every token a target once
    assert rows[-1][0] and len(rows[-1][0]) <= 8
    assert end_of_text_id(tok) == tok.eos_id == tok.token_to_id("<|endoftext|>")
    kept = _rows(_pipe(corpus, drop_last=True))
    assert all(len(inputs) == 8 for inputs, _ in kept) and len(kept) % 3 == 0
    assert kept == rows[:len(kept)]


def test_shards_partition_the_documents(corpus):
    _, docs, tok = corpus
    for k in range(3):
        rows = _rows(_pipe(corpus, num_shards=3, shard_index=k))
        stream = _stream(docs[k::3], tok)
        assert [t for _, labels in rows for t in labels] == stream[1:]


def test_resume_from_any_batch_is_exact(corpus):
    options = dict(num_epochs=None, shuffle=True, seed=4, buffer_documents=7, batch_size=5,
                   max_seq_length=16)
    straight, states = [], []
    pipe = _pipe(corpus, **options)
    for batch in pipe:
        straight.append(batch)
        states.append(json.loads(json.dumps(pipe.state_dict())))
        if len(straight) == 120:           # several buffers and epochs
            break
    assert states[-1]["epoch"] >= 2 and len({s["buffer"] for s in states}) > 3
    for k in (0, 1, 6, 31, 77, 118):
        again = _pipe(corpus, **options)
        again.load_state_dict(states[k])
        for expect, batch in zip(straight[k + 1:k + 15], again):
            for key in expect:
                np.testing.assert_array_equal(batch[key], expect[key], err_msg=f"{k} {key}")
    other = next(iter(_pipe(corpus, **dict(options, seed=5))))
    assert not np.array_equal(other["input_ids"], straight[0]["input_ids"])


def test_resume_within_the_padded_end_of_a_finite_run(corpus):
    _, docs, tok = corpus
    targets = len(_stream(docs, tok)) - 1
    L = next(n for n in range(8, 20) if targets % n)          # the stream ends mid-block
    options = dict(batch_size=2, max_seq_length=L, shuffle=True, seed=1)
    pipe = _pipe(corpus, **options)
    batches, states = [], []
    for batch in pipe:
        batches.append(batch)
        states.append(pipe.state_dict())
    assert batches[-1]["valid_length"].min() == targets % L       # the padded tail
    again = _pipe(corpus, **options)
    again.load_state_dict(states[-3])
    rest = list(again)
    assert len(rest) == 2
    for a, b in zip(rest, batches[-2:]):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_bad_input_is_a_clear_error(corpus, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="no text in"):
        next(iter(CausalLMPipeline([str(empty)], corpus[2], batch_size=2)))
    with pytest.raises(DataError, match="no such file"):
        CausalLMPipeline([str(tmp_path / "missing.txt")], corpus[2])
    wordpiece = zoo.tokenizers.WordPieceTokenizer(["[UNK]", "a", "b"])
    with pytest.raises(DataError, match="no end-of-text token"):
        CausalLMPipeline([str(corpus[0])], wordpiece)
    with pytest.raises(DataError, match="not a causal-LM pipeline state"):
        _pipe(corpus).load_state_dict({"epoch": 0})
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        _pipe(corpus, batch_size=0)

