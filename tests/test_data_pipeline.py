"""The pretraining data pipeline: masking statistics, determinism, sharding, resume, bad input."""
import collections
import gzip
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from zoo.data import (DataError, PretrainingPipeline, expand_files, iter_documents, iter_lines,
                      stdlib_corpus, to_ndarrays)
from zoo.tokenizers import TokenizerError, WordPieceTokenizer

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(200)]
N_DOCS = 60


def _vocab():
    # doc/sentence markers, plain words, and words split into pieces (whole-word masking)
    return (SPECIALS + [f"doc{i}" for i in range(N_DOCS)] + [f"sent{i}" for i in range(40)]
            + WORDS + ["long", "##er", "##est", "un", "##break", "##able", "."])


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer(_vocab(), lower=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three files (one gzip): documents of 1-12 sentences, 'docD sentS' then filler words."""
    d = tmp_path_factory.mktemp("corpus")
    rng = random.Random(7)
    docs = []
    for di in range(N_DOCS):
        sents = []
        for si in range(rng.randint(1, 12)):
            filler = [rng.choice(WORDS + ["longer", "longest", "unbreakable"])
                      for _ in range(rng.randint(2, 25))]
            sents.append(" ".join([f"doc{di}", f"sent{si}"] + filler) + " .")
        docs.append(sents)
    paths = [d / "a.txt", d / "b.txt.gz", d / "c.txt"]
    parts = [docs[:20], docs[20:45], docs[45:]]
    for path, part in zip(paths, parts):
        text = "\n\n\n".join("\n".join(s) for s in part) + "\n"   # extra blank lines: empty docs
        if str(path).endswith(".gz"):
            with gzip.open(path, "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            path.write_text(text, encoding="utf-8")
    return {"dir": d, "files": [str(p) for p in paths], "docs": docs,
            "glob": str(d / "*.txt*")}


def _pipe(corpus, tok, **kw):
    args = dict(batch_size=8, max_seq_length=64, task="nsp", num_epochs=1, seed=1,
                buffer_documents=16)
    args.update(kw)
    return PretrainingPipeline([corpus["glob"]], tok, **args)


def _same(b1, b2):
    return set(b1) == set(b2) and all(np.array_equal(b1[k], b2[k]) for k in b1)


def _check_batch(b, tok, max_len=64, P=None):
    B, L = b["input_ids"].shape
    assert L <= max_len and b["token_types"].shape == (B, L)
    assert b["valid_length"].shape == (B,) and b["masked_positions"].shape[0] == B
    for key in ("input_ids", "token_types", "valid_length", "masked_positions", "masked_ids"):
        assert b[key].dtype == np.int32
    assert b["masked_weights"].dtype == np.float32
    assert (b["input_ids"] >= 0).all() and (b["input_ids"] < tok.vocab_size).all()
    for r in range(B):
        n = b["valid_length"][r]
        assert (b["input_ids"][r, n:] == tok.pad_id).all()
        assert b["input_ids"][r, 0] == tok.cls_id


def test_batches_have_the_forward_contract_layout(corpus, tok):
    batches = list(_pipe(corpus, tok))
    assert batches
    for b in batches:
        _check_batch(b, tok)
        assert b["masked_positions"].shape[1] == 10  # ceil(64 * 0.15)
        assert set(np.unique(b["nsp_labels"])) <= {0, 1}
    nd = to_ndarrays(batches[0])
    assert nd["input_ids"].shape == batches[0]["input_ids"].shape
    assert nd["input_ids"].dtype == np.int32


def _originals(b):
    """input ids with the masked positions restored."""
    orig = b["input_ids"].copy()
    rows, cols = np.nonzero(b["masked_weights"])
    orig[rows, b["masked_positions"][rows, cols]] = b["masked_ids"][rows, cols]
    return orig


def test_masking_statistics(corpus, tok):
    special = np.array(sorted(tok.special_ids))
    n_cand = n_masked = n_mask_tok = n_same = n_random = 0
    for epoch_seed in range(10):
        for b in _pipe(corpus, tok, seed=epoch_seed, task=None):
            orig = _originals(b)
            valid = np.arange(orig.shape[1])[None, :] < b["valid_length"][:, None]
            cand = valid & ~np.isin(orig, special)
            n_cand += cand.sum()
            w = b["masked_weights"] > 0
            rows, cols = np.nonzero(w)
            pos = b["masked_positions"][rows, cols]
            assert cand[rows, pos].all(), "a special token or padding was masked"
            assert len(set(zip(rows, pos))) == len(rows), "a position was masked twice"
            n_masked += w.sum()
            now = b["input_ids"][rows, pos]
            n_mask_tok += (now == tok.mask_id).sum()
            n_same += (now == b["masked_ids"][rows, cols]).sum()
            n_random += ((now != tok.mask_id) & (now != b["masked_ids"][rows, cols])).sum()
            # unmasked positions are untouched
            untouched = np.ones_like(valid)
            untouched[rows, pos] = False
            assert (b["input_ids"][untouched] == orig[untouched]).all()
    assert n_masked > 6000
    assert abs(n_masked / n_cand - 0.15) < 0.01
    assert abs(n_mask_tok / n_masked - 0.80) < 0.03
    assert abs(n_random / n_masked - 0.10) < 0.02
    assert abs(n_same / n_masked - 0.10) < 0.02


def test_whole_word_masking_masks_every_piece(corpus, tok):
    start = tok.word_start_mask()
    seen_multi = 0
    batches = [b for s in range(4) for b in _pipe(corpus, tok, whole_word=True, task=None, seed=s)]
    for b in batches:
        orig = _originals(b)
        for r in range(orig.shape[0]):
            w = b["masked_weights"][r] > 0
            masked = set(b["masked_positions"][r][w].tolist())
            n = b["valid_length"][r]
            for p in masked:  # the word's pieces around p are all masked
                q = p
                while not start[orig[r, q]]:
                    q -= 1
                    assert q in masked
                q = p + 1
                while q < n and not start[orig[r, q]] and orig[r, q] not in tok.special_ids:
                    assert q in masked
                    q += 1
                    seen_multi += 1
    assert seen_multi > 20


def test_deterministic_for_a_seed(corpus, tok):
    a = list(_pipe(corpus, tok, whole_word=True))
    b = list(_pipe(corpus, tok, whole_word=True))
    assert len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    c = list(_pipe(corpus, tok, whole_word=True, seed=2))
    assert not all(_same(x, y) for x, y in zip(a, c))


def test_masks_change_between_epochs(corpus, tok):
    """Dynamic masking: the same row gets a fresh mask in the next epoch."""
    p = _pipe(corpus, tok, num_epochs=2, task=None, batch_size=1)
    batches = list(p)
    assert len(batches) % 2 == 0
    half = len(batches) // 2
    masks = [{}, {}]
    for e, part in enumerate((batches[:half], batches[half:])):
        for b in part:
            row = tuple(_originals(b)[0, :b["valid_length"][0]].tolist())
            w = b["masked_weights"][0] > 0
            masks[e][row] = tuple(b["masked_positions"][0][w].tolist())
    assert masks[0].keys() == masks[1].keys()
    differ = sum(masks[0][r] != masks[1][r] for r in masks[0])
    assert differ > 0.8 * len(masks[0])


def _corpus_tokens(corpus, tok):
    c = collections.Counter()
    for doc in corpus["docs"]:
        for s in doc:
            c.update(tok.encode(s))
    return c


def test_sharding_covers_every_example_exactly_once(corpus, tok):
    # documents
    all_docs = [d for d, _ in iter_documents(corpus["files"])]
    assert len(all_docs) == N_DOCS
    seen = []
    for k in range(4):
        seen += [d for d, _ in iter_documents(corpus["files"], num_shards=4, shard_index=k)]
    assert sorted(seen) == sorted(all_docs)
    # tokens: MLM-only packing drops nothing, so the shards' tokens add up to the corpus
    total = collections.Counter()
    for k in range(3):
        for b in _pipe(corpus, tok, task=None, num_shards=3, shard_index=k):
            orig = _originals(b)
            for r in range(orig.shape[0]):
                row = orig[r, :b["valid_length"][r]]
                total.update(t for t in row.tolist() if t not in (tok.cls_id, tok.sep_id))
    assert total == _corpus_tokens(corpus, tok)


def test_streams_lazily_and_cuts_endless_documents(tmp_path, tok):
    """A file with no blank line at all is cut into documents; the pipeline reads only what
    the first buffer needs; the shards still add up to the whole corpus."""
    rng = random.Random(5)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(3, 20))) for _ in range(3000)]
    path = tmp_path / "one_doc.txt"
    path.write_text("\n".join(lines) + "\n")
    p = PretrainingPipeline([str(path)], tok, batch_size=4, max_seq_length=32, task=None,
                            buffer_documents=2, max_document_lines=50, num_epochs=1)
    it = iter(p)
    for _ in range(15):
        next(it)
    state = p.state_dict()
    assert state["block"] >= 1
    assert 0 < state["position"]["offset"] < path.stat().st_size / 10
    want = collections.Counter(t for line in lines for t in tok.encode(line))
    got = collections.Counter()
    for k in range(2):
        for b in PretrainingPipeline([str(path)], tok, batch_size=4, max_seq_length=32,
                                     task=None, buffer_documents=3, max_document_lines=50,
                                     num_epochs=1, num_shards=2, shard_index=k):
            orig = _originals(b)
            for r in range(orig.shape[0]):
                got.update(t for t in orig[r, :b["valid_length"][r]].tolist()
                           if t not in (tok.cls_id, tok.sep_id))
    assert got == want


def test_resume_gives_the_identical_next_batch(corpus, tok):
    kw = dict(num_epochs=2, buffer_documents=7, whole_word=True, task="sop")
    reference = list(_pipe(corpus, tok, **kw))
    assert len(reference) > 20
    for k in (0, 1, 3, len(reference) // 2 - 1, len(reference) // 2 + 2, len(reference) - 1):
        p = _pipe(corpus, tok, **kw)
        it = iter(p)
        for _ in range(k):
            next(it)
        state = json.loads(json.dumps(p.state_dict()))
        q = _pipe(corpus, tok, **kw)
        q.load_state_dict(state)
        rest = list(q)
        assert len(rest) == len(reference) - k
        assert all(_same(x, y) for x, y in zip(rest, reference[k:]))
    with pytest.raises(DataError, match="seed"):
        _pipe(corpus, tok, seed=99).load_state_dict(state)


def test_nsp_and_sop_pairs(corpus, tok):
    doc_of = {tok.token_to_id(f"doc{i}"): i for i in range(N_DOCS)}
    sent_of = {tok.token_to_id(f"sent{i}"): i for i in range(40)}

    def segments(b, r):
        ids = _originals(b)[r, :b["valid_length"][r]].tolist()
        types = b["token_types"][r, :b["valid_length"][r]].tolist()
        a = [t for t, y in zip(ids, types) if y == 0]
        bb = [t for t, y in zip(ids, types) if y == 1]
        return a, bb

    counts = collections.Counter()
    for task in ("nsp", "sop"):
        for b in _pipe(corpus, tok, task=task):
            for r in range(b["input_ids"].shape[0]):
                a, bb = segments(b, r)
                assert a[0] == tok.cls_id and a[-1] == tok.sep_id and bb[-1] == tok.sep_id
                label = b["nsp_labels"][r]
                counts[task, label] += 1
                da = {doc_of[t] for t in a if t in doc_of}
                db = {doc_of[t] for t in bb if t in doc_of}
                if task == "sop":
                    assert not (da and db) or da == db    # SOP never mixes documents
                    sa = [sent_of[t] for t in a if t in sent_of]
                    sb = [sent_of[t] for t in bb if t in sent_of]
                    if sa and sb:
                        assert (max(sa) < min(sb)) == (label == 0)
                elif label == 0 and da and db:
                    assert da == db
    for task in ("nsp", "sop"):
        frac = counts[task, 1] / (counts[task, 0] + counts[task, 1])
        assert 0.3 < frac < 0.7, (task, counts)


def test_long_sentences_are_split_not_crashed(tmp_path, tok):
    path = tmp_path / "long.txt"
    path.write_text(" ".join(["w1"] * 500) + "\nw2 w3\n")
    for task in ("nsp", None):
        batches = list(PretrainingPipeline([str(path)], tok, batch_size=4, max_seq_length=32,
                                           task=task, num_epochs=1))
        assert all(b["input_ids"].shape[1] <= 32 for b in batches)
        if task is None:
            n = sum(int((_originals(b) == tok.token_to_id("w1")).sum()) for b in batches)
            assert n == 500


def test_bad_input_errors(tmp_path, tok):
    good = tmp_path / "good.txt"
    good.write_text("w1 w2 w3\nw4 w5\n\nw6 w7\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"w1 w2\nw3 \xff\xfe w4\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: not valid UTF-8"):
        list(PretrainingPipeline([str(good), str(bad)], tok, num_epochs=1))
    assert list(PretrainingPipeline([str(bad)], tok, num_epochs=1, errors="replace"))
    with pytest.raises(DataError, match=r"bad\.txt:2"):
        list(iter_lines(str(bad)))

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n   \n")
    with pytest.warns(UserWarning, match=r"empty\.txt: empty file"):
        assert list(PretrainingPipeline([str(good), str(empty)], tok, num_epochs=1))
    with pytest.raises(DataError, match="no training text"), pytest.warns(UserWarning):
        list(PretrainingPipeline([str(empty)], tok, num_epochs=1))
    with pytest.raises(DataError, match="no training text"), pytest.warns(UserWarning):
        next(iter(PretrainingPipeline([str(empty)], tok)))       # endless mode does not spin

    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"w1 w2\n" + b"x" * 5000 + b"\n")
    with pytest.raises(DataError, match=r"huge\.txt:2: line longer than 4096 bytes"):
        list(PretrainingPipeline([str(huge)], tok, num_epochs=1, max_line_bytes=4096))

    with pytest.raises(DataError, match="matches no file"):
        expand_files([str(tmp_path / "nope*.txt")])
    with pytest.raises(DataError, match="no such file"):
        expand_files([str(tmp_path / "nope.txt")])
    with pytest.raises(DataError, match="is a directory"):
        expand_files([str(tmp_path)])

    nospecial = WordPieceTokenizer(["[UNK]", "w1", "w2"], source="/x/vocab.txt")
    with pytest.raises(TokenizerError, match=r"/x/vocab\.txt.*\[CLS\]"):
        PretrainingPipeline([str(good)], nospecial)

    corrupt_gz = tmp_path / "c.txt.gz"
    payload = "\n".join(" ".join(random.Random(i).choices(WORDS, k=20)) for i in range(300))
    data = gzip.compress(payload.encode())
    corrupt_gz.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=r"c\.txt\.gz"):
        list(PretrainingPipeline([str(corrupt_gz)], tok, num_epochs=1))
    with pytest.raises(ValueError, match="shard_index"):
        PretrainingPipeline([str(good)], tok, num_shards=2, shard_index=2)


def test_stdlib_corpus_is_deterministic(tmp_path):
    a = stdlib_corpus(str(tmp_path / "a.txt"), max_bytes=30_000)
    b = stdlib_corpus(str(tmp_path / "b.txt"), max_bytes=30_000)
    assert a == b and 0 < a["bytes"] <= 30_000 and a["documents"] > 5
    text = (tmp_path / "a.txt").read_text(encoding="utf-8")
    assert text == (tmp_path / "b.txt").read_text(encoding="utf-8")
    docs = [d for d in text.split("\n\n") if d.strip()]
    assert len(docs) == a["documents"]


def _rows(batches):
    """The rows (original ids, before masking) of ``batches``, as a sorted list of tuples."""
    out = []
    for b in batches:
        orig = _originals(b)
        out += [tuple(orig[r, :b["valid_length"][r]].tolist()) for r in range(orig.shape[0])]
    return sorted(out)


@pytest.mark.parametrize("task", [None, "nsp"])
def test_one_document_corpus_trains_on_several_workers(tmp_path, tok, task):
    """A corpus that is one document (no blank line) is dealt out by sequence: each of two
    workers gets batches, together exactly the single worker's sequences; resume stays exact
    inside such a block."""
    rng = random.Random(9)
    path = tmp_path / "one_doc.txt"
    path.write_text("\n".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 20)))
                              for _ in range(300)) + "\n")
    kw = dict(batch_size=4, max_seq_length=32, task=task, num_epochs=1, seed=5)
    single = list(PretrainingPipeline([str(path)], tok, **kw))
    shards = [list(PretrainingPipeline([str(path)], tok, num_shards=2, shard_index=k, **kw))
              for k in range(2)]
    assert all(len(s) >= len(single) // 2 - 1 for s in shards)
    assert _rows(shards[0] + shards[1]) == _rows(single)
    assert not set(_rows(shards[0])) & set(_rows(shards[1]))
    p = PretrainingPipeline([str(path)], tok, num_shards=2, shard_index=1, **kw)
    it = iter(p)
    for _ in range(3):
        next(it)
    q = PretrainingPipeline([str(path)], tok, num_shards=2, shard_index=1, **kw)
    q.load_state_dict(json.loads(json.dumps(p.state_dict())))
    assert all(_same(x, y) for x, y in zip(list(q), shards[1][3:]))


def test_few_documents_many_workers_and_too_little_text(tmp_path, tok):
    """Three documents on four workers: every worker gets sequences and the four shards hold
    every token once; a corpus of one sequence on two workers names what to do."""
    rng = random.Random(2)
    docs = ["\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(40)) for _ in range(3)]
    path = tmp_path / "three.txt"
    path.write_text("\n\n".join(docs) + "\n")
    kw = dict(batch_size=2, max_seq_length=32, task=None, num_epochs=1, seed=1)
    got = collections.Counter()
    for k in range(4):
        batches = list(PretrainingPipeline([str(path)], tok, num_shards=4, shard_index=k, **kw))
        assert batches, k
        for row in _rows(batches):
            got.update(t for t in row if t not in (tok.cls_id, tok.sep_id))
    assert got == collections.Counter(t for d in docs for line in d.split("\n")
                                      for t in tok.encode(line))
    short = tmp_path / "short.txt"
    short.write_text("w1 w2 w3\n")
    assert list(PretrainingPipeline([str(short)], tok, num_shards=2, shard_index=0, **kw))
    with pytest.raises(DataError, match=r"no training text for shard 1 of 2 in 1 file\(s\): "
                                        r".*short\.txt; the corpus gives fewer training "
                                        r"sequences than workers: add text or use fewer"):
        list(PretrainingPipeline([str(short)], tok, num_shards=2, shard_index=1, **kw))


@pytest.mark.slow
def test_one_document_corpus_pretrains_on_two_distributed_workers(tmp_path, text_corpus):
    """Issue 15's run: a corpus without blank lines, a vocabulary trained on it
    (--vocab-size) and two dist_sync workers; both train, on different sequences."""
    from test_pretrain import LAUNCH, ROOT, SCRIPT, TINY
    one_doc = tmp_path / "one_doc.txt"
    lines = [x for x in text_corpus.read_text(encoding="utf-8").splitlines() if x.strip()]
    one_doc.write_text("\n".join(lines[:400]) + "\n", encoding="utf-8")
    out = tmp_path / "dist"
    args = [*TINY, "--corpus", one_doc, "--vocab-size", 300, "--max-steps", 4,
            "--save-every", 4, "--log-every", 2, "--kvstore", "dist_sync", "--output", out,
            "--dist-timeout", 120]
    proc = subprocess.run([sys.executable, LAUNCH, "-n", "2", "-s", "1", "--", sys.executable,
                           SCRIPT, *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    logs = proc.stderr
    assert proc.returncode == 0, logs[-3000:]
    assert "no training text" not in logs, logs[-3000:]
    state = json.loads((out / "checkpoints" / "step-00000004" / "state.json").read_text())
    assert state["data_by_rank"]["0"] != state["data_by_rank"]["1"], logs[-3000:]
    assert (out / "model.params").is_file(), logs
