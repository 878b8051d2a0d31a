"""Denoising data for encoder-decoders (zoo.seq2seq_data): T5's span corruption (15 % noise in
spans of mean length 3, sentinels from the end of the vocabulary, sentinel-delimited targets)
and BART's text infilling (Poisson(3) spans over 30 % of the tokens, one mask per span) with
sentence permutation; batches of fixed shapes, sharded, resumable exactly."""
import itertools

import mxnet as mx
import numpy as np
import pytest

from zoo.data import DataError
from zoo.seq2seq_data import (DenoisingPipeline, SpanCorruption, TextInfilling, decoder_inputs,
                              span_corruption, span_noise_mask, text_infilling)
from zoo.tokenizers import build_vocab


@pytest.fixture(scope="module")
def spm(tmp_path_factory, text_corpus):
    """T5's layout: <pad> </s> <unk>, the pieces, 100 sentinels <extra_id_N> at the end."""
    return build_vocab("sentencepiece", 500, [str(text_corpus)],
                       str(tmp_path_factory.mktemp("spm")), layout="t5")


@pytest.fixture(scope="module")
def bpe(tmp_path_factory, text_corpus):
    """BART's (RoBERTa's) layout: <s> <pad> </s> <unk>, the pieces, <mask> last."""
    return build_vocab("byte_bpe", 500, [str(text_corpus)], str(tmp_path_factory.mktemp("bpe")),
                       layout="roberta")


def _spans(mask):
    """Lengths of the runs of True in ``mask``."""
    return [len(list(g)) for k, g in itertools.groupby(mask) if k]


def test_span_noise_mask_has_t5s_density_and_span_length():
    rng = np.random.default_rng(0)
    masks = [span_noise_mask(114, 0.15, 3.0, rng) for _ in range(400)]
    for m in masks:
        assert m.sum() == 17 and len(_spans(m)) == 6          # round(114*.15), round(17/3)
        assert not m[0] and m[-1]                             # kept span first, noise last
    lengths = [n for m in masks for n in _spans(m)]
    assert abs(np.mean(lengths) - 17 / 6) < 1e-9
    # where the spans fall varies: every position is noise in some masks and kept in others
    coverage = np.mean(masks, axis=0)
    assert coverage[1:-1].min() > 0 and coverage[1:-1].max() < 1


def test_span_corruption_input_and_target_rebuild_the_text():
    tokens = list(range(100, 130))
    mask = np.zeros(30, dtype=bool)
    mask[[3, 4, 10, 20, 21, 22, 29]] = True
    sentinels = [99, 98, 97, 96]
    source, target = span_corruption(tokens, mask, sentinels, eos_id=1)
    assert source == tokens[:3] + [99] + tokens[5:10] + [98] + tokens[11:20] + [97] + \
        tokens[23:29] + [96, 1]
    assert target == [99, 103, 104, 98, 110, 97, 120, 121, 122, 96, 129, 1]
    # filling each sentinel of the input with its span gives the text back
    spans = {}
    for s in sentinels:
        start = target.index(s) + 1
        stop = next((i for i in range(start, len(target)) if target[i] in sentinels + [1]))
        spans[s] = target[start:stop]
    rebuilt = [t for x in source[:-1] for t in (spans[x] if x in spans else [x])]
    assert rebuilt == tokens


def test_span_corruption_objective_fits_its_lengths_and_numbers_sentinels_from_the_end(spm):
    objective = SpanCorruption(spm, 64)
    assert objective.source_length == 64
    assert objective.sentinels[:3] == [spm.vocab_size - 1, spm.vocab_size - 2,
                                       spm.vocab_size - 3]
    assert [spm.id_to_token(i) for i in objective.sentinels[:2]] == ["<extra_id_0>",
                                                                      "<extra_id_1>"]
    rng = np.random.default_rng(3)
    segment = list(range(10, 10 + objective.raw_length))
    source, target = objective.corrupt(segment, rng)
    assert len(source) == objective.source_length and len(target) == objective.target_length
    assert source[-1] == target[-1] == objective.eos_id
    assert target[0] == objective.sentinels[0]


def test_text_infilling_masks_about_thirty_percent_in_poisson_spans():
    rng = np.random.default_rng(1)
    tokens = list(range(10, 210))
    masked_fraction, spans = [], []
    for _ in range(200):
        out = text_infilling(tokens, rng, mask_id=4)
        kept = [t for t in out if t != 4]
        assert kept == sorted(kept) and set(kept) <= set(tokens)   # the rest, in order
        masked_fraction.append(1 - len(kept) / len(tokens))
        assert all(a != 4 or b != 4 for a, b in zip(out, out[1:]))  # one mask per span
        spans.append(sum(t == 4 for t in out))
    # spans may overlap and merge, so a little under the 30 % budget on average
    assert 0.22 < np.mean(masked_fraction) <= 0.30
    # 60 tokens in spans of mean 3 (zero-length ones insert a mask): ~20 masks per text
    assert 14 < np.mean(spans) < 24


def test_text_infilling_objective_permutes_sentences_and_targets_the_original(bpe):
    objective = TextInfilling(bpe, 64)
    sentences = [bpe.encode(s) for s in ("First one here.", "Then the second.", "A third.")]
    orders = set()
    for seed in range(30):
        source, target = objective.corrupt(sentences, np.random.default_rng(seed))
        assert target == [bpe.cls_id] + [t for s in sentences for t in s] + [bpe.sep_id]
        assert source[0] == bpe.cls_id and source[-1] == bpe.sep_id
        kept = [t for t in source[1:-1] if t != bpe.mask_id]
        position = {s[0]: i for i, s in enumerate(sentences)}
        orders.add(tuple(sorted((i for i in position.values() if sentences[i][0] in kept),
                                key=lambda i: kept.index(sentences[i][0]))))
    assert len(orders) > 2                               # sentence order varies with the seed
    with pytest.raises(DataError, match="needs a mask token"):
        TextInfilling(_NoMask(), 64)


class _NoMask:
    mask_id, source = None, "<a vocabulary without a mask token>"


@pytest.mark.parametrize("kind", ["t5", "bart"])
def test_pipeline_batches_have_fixed_shapes_and_resume_exactly(kind, spm, bpe, text_corpus):
    tok = spm if kind == "t5" else bpe
    objective = (SpanCorruption if kind == "t5" else TextInfilling)(tok, 48)

    def pipe(**kw):
        return DenoisingPipeline([str(text_corpus)], tok, objective, batch_size=6,
                                 buffer_documents=40, seed=2, **kw)
    first = pipe()
    batches, states = [], []
    for batch in itertools.islice(first, 12):
        batches.append(batch)
        states.append(first.state_dict())
    S, T = objective.source_length, objective.target_length
    for b in batches:
        assert b["input_ids"].shape == (6, S) and b["labels"].shape == (6, T)
        for row in range(6):
            n, m = b["valid_length"][row], b["decoder_valid_length"][row]
            assert b["input_ids"][row, n:].sum() == 0 and b["label_weights"][row, :m].all()
            assert b["label_weights"][row, m:].sum() == 0
    for k in (0, 4, 9):
        again = pipe()
        again.load_state_dict(states[k])
        for want, got in zip(batches[k + 1:], itertools.islice(again, 12 - k - 1)):
            for key in want:
                np.testing.assert_array_equal(want[key], got[key], err_msg=key)


class _WholeDocuments:
    """An objective that keeps each document as it is: what the shards read, made visible."""
    source_length = target_length = 4096

    def segments(self, documents):
        return [[t for sentence in doc for t in sentence] for doc in documents]

    def corrupt(self, segment, rng):
        return segment, segment


def test_shards_read_disjoint_documents_that_cover_the_corpus(spm, text_corpus):
    def documents(**kw):
        pipe = DenoisingPipeline([str(text_corpus)], spm, _WholeDocuments(), batch_size=7,
                                 buffer_documents=30, num_epochs=1, **kw)
        return [tuple(r[:n]) for b in pipe for r, n in zip(b["labels"], b["decoder_valid_length"])]
    everything = documents()
    shards = [documents(num_shards=2, shard_index=i) for i in range(2)]
    assert sorted(shards[0] + shards[1]) == sorted(everything)
    assert abs(len(shards[0]) - len(shards[1])) <= 1


def test_decoder_inputs_shift_the_target_behind_the_start_token():
    labels = mx.nd.array([[5, 6, 7, 1], [8, 1, 0, 0]])
    np.testing.assert_array_equal(decoder_inputs(mx.nd, labels, 2).asnumpy(),
                                  [[2, 5, 6, 7], [2, 8, 1, 0]])
