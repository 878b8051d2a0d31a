"""``zoo.generate`` on encoder-decoders (BART, T5, T5 v1.1): greedy and beam search give
exactly the token ids of transformers' ``generate`` (tiny random models, several seeds and
source lengths, batches of different lengths); the incremental decoder (encoder once, cached
decoder) gives what teacher-forced full forwards give; bad arguments are one clear error.
"""
import copy

import mxnet as mx
import numpy as np
import pytest

import zoo
from hf_port import attention_mask, requires_oracles, torch
from seq2seq_port import VOCAB, hf_bart, hf_t5
from zoo import convert
from zoo.generation import GenerationError, generate


SOURCES = [[5], [17, 3, 44, 9], [60, 4, 4, 91, 33, 8, 70, 12, 3, 50, 27, 13, 88, 6, 41, 19]]
# transformers 5's T5 generate sizes its cache by the encoder's depth (an IndexError when
# the decoder is deeper), so its generation oracles have stacks of one depth
MODELS = {"bart": lambda seed: hf_bart(seed=seed),
          "t5": lambda seed: hf_t5(seed=seed, num_decoder_layers=2),
          "t5_v1_1": lambda seed: hf_t5(seed=seed, v1_1=True, num_decoder_layers=2)}


@pytest.fixture(scope="module", params=[(m, s) for m in MODELS for s in (0, 1)],
                ids=lambda p: f"{p[0]}-seed{p[1]}")
def pair(request, tmp_path_factory):
    """(transformers model, the same model converted to tiezoo)."""
    name, seed = request.param
    hf = MODELS[name](seed)
    folder = tmp_path_factory.mktemp("hf")
    hf.save_pretrained(str(folder))
    return hf, convert.load_source(folder).block


def _hf_generate(hf, sources, eos_id=None, **kwargs):
    """transformers' new tokens per source (a padded batch), without the decoder start
    token, cut after the first ``eos_id``: forced BOS/EOS and every other default that
    tiezoo's searches do not have switched off."""
    config = copy.deepcopy(hf.generation_config)
    config.eos_token_id = eos_id
    config.forced_eos_token_id = config.forced_bos_token_id = None
    config.pad_token_id = hf.config.pad_token_id
    config.decoder_start_token_id = hf.config.decoder_start_token_id
    config.early_stopping = False
    config.do_sample = False
    for key, value in kwargs.items():
        setattr(config, key, value)
    length = max(len(s) for s in sources)
    ids = np.full((len(sources), length), hf.config.pad_token_id)
    for i, s in enumerate(sources):
        ids[i, :len(s)] = s
    valid = np.array([len(s) for s in sources])
    # transformers fills unset values (eos_token_id=None) from the model's own generation
    # config: that one is ours for the call
    model_config, hf.generation_config = hf.generation_config, config
    try:
        with torch.no_grad():
            out = hf.generate(torch.tensor(ids),
                              attention_mask=torch.tensor(attention_mask(ids, valid)),
                              generation_config=config)[:, 1:].tolist()
    finally:
        hf.generation_config = model_config
    # a row that stopped is padded to the longest: cut it after its end-of-sequence token
    return [o[:o.index(eos_id) + 1] if eos_id is not None and eos_id in o else o for o in out]


def _frequent_token(hf, source, max_new_tokens):
    """A token the greedy continuation produces midway: as ``eos_id`` it makes runs stop."""
    tokens = _hf_generate(hf, [source], max_new_tokens=max_new_tokens)[0]
    return tokens[len(tokens) // 2]


@requires_oracles
@pytest.mark.parametrize("source", SOURCES, ids=["len1", "len4", "len16"])
def test_greedy_equals_transformers(pair, source):
    hf, model = pair
    assert generate(model, [source], max_new_tokens=14) == \
        _hf_generate(hf, [source], max_new_tokens=14)
    eos = _frequent_token(hf, source, 14)
    ours = generate(model, [source], max_new_tokens=14, eos_id=eos)[0]
    assert ours == _hf_generate(hf, [source], eos_id=eos, max_new_tokens=14)[0]
    assert ours[-1] == eos and eos not in ours[:-1]


@requires_oracles
@pytest.mark.parametrize("num_beams,length_penalty", [(2, 1.0), (4, 1.0), (4, 0.5), (3, 2.0)])
@pytest.mark.parametrize("source", SOURCES, ids=["len1", "len4", "len16"])
def test_beam_search_equals_transformers(pair, source, num_beams, length_penalty):
    hf, model = pair
    kw = dict(max_new_tokens=12, num_beams=num_beams, length_penalty=length_penalty)
    assert generate(model, [source], **kw) == _hf_generate(hf, [source], **kw)
    eos = _frequent_token(hf, source, 12)
    assert generate(model, [source], eos_id=eos, **kw) == \
        _hf_generate(hf, [source], eos_id=eos, **kw)


@requires_oracles
def test_a_batch_of_different_lengths_equals_transformers_and_each_source_alone(pair):
    hf, model = pair
    sources = SOURCES + [[8, 8, 8, 8, 8, 8], [40, 41]]
    eos = _frequent_token(hf, sources[1], 10)
    for kw in (dict(), dict(num_beams=3), dict(num_beams=2, length_penalty=0.7)):
        batch = generate(model, sources, max_new_tokens=10, eos_id=eos, **kw)
        alone = [generate(model, [s], max_new_tokens=10, eos_id=eos, **kw)[0] for s in sources]
        assert batch == alone, kw
        assert batch == _hf_generate(hf, sources, eos_id=eos, max_new_tokens=10, **kw), kw


@requires_oracles
def test_cached_decoding_equals_teacher_forced_forwards(pair):
    """The encoder-once, cached, hybridized decoder against full forwards of the model."""
    _, model = pair
    sources = [[3, 1, 4, 1, 5, 9, 2, 6], [9, 2, 6]]
    got = generate(model, sources, max_new_tokens=12)
    start = model.config.decoder_start_token_id
    for source, tokens in zip(sources, got):
        seq = [start]
        for _ in range(12):
            scores = model(mx.nd.array([source]), None, mx.nd.array([seq]), None)[2]
            seq.append(int(scores.asnumpy()[0, -1].argmax()))
        assert tokens == seq[1:]


def test_generation_limits_are_one_clear_error():
    bart = zoo.get_model("bart_tiny", use_lm=True)
    limit = bart.config.max_length
    cases = [
        (bart, dict(prompts=[[4] * (limit + 1)]),
         f"source 0 has {limit + 1} tokens, more than the {limit} positions of the encoder"),
        (bart, dict(max_new_tokens=limit + 1),
         f"max_new_tokens={limit + 1} exceeds the {limit} positions of the decoder; lower it "
         f"to at most {limit}"),
        (bart, dict(prompts=[[1], []]), "source 1 is empty"),
        (bart, dict(prompts=[[1, VOCAB + 1]]), "token id 100 is not in the model's vocabulary"),
    ]
    for model, change, message in cases:
        kw = {"prompts": [[1, 2]], "max_new_tokens": 4, **change}
        with pytest.raises(GenerationError, match=message):
            generate(model, kw.pop("prompts"), **kw)
    # T5 reads relative positions: no table limits its source or its output
    t5 = zoo.get_model("t5_tiny", use_lm=True)
    assert len(generate(t5, [[4] * 200], max_new_tokens=80)[0]) == 80
    untied = zoo.get_model("t5_tiny", tie_word_embeddings=False)
    with pytest.raises(ValueError, match="untied LM head but was built without it"):
        generate(untied, [[1, 2]], max_new_tokens=2)
