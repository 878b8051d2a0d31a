"""``zoo.generate`` on GPT-2: greedy and beam search give exactly the token ids of
transformers' ``generate`` (tiny random models, several seeds and prompt lengths); a batch
gives what each prompt gives alone; the key/value cache gives what recomputing the whole
sequence gives; sampling warps scores as transformers does, is reproducible with a seed, and
``top_k=1`` equals greedy; bad arguments are one clear error each.
"""
import mxnet as mx
import numpy as np
import pytest

import zoo
from hf_port import randomize_torch, requires_oracles, torch, transformers
from zoo import convert, generation
from zoo.generation import GenerationError, generate


VOCAB, POSITIONS = 97, 48
HF_CONFIG = dict(vocab_size=VOCAB, n_embd=32, n_layer=3, n_head=4, n_inner=48,
                 n_positions=POSITIONS, bos_token_id=None, eos_token_id=None,
                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
PROMPTS = [[5], [17, 3, 44, 9], [60, 2, 2, 91, 33, 8, 70, 12, 1]]


@pytest.fixture(scope="module", params=[0, 1, 2])
def pair(request, tmp_path_factory):
    """(transformers GPT2LMHeadModel, the same model converted to tiezoo) per seed."""
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**HF_CONFIG)).eval()
    randomize_torch(hf, request.param)
    folder = tmp_path_factory.mktemp("hf")
    hf.save_pretrained(str(folder))
    return hf, convert.load_source(folder).block


def _hf_generate(hf, prompt, eos_id=None, **kwargs):
    """transformers' new tokens for one prompt, cut after the first ``eos_id``."""
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = hf.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                          eos_token_id=eos_id, pad_token_id=0 if eos_id is None else eos_id,
                          early_stopping=False, **kwargs)[0, len(prompt):].tolist()
    return out[:out.index(eos_id) + 1] if eos_id in out else out


def _frequent_token(hf, prompt, max_new_tokens):
    """A token the greedy continuation produces midway: as ``eos_id`` it makes runs stop."""
    tokens = _hf_generate(hf, prompt, max_new_tokens=max_new_tokens)
    return tokens[len(tokens) // 2]


@requires_oracles
@pytest.mark.parametrize("prompt", PROMPTS, ids=["len1", "len4", "len9"])
def test_greedy_equals_transformers(pair, prompt):
    hf, model = pair
    assert generate(model, [prompt], max_new_tokens=14) == \
        [_hf_generate(hf, prompt, max_new_tokens=14)]
    eos = _frequent_token(hf, prompt, 14)
    ours = generate(model, [prompt], max_new_tokens=14, eos_id=eos)[0]
    assert ours == _hf_generate(hf, prompt, eos_id=eos, max_new_tokens=14)
    assert ours[-1] == eos and eos not in ours[:-1]


@requires_oracles
@pytest.mark.parametrize("num_beams,length_penalty", [(2, 1.0), (4, 1.0), (4, 0.5), (3, 2.0)])
@pytest.mark.parametrize("prompt", PROMPTS, ids=["len1", "len4", "len9"])
def test_beam_search_equals_transformers(pair, prompt, num_beams, length_penalty):
    hf, model = pair
    kw = dict(max_new_tokens=12, num_beams=num_beams, length_penalty=length_penalty)
    assert generate(model, [prompt], **kw) == [_hf_generate(hf, prompt, **kw)]
    eos = _frequent_token(hf, prompt, 12)
    assert generate(model, [prompt], eos_id=eos, **kw) == \
        [_hf_generate(hf, prompt, eos_id=eos, **kw)]


@requires_oracles
def test_a_batch_gives_what_each_prompt_gives_alone(pair):
    hf, model = pair
    prompts = PROMPTS + [[8, 8, 8, 8, 8, 8], [40, 41]]
    eos = _frequent_token(hf, prompts[1], 10)
    for kw in (dict(), dict(num_beams=3), dict(num_beams=2, length_penalty=0.7)):
        batch = generate(model, prompts, max_new_tokens=10, eos_id=eos, **kw)
        alone = [generate(model, [p], max_new_tokens=10, eos_id=eos, **kw)[0] for p in prompts]
        assert batch == alone, kw
    lengths = {len(t) for t in generate(model, prompts, max_new_tokens=10, eos_id=eos)}
    assert len(lengths) > 1          # rows stopped at different steps


@requires_oracles
def test_cached_decoding_equals_recomputing_the_sequence(pair):
    """The key/value cache (hybridized step graph) against plain full forwards."""
    _, model = pair
    prompts = [[3, 1, 4, 1, 5], [9, 2, 6]]
    got = generate(model, prompts, max_new_tokens=15)
    for prompt, tokens in zip(prompts, got):
        seq = list(prompt)
        for _ in range(15):
            scores = model(mx.nd.array([seq]))[1].asnumpy()[0, -1]
            seq.append(int(scores.argmax()))
        assert tokens == seq[len(prompt):]
    # the model itself, hybridized or not, still computes as before
    ids = mx.nd.array([[3, 1, 4, 1, 5]])
    before = model(ids)[1].asnumpy()
    model.hybridize()
    np.testing.assert_allclose(model(ids)[1].asnumpy(), before, atol=1e-6)
    assert generate(model, prompts, max_new_tokens=15) == got


@requires_oracles
@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 0, 1.0), (0.7, 5, 1.0),
                                                      (1.3, 0, 0.8), (0.9, 10, 0.5),
                                                      (1.0, 1, 1.0), (2.0, 0, 0.05)])
def test_sampling_warps_scores_as_transformers_does(temperature, top_k, top_p):
    from transformers.generation.logits_process import (LogitsProcessorList,
                                                        TemperatureLogitsWarper,
                                                        TopKLogitsWarper, TopPLogitsWarper)
    rng = np.random.RandomState(3)
    scores = rng.normal(0, 2, size=(6, 40)).astype(np.float32)
    scores[0, :4] = scores[0, 4]                    # ties at the top-k boundary are kept
    warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)] +
                                  ([TopKLogitsWarper(top_k)] if top_k else []) +
                                  ([TopPLogitsWarper(top_p)] if top_p < 1 else []))
    theirs = warpers(None, torch.tensor(scores)).numpy()
    ours = generation._warp(scores, temperature, top_k, top_p)
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(theirs))
    np.testing.assert_allclose(ours[np.isfinite(ours)], theirs[np.isfinite(theirs)], rtol=1e-6)


def test_draws_follow_the_distribution():
    scores = np.log(np.array([[0.5, 0.25, 0.15, 0.1, 0.0]], dtype=np.float32) + 1e-30)
    rng = np.random.default_rng(0)
    draws = np.concatenate([generation._draw(np.repeat(scores, 1000, 0), rng)
                            for _ in range(20)])
    freq = np.bincount(draws, minlength=5) / len(draws)
    np.testing.assert_allclose(freq, [0.5, 0.25, 0.15, 0.1, 0.0], atol=0.01)


@requires_oracles
def test_sampling_is_seeded_and_top_k_1_is_greedy(pair):
    _, model = pair
    kw = dict(max_new_tokens=16, do_sample=True)
    first = generate(model, PROMPTS, seed=11, **kw)
    assert generate(model, PROMPTS, seed=11, **kw) == first
    assert generate(model, PROMPTS, seed=12, **kw) != first
    greedy = generate(model, PROMPTS, max_new_tokens=16)
    assert generate(model, PROMPTS, seed=5, top_k=1, **kw) == greedy
    assert generate(model, PROMPTS, seed=5, temperature=0.5, top_k=1, **kw) == greedy
    # top-k: every sampled token is among the k best of the full-sequence scores
    prompt = PROMPTS[1]
    tokens = generate(model, [prompt], seed=3, top_k=3, **kw)[0]
    seq = list(prompt)
    for t in tokens:
        scores = model(mx.nd.array([seq]))[1].asnumpy()[0, -1]
        assert t in np.argsort(-scores)[:3]
        seq.append(t)


@requires_oracles
def test_stream_yields_what_generate_returns(pair):
    _, model = pair
    for kw in (dict(), dict(do_sample=True, seed=4, top_p=0.9)):
        assert list(generation.stream(model, PROMPTS[2], max_new_tokens=9, **kw)) == \
            generate(model, [PROMPTS[2]], max_new_tokens=9, **kw)[0]


def test_generation_after_a_vocabulary_resize():
    model = zoo.get_model("gpt2_tiny", use_lm=True)
    generate(model, [[1, 2]], max_new_tokens=3)
    zoo.resize_token_embeddings(model, 130, seed=0)
    model.word_embed.weight.data()[129] = 0.0
    with mx.autograd.pause():
        # a new token that the model now prefers: its embedding is the mean hidden state
        model.lm_head.weight.data()[129] = model.decode(mx.nd, mx.nd.array([[1, 2]]))[0, -1] * 50
    assert generate(model, [[1, 2]], max_new_tokens=1) == [[129]]


@requires_oracles
def test_bad_arguments_are_one_clear_error(pair):
    _, model = pair
    cases = [
        (dict(prompts=[list(range(POSITIONS + 1))]),
         f"prompt 0 has {POSITIONS + 1} tokens, more than the {POSITIONS} positions"),
        (dict(prompts=[[1], list(range(40))], max_new_tokens=10),
         f"prompt 1 \\(40 tokens\\) \\+ max_new_tokens=10 exceeds the {POSITIONS} positions of "
         f"the model; lower max_new_tokens to at most 8"),
        (dict(prompts=[[1, 2, VOCAB]]),
         f"prompt 0, position 2: token id {VOCAB} is not in the model's vocabulary of {VOCAB}"),
        (dict(prompts=[[1, -4]]), "token id -4 is not in"),
        (dict(num_beams=0), "num_beams must be an int >= 1, got 0"),
        (dict(prompts=[[]]), "prompt 0 is empty"),
        (dict(prompts=[3, 4]), "not one list of ids; wrap a single prompt"),
        (dict(max_new_tokens=0), "max_new_tokens must be an int >= 1"),
        (dict(eos_id=VOCAB), f"eos_id {VOCAB} is not a token id"),
        (dict(do_sample=True, temperature=0), "temperature must be > 0"),
        (dict(do_sample=True, top_p=0.0), "top_p must be in"),
        (dict(do_sample=True, num_beams=2), "beam sampling"),
    ]
    for change, message in cases:
        kw = {"prompts": [[1, 2]], "max_new_tokens": 4, **change}
        with pytest.raises(GenerationError, match=message):
            generate(model, kw.pop("prompts"), **kw)
    with pytest.raises(GenerationError, match="BertModel cannot generate"):
        generate(zoo.get_model("bert_test"), [[1]], max_new_tokens=2)
