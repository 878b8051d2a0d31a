"""One test over every registered model: sizes, forward shapes, hybridize, the ties, and
a with-head -> head-less -> with-head checkpoint round trip that keeps the ties.

Presets small enough to run on CI's CPUs in well under a second run as they are. Larger ones
(bert_base, bert_large, ...) are built *uninitialized* at full size, which allocates nothing,
to check every parameter shape against the published parameter count; they then run with
``num_layers`` and ``vocab_size`` overridden down, at their real width and head count.

What differs between families is data, one row of :data:`FAMILIES` each: the pretraining
heads to switch on, the parameter count formula, the ties a built model must have, the
output shapes, and any extra forward inputs. A family without a row fails here.
"""
import dataclasses
from typing import Callable

import mxnet as mx
import numpy as np
import pytest

import zoo
import toy_family  # noqa: F401  (registers the family "toy", defined outside zoo/)
from checkpoints import inspect, save, ties_of
from checkpoints._mx_compat import structural_params
from zoo import registry

RUN_FULL_BELOW = 50_000_000        # parameters; bert_medium (41M) runs as is
SHRINK = dict(num_layers=2, vocab_size=128)

# Parameter counts of Hugging Face's BertModel / RobertaModel / AlbertModel (with pooler)
# and ElectraModel at the published configurations.
PUBLISHED = {"bert_base": 109_482_240, "bert_large": 335_141_888,
             "roberta_base": 124_645_632, "roberta_large": 355_359_744,
             "albert_base": 11_683_584, "albert_large": 17_683_968,
             "albert_xlarge": 58_724_864,
             "electra_small": 13_483_008, "electra_base": 108_891_648,
             "electra_large": 334_092_288,
             # GPT2Model (transformers builds them on the meta device in tests/test_gpt2.py)
             "gpt2_small": 124_439_808, "gpt2_medium": 354_823_168,
             "gpt2_large": 774_030_080, "gpt2_xl": 1_557_611_200,
             # BartModel / T5Model (meta device builds in tests/test_bart.py, tests/test_t5.py)
             "bart_base": 139_420_416, "bart_large": 406_291_456,
             "t5_small": 60_506_624, "t5_base": 222_903_552, "t5_large": 737_668_096,
             "t5_3b": 2_851_598_336, "t5_11b": 11_307_321_344,
             "t5_v1_1_small": 60_511_616, "t5_v1_1_base": 222_903_552,
             "t5_v1_1_large": 750_251_008, "t5_v1_1_xl": 2_783_959_040,
             "t5_v1_1_xxl": 11_003_736_064}


# ----------------------------------------------------------------- per-family data

def _layer(U, I):
    """One post-LN transformer layer: q/k/v/out projections, 2 FFN Denses, 2 LayerNorms."""
    return 4 * (U * U + U) + (U * I + I) + (I * U + U) + 2 * 2 * U


def _tables(c, E):
    """Word, position and token-type tables E wide, and their LayerNorm."""
    return (c.vocab_size + c.max_length + c.type_vocab_size) * E + 2 * E


def _mlm(U, E, V):
    """MLM head: transform U -> E, LayerNorm(E), decoder bias (the weight is tied)."""
    return U * E + E + 2 * E + V


def _bert_count(c, heads):
    U = c.units
    total = _tables(c, U) + c.num_layers * _layer(U, c.hidden_size) + U * U + U
    if heads.get("use_mlm"):
        total += _mlm(U, U, c.vocab_size)
    if heads.get("use_nsp"):
        total += 2 * U + 2
    return total


def _albert_count(c, heads):
    U, E = c.units, c.embed_size
    # factorized embedding + projection; ONE layer whatever num_layers; pooler
    total = _tables(c, E) + E * U + U + _layer(U, c.hidden_size) + U * U + U
    if heads.get("use_mlm"):
        total += _mlm(U, E, c.vocab_size)
    if heads.get("use_sop"):
        total += 2 * U + 2
    return total


def _electra_count(c, heads):
    E = c.embed_size

    def encoder(U, I, L):                  # projection only when the widths differ
        return (E * U + U if E != U else 0) + L * _layer(U, I)

    total = _tables(c, E) + encoder(c.units, c.hidden_size, c.num_layers)   # no pooler
    if heads.get("use_mlm"):
        g = c.generator_config()
        total += 2 * E + encoder(g.units, g.hidden_size, g.num_layers)    # own LayerNorm
        total += _mlm(g.units, E, c.vocab_size)                           # tables shared
        total += c.units * c.units + c.units + c.units + 1                # RTD head
    return total


def _gpt2_count(c, heads):
    U, I = c.units, c.hidden_size
    # pre-LN layer: fused q|k|v, output projection, 2 FFN Denses, 2 LayerNorms; no pooler
    layer = (3 * U * U + 3 * U) + (U * U + U) + (U * I + I) + (I * U + U) + 2 * 2 * U
    total = (c.vocab_size + c.max_length) * U + c.num_layers * layer + 2 * U
    if heads.get("use_lm") and not c.tie_word_embeddings:
        total += c.vocab_size * U
    return total


def _bart_count(c, heads):
    U, I, V = c.units, c.hidden_size, c.vocab_size
    attention, norm, ffn = 4 * (U * U + U), 2 * U, (U * I + I) + (I * U + U)
    stack = (c.max_length + 2) * U + norm            # positions (offset 2) and their norm
    total = V * U + 2 * stack + c.num_layers * (attention + ffn + 2 * norm) \
        + c.decoder_layers * (2 * attention + ffn + 3 * norm)
    if heads.get("use_lm"):
        total += V + (0 if c.tie_word_embeddings else V * U)     # bias; an untied weight
    return total


def _t5_count(c, heads):
    U, I, V = c.units, c.hidden_size, c.vocab_size
    attention, norm = 4 * U * c.num_heads * c.head_dim, U       # no biases anywhere
    ffn = (2 if c.gated_activation else 1) * U * I + I * U
    stack = c.relative_attention_num_buckets * c.num_heads + norm   # bias table, final norm
    total = V * U + 2 * stack + c.num_layers * (attention + ffn + 2 * norm) \
        + c.decoder_layers * (2 * attention + ffn + 3 * norm)
    if heads.get("use_lm") and not c.tie_word_embeddings:
        total += V * U
    return total


def _seq2seq_ties(model, heads):
    ties = {"encoder.embed_tokens.weight": "word_embed.weight",
            "decoder.embed_tokens.weight": "word_embed.weight"}
    if heads.get("use_lm") and model.config.tie_word_embeddings:
        ties["lm_head.weight"] = "word_embed.weight"
    return ties


def _seq2seq_outputs(c, heads, B, L, P):
    T = L - 2
    return [(B, L, c.units), (B, T, c.units)] + ([(B, T, c.vocab_size)] if heads.get("use_lm")
                                                 else [])


def _lm_tie(model, heads):
    return {"lm_head.weight": "word_embed.weight"} if heads.get("use_lm") else {}


def _lm_outputs(c, heads, B, L, P):
    return [(B, L, c.units)] + ([(B, L, c.vocab_size)] if heads.get("use_lm") else [])


def _toy_count(c, heads):
    # word and position tables, the mixing Dense; the MLM head of heads.MLMHead
    total = (c.vocab_size + c.max_length) * c.units + c.units * c.units + c.units
    if heads.get("use_mlm"):
        total += _mlm(c.units, c.units, c.vocab_size)
    return total


def _mlm_tie(model, heads):
    return {"mlm_decoder.decoder.weight": "word_embed.weight"} if heads.get("use_mlm") else {}


def _layer_ties(model, heads):
    shared = [n[len("encoder.layers.0."):] for n in structural_params(model)
              if n.startswith("encoder.layers.0.")]
    return {**_mlm_tie(model, heads),
            **{f"encoder.layers.{i}.{rel}": f"encoder.layers.0.{rel}"
               for i in range(1, model.config.num_layers) for rel in shared}}


def _electra_ties(model, heads):
    if not heads.get("use_mlm"):
        return {}
    tables = ("word_embed.weight", "position_embed.weight", "token_type_embed.weight")
    return {**{f"generator.{t}": t for t in tables},
            "generator.mlm_decoder.decoder.weight": "word_embed.weight"}


def _pretraining_outputs(c, heads, B, L, P):
    shapes = [(B, L, c.units), (B, c.units)]
    if heads.get("use_mlm"):
        shapes.append((B, P, c.vocab_size))
    shapes += [(B, 2)] * (bool(heads.get("use_nsp")) + bool(heads.get("use_sop")))
    return shapes


def _electra_outputs(c, heads, B, L, P):
    # seq, pooled (discriminator), mlm_scores (generator), rtd_scores, corrupted inputs
    return [(B, L, c.units), (B, c.units), (B, P, c.vocab_size), (B, L), (B, L)]


def _no_inputs(c, B, P, rng):
    return []


def _replacements(c, B, P, rng):
    # fixed replacement tokens: without them the generator samples, and two runs differ
    return [rng.randint(0, c.vocab_size, size=(B, P))]


def _encoder_inputs(config, family, B, L, P, rng):
    """ids, token types, valid lengths, masked positions (P = 3) and the family's extras."""
    ids = rng.randint(0, config.vocab_size, size=(B, L))
    types = rng.randint(0, getattr(config, "type_vocab_size", 1), size=(B, L))
    valid = np.array([L, 4])
    masked = np.array([[0, 3, 8], [1, 2, 3]])
    return [ids, types, valid, masked] + family.extra_inputs(config, B, P, rng)


def _decoder_inputs(config, family, B, L, P, rng):
    """ids and valid lengths (right padding): a decoder-only model's forward contract."""
    return [rng.randint(0, config.vocab_size, size=(B, L)), np.array([L, 4])]


def _seq2seq_inputs(config, family, B, L, P, rng):
    """src, its valid lengths, decoder inputs (L - 2 long), theirs: the encoder-decoder
    forward contract."""
    T = L - 2
    return [rng.randint(0, config.vocab_size, size=(B, L)), np.array([L, 4]),
            rng.randint(0, config.vocab_size, size=(B, T)), np.array([T, 3])]


@dataclasses.dataclass(frozen=True)
class Family:
    heads: dict                       # get_model flags of the full pretraining model
    count: Callable                   # (config, heads) -> parameter count
    ties: Callable                    # (built model, heads) -> expected ties_of()
    outputs: Callable                 # (config, heads, B, L, P) -> output shapes
    extra_inputs: Callable = _no_inputs   # (config, B, P, rng) -> arrays after masked_positions
    inputs: Callable = _encoder_inputs    # (config, family, B, L, P, rng) -> forward inputs
    shrink: dict = dataclasses.field(default_factory=lambda: SHRINK)   # for large presets


FAMILIES = {
    "bert": Family(dict(use_mlm=True, use_nsp=True), _bert_count, _mlm_tie, _pretraining_outputs),
    "roberta": Family(dict(use_mlm=True), _bert_count, _mlm_tie, _pretraining_outputs),
    "albert": Family(dict(use_mlm=True, use_sop=True), _albert_count, _layer_ties,
                     _pretraining_outputs),
    "electra": Family(dict(use_mlm=True), _electra_count, _electra_ties, _electra_outputs,
                      _replacements),
    "gpt2": Family(dict(use_lm=True), _gpt2_count, _lm_tie, _lm_outputs,
                   inputs=_decoder_inputs),
    "bart": Family(dict(use_lm=True), _bart_count, _seq2seq_ties, _seq2seq_outputs,
                   inputs=_seq2seq_inputs),
    # T5 3B and 11B are wide where it costs (FFN 16384 / 65536, 32 / 128 heads of 128):
    # even one layer each would be gigabytes, so their run also narrows those two
    "t5": Family(dict(use_lm=True), _t5_count, _seq2seq_ties, _seq2seq_outputs,
                 inputs=_seq2seq_inputs,
                 shrink=dict(num_layers=1, vocab_size=128, hidden_size=256, num_heads=4)),
    # the family defined outside zoo/ (tests/toy_family.py) meets the same contract
    "toy": Family(dict(use_mlm=True), _toy_count, _mlm_tie, _pretraining_outputs),
}


# ------------------------------------------------------------------------------ test

def _build(name, **heads):
    """The model ``name`` with ``heads``, constructed but not initialized (no memory yet)."""
    family, config = registry.resolve(name)
    return family.build(config, **heads)


def _count(block):
    # collect_params() lists a shared Parameter once: tied weights are not counted twice
    return sum(int(np.prod(p.shape)) for p in block.collect_params().values())


def _inputs(config, family, B=2, L=9, P=3, seed=0):
    arrays = family.inputs(config, family, B, L, P, np.random.RandomState(seed))
    return [mx.nd.array(a) for a in arrays]


@pytest.mark.parametrize("name", zoo.list_models())
def test_registered_model(name, tmp_path):
    family = FAMILIES[registry.get_family(name).name]
    heads = family.heads
    config = zoo.get_config(name)
    full = _build(name, **heads)                       # not initialized
    assert _count(full) == family.count(config, heads)
    headless = _build(name)
    assert _count(headless) == family.count(config, {})
    if name in PUBLISHED:
        assert _count(headless) == PUBLISHED[name]

    overrides = {} if _count(full) < RUN_FULL_BELOW else family.shrink
    quiet = {f.name: 0.0 for f in dataclasses.fields(config) if f.name.endswith("dropout")}
    model = zoo.get_model(name, **quiet, **heads, **overrides)
    c = model.config
    assert ties_of(model) == family.ties(model, heads)
    plain = zoo.get_model(name, **overrides)
    assert ties_of(plain) == family.ties(plain, {})

    inputs = _inputs(c, family)
    B, L = inputs[0].shape
    P = 3
    imperative = [o.asnumpy() for o in model(*inputs)]
    assert [o.shape for o in imperative] == family.outputs(c, heads, B, L, P)
    model.hybridize()
    hybrid = [o.asnumpy() for o in model(*inputs)]
    for i, (a, b) in enumerate(zip(imperative, hybrid)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5, err_msg=f"output {i}")
    assert ties_of(model) == family.ties(model, heads)

    # with-head -> head-less -> with-head through checkpoints (.params, then .safetensors)
    ties = ties_of(model)
    # canonical parameters only: an alias is the same object (ALBERT-large: 23 of 24 layers)
    original = {n: p.data().asnumpy() for n, p in model._collect_params_with_prefix().items()
                if n not in ties}
    full_path = tmp_path / "with_head.params"
    save(model, full_path)
    stored = inspect(str(full_path))
    assert stored.ties == ties
    assert not set(ties) & {n for n, _, _ in stored.tensors}      # each tie stored once
    headless = zoo.get_model(name, pretrained=str(full_path), **overrides)
    assert ties_of(headless) == family.ties(headless, {})
    assert headless.load_report.missing == []
    headless_ties = ties_of(headless)
    for n, p in headless._collect_params_with_prefix().items():
        if n not in headless_ties:
            np.testing.assert_array_equal(p.data().asnumpy(), original[n], err_msg=n)

    headless_path = tmp_path / "headless.safetensors"
    save(headless, headless_path)
    again = zoo.get_model(name, pretrained=str(headless_path), **heads, **overrides)
    assert ties_of(again) == ties
    params = again._collect_params_with_prefix()
    for alias, canonical in ties.items():
        assert params[alias] is params[canonical]
        np.testing.assert_array_equal(params[alias].data().asnumpy(), original[canonical])
    assert not any(n in ties for n in again.load_report.missing)
    again_path = tmp_path / "again.params"
    save(again, again_path)
    assert inspect(str(again_path)).ties == ties
