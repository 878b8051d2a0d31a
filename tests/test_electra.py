"""ELECTRA: discriminator and generator compute what Hugging Face's compute, their embedding
tables are one set of tensors, and a pretraining checkpoint becomes a discriminator-only
finetuning model (no aliases, no warnings) and back.

Tiny random transformers models built in the test; nothing is downloaded.
"""
import dataclasses
import warnings

import mxnet as mx
import numpy as np
import pytest

import zoo
from zoo.models.electra import convert as ce
from checkpoints import inspect, load, save, ties_of
from heads import RTDLoss
from hf_port import (ATOL, assert_valid_close, attention_mask, batch, gather,
                     load_hf_state_dict, load_into_hf, nd, randomize_mx, randomize_torch,
                     to_hf_state_dict)
from zoo.models.electra import ElectraConfig, ElectraForPretraining, ElectraModel, build_electra
from hf_port import requires_oracles, torch, transformers  # noqa: F401


SHARED = dict(vocab_size=99, embedding_size=24, max_position_embeddings=64, type_vocab_size=2,
              hidden_act="gelu", layer_norm_eps=1e-12, attn_implementation="eager")
DISCRIMINATOR = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=37)
GENERATOR = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=20)
SHARED_HF = ("word_embeddings", "position_embeddings", "token_type_embeddings")


def _hf_pair():
    """A random HF discriminator and generator whose embedding tables are equal, as in
    ELECTRA pretraining (HF keeps them as two models)."""
    disc = transformers.ElectraForPreTraining(
        transformers.ElectraConfig(**SHARED, **DISCRIMINATOR)).eval()
    gen = transformers.ElectraForMaskedLM(
        transformers.ElectraConfig(**SHARED, **GENERATOR)).eval()
    randomize_torch(disc, seed=0)
    randomize_torch(gen, seed=1)
    with torch.no_grad():
        for table in SHARED_HF:
            getattr(gen.electra.embeddings, table).weight.copy_(
                getattr(disc.electra.embeddings, table).weight)
    assert gen.generator_lm_head.weight is gen.electra.embeddings.word_embeddings.weight
    return disc, gen


def _config(disc, gen=None, **changes):
    config = ElectraConfig.from_dict(ce.config_from_hf(
        disc.config.to_dict(), None if gen is None else gen.config.to_dict()))
    return dataclasses.replace(config, dropout=0.0, attention_dropout=0.0, **changes)


def _hf_seq(electra, ids, types, valid):
    with torch.no_grad():
        return electra(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                       attention_mask=torch.tensor(attention_mask(ids, valid))
                       ).last_hidden_state


def _stored(model):
    return {n for n in model._collect_params_with_prefix() if n not in ties_of(model)}


@requires_oracles
def test_hf_pretraining_pair_equivalence():
    disc, gen = _hf_pair()
    ours = build_electra(_config(disc, gen), use_mlm=True)
    ours.initialize()
    filled = load_hf_state_dict(ours, disc.state_dict(), ce, "ElectraForPreTraining")
    filled |= load_hf_state_dict(ours, gen.state_dict(), ce, "ElectraForMaskedLM")
    assert filled == _stored(ours), sorted(_stored(ours) ^ filled)
    # both projections exist: 24 -> 32 (discriminator), 24 -> 16 (generator)
    assert ours.embed_proj.weight.shape == (32, 24)
    assert ours.generator.embed_proj.weight.shape == (16, 24)

    ids, types, valid, masked = batch(SHARED["vocab_size"])
    # a replacement per (example, position), so that repeated masked positions agree
    replacements = (gather(ids, masked) * 7 + 3) % SHARED["vocab_size"]
    seq, pooled, mlm, rtd, corrupted = (
        o.asnumpy() for o in ours(*nd(ids, types, valid, masked, replacements)))

    # generator: HF ElectraForMaskedLM on the masked text
    gen_seq = _hf_seq(gen.electra, ids, types, valid)
    with torch.no_grad():
        hf_mlm = gen.generator_lm_head(gen.generator_predictions(gen_seq)).numpy()
    np.testing.assert_allclose(mlm, gather(hf_mlm, masked), atol=ATOL, rtol=0)

    # discriminator: HF ElectraForPreTraining on the corrupted text
    expected = ids.copy()
    for b in range(len(ids)):
        expected[b, masked[b]] = replacements[b]
    np.testing.assert_array_equal(corrupted, expected)
    disc_seq = _hf_seq(disc.electra, expected, types, valid)
    with torch.no_grad():
        hf_rtd = disc.discriminator_predictions(disc_seq).numpy()
    assert_valid_close(seq, disc_seq.numpy(), valid, "discriminator sequence output")
    np.testing.assert_allclose(pooled, disc_seq.numpy()[:, 0], atol=ATOL, rtol=0)
    assert_valid_close(rtd, hf_rtd, valid, "replaced token detection scores")

    # the embedding tables are one tensor each, and the generator's decoder reads it
    for name in ("word_embed", "position_embed", "token_type_embed"):
        assert getattr(ours.generator, name).weight is getattr(ours, name).weight
    assert ours.generator.mlm_decoder.decoder.weight is ours.word_embed.weight
    assert ours.generator.embed_layer_norm.gamma is not ours.embed_layer_norm.gamma


@requires_oracles
def test_round_trip_back_to_hugging_face_as_the_pair():
    disc, gen = _hf_pair()
    ours = build_electra(_config(disc, gen), use_mlm=True)
    ours.initialize()
    load_hf_state_dict(ours, disc.state_dict(), ce, "ElectraForPreTraining")
    load_hf_state_dict(ours, gen.state_dict(), ce, "ElectraForMaskedLM")
    ids, types, valid, _ = batch(SHARED["vocab_size"], seed=5)
    kw = dict(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
              attention_mask=torch.tensor(attention_mask(ids, valid)))
    for original, arch in ((disc, "ElectraForPreTraining"), (gen, "ElectraForMaskedLM")):
        hf_config = ce.config_to_hf(ours.config.to_dict(), arch)
        config = transformers.ElectraConfig(**hf_config, attn_implementation="eager")
        back = getattr(transformers, arch)(config).eval()
        load_into_hf(back, to_hf_state_dict(ours, ce, arch))
        with torch.no_grad():
            np.testing.assert_array_equal(original(**kw).logits.numpy(),
                                          back(**kw).logits.numpy())


@requires_oracles
def test_hf_electra_model_equivalence_without_projection():
    hf = transformers.ElectraModel(transformers.ElectraConfig(
        **dict(SHARED, embedding_size=32), **DISCRIMINATOR)).eval()
    randomize_torch(hf, seed=2)
    ours = build_electra(_config(hf))
    ours.initialize()
    assert not hasattr(ours, "embed_proj")
    assert load_hf_state_dict(ours, hf.state_dict(), ce, "ElectraModel") == \
        set(ours._collect_params_with_prefix())
    ids, types, valid, _ = batch(SHARED["vocab_size"], seed=1)
    seq, pooled = (o.asnumpy() for o in ours(*nd(ids, types, valid)))
    hf_seq = _hf_seq(hf, ids, types, valid).numpy()
    assert_valid_close(seq, hf_seq, valid, "sequence output")
    np.testing.assert_allclose(pooled, hf_seq[:, 0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("ext", [".params", ".safetensors"])
def test_pretraining_checkpoint_to_discriminator_and_back(tmp_path, ext):
    pre = zoo.get_model("electra_tiny", use_mlm=True, dropout=0.0, attention_dropout=0.0)
    randomize_mx(pre, seed=3)
    path = str(tmp_path / f"pretrain{ext}")
    save(pre, path)
    info = inspect(path)
    assert info.ties["generator.word_embed.weight"] == "word_embed.weight"
    assert not any(t[0] in info.ties for t in info.tensors)

    # -> the discriminator alone: no aliases, no generator, no warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        disc = zoo.get_model("electra_tiny", pretrained=path)
    assert type(disc) is ElectraModel and ties_of(disc) == {}
    assert not hasattr(disc, "generator") and not hasattr(disc, "rtd_classifier")
    report = disc.load_report
    assert not report.missing and not report.aliased
    assert set(report.unused) == {n for n in _stored(pre)
                                  if n.startswith(("generator.", "rtd_classifier."))}
    ids, types, valid, masked = batch(100, seed=4)
    # with no masked positions the discriminator reads the text as it is
    seq_pre = pre(*nd(ids, types, valid))[0].asnumpy()
    np.testing.assert_allclose(disc(*nd(ids, types, valid))[0].asnumpy(), seq_pre, atol=1e-6)

    # finetune-like change to the discriminator, save it, and back into the pretraining model
    disc.word_embed.weight.set_data(disc.word_embed.weight.data() * 2)
    disc.encoder.layers[0].ffn_1.bias.set_data(disc.encoder.layers[0].ffn_1.bias.data() + 1)
    disc_path = str(tmp_path / f"discriminator{ext}")
    save(disc, disc_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = zoo.get_model("electra_tiny", use_mlm=True, pretrained=disc_path)
    assert isinstance(back, ElectraForPretraining)
    assert ties_of(back) == ties_of(pre)
    assert back.generator.word_embed.weight is back.word_embed.weight
    assert back.generator.mlm_decoder.decoder.weight is back.word_embed.weight
    np.testing.assert_array_equal(back.generator.word_embed.weight.data().asnumpy(),
                                  disc.word_embed.weight.data().asnumpy())
    assert all(n.startswith(("generator.", "rtd_classifier.")) for n in back.load_report.missing)
    # and the generator of the original run rejoins it: one more load, from the first file
    report = load(back, path)
    assert not report.missing and not report.unused
    np.testing.assert_allclose(back(*nd(ids, types, valid))[0].asnumpy(), seq_pre, atol=1e-6)


def test_sampling_corrupts_only_masked_positions_and_trains():
    mx.random.seed(0)
    model = zoo.get_model("electra_tiny", use_mlm=True)
    ids, types, valid, masked = batch(100, seed=6)
    model.hybridize()
    loss_fn = RTDLoss()
    trainer = mx.gluon.Trainer(model.collect_params(), "adam", {"learning_rate": 3e-3})
    inputs = nd(ids, types, valid, masked)
    history = []
    for _ in range(10):
        with mx.autograd.record():
            seq, pooled, mlm, rtd, corrupted = model(*inputs)
            labels = corrupted != inputs[0]
            loss = loss_fn(rtd, labels, inputs[2]).mean()
        loss.backward()
        trainer.step(1)
        history.append(float(loss.asscalar()))
    # the discriminator learns: its loss on these corruptions falls (replacements are
    # resampled every step, so the fall is on the task, not on one fixed answer)
    assert np.mean(history[-3:]) < 0.85 * history[0], history
    changed = corrupted.asnumpy() != ids
    keep = np.ones_like(changed)
    for b in range(len(ids)):
        keep[b, masked[b]] = False
    assert not changed[keep].any()
    assert rtd.shape == ids.shape and mlm.shape == masked.shape + (100,)


def test_rtd_loss_matches_numpy():
    rng = np.random.RandomState(0)
    scores = rng.normal(size=(2, 5)).astype("float32")
    labels = rng.randint(0, 2, size=(2, 5))
    valid = np.array([5, 2])
    got = RTDLoss()(*nd(scores, labels, valid)).asnumpy()
    nll = np.log1p(np.exp(-scores)) * labels + np.log1p(np.exp(scores)) * (1 - labels)
    np.testing.assert_allclose(got, [nll[0].mean(), nll[1, :2].mean()], rtol=1e-5)


@requires_oracles
def test_name_map_and_config():
    model = build_electra(zoo.get_config("electra_tiny"), use_mlm=True)
    for name in _stored(model):
        arch = "ElectraForMaskedLM" if name.startswith("generator.") else \
            "ElectraForPreTraining"
        assert ce.hf_to_tiezoo_name(ce.tiezoo_to_hf_name(name, arch), arch) == name
    assert ce.tiezoo_to_hf_name("word_embed.weight", "ElectraForMaskedLM") == \
        "electra.embeddings.word_embeddings.weight"
    assert ce.hf_to_tiezoo_name("electra.embeddings.word_embeddings.weight",
                                "ElectraForMaskedLM") == "generator.word_embed.weight"
    assert ce.tiezoo_to_hf_name("embed_proj.weight", "ElectraModel") == \
        "embeddings_project.weight"
    # the other half of the pair has no place in an architecture: dropped, not an error
    assert ce.tiezoo_to_hf_name("generator.encoder.layers.0.ffn_1.weight", "ElectraModel") \
        is None
    assert ce.tiezoo_to_hf_name("encoder.layers.0.ffn_1.weight", "ElectraForMaskedLM") is None
    with pytest.raises(KeyError, match="generator.pooler.weight"):
        ce.tiezoo_to_hf_name("generator.pooler.weight", "ElectraForMaskedLM")
    with pytest.raises(KeyError, match="generator_lm_head.weight"):
        ce.hf_to_tiezoo_name("generator_lm_head.weight", "ElectraForPreTraining")
    disc = transformers.ElectraConfig(**SHARED, **DISCRIMINATOR).to_dict()
    gen = transformers.ElectraConfig(**SHARED, **GENERATOR).to_dict()
    ours = ElectraConfig.from_dict(ce.config_from_hf(disc, gen))
    assert (ours.embed_size, ours.units, ours.generator_units, ours.generator_num_heads,
            ours.generator_hidden_size) == (24, 32, 16, 2, 20)
    back_d = ce.config_to_hf(ours.to_dict())
    back_g = ce.config_to_hf(ours.to_dict(), "ElectraForMaskedLM")
    assert all(back_d[k] == disc[k] for k in DISCRIMINATOR)
    assert all(back_g[k] == gen[k] for k in GENERATOR)
    with pytest.raises(ValueError, match="embedding_size"):
        ce.config_from_hf(disc, dict(gen, embedding_size=8))


def test_presets_and_refused_heads():
    sizes = {n: (c.num_layers, c.units, c.num_heads, c.hidden_size, c.embed_size,
                 c.generator_units)
             for n in zoo.list_models("electra") for c in [zoo.get_config(n)]}
    assert sizes["electra_small"] == (12, 256, 4, 1024, 128, 64)
    assert sizes["electra_base"] == (12, 768, 12, 3072, 768, 256)
    assert sizes["electra_large"] == (24, 1024, 16, 4096, 1024, 256)
    for n in zoo.list_models("electra"):
        c = zoo.get_config(n)
        assert c.generator_units < c.units
    with pytest.raises(ValueError, match="next-sentence"):
        zoo.get_model("electra_tiny", use_nsp=True)
    clf = zoo.get_model("electra_tiny", task="classification", num_classes=3)
    ids, types, valid, _ = batch(100)
    assert clf(*nd(ids, types, valid)).shape == (3, 3)
