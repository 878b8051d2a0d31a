"""ALBERT computes what Hugging Face's computes; its shared layer is stored once.

Tiny random transformers models built in the test; nothing is downloaded.
"""
import dataclasses
import os
import warnings

import mxnet as mx
import numpy as np
import pytest

import zoo
from zoo.models.albert import convert as ca
from checkpoints import inspect, load, save, ties_of
from checkpoints.ties import declared_ties
from hf_port import (ATOL, assert_valid_close, attention_mask, batch, gather,
                     load_hf_state_dict, load_into_hf, nd, randomize_mx, randomize_torch,
                     to_hf_state_dict)
from zoo.models.albert import AlbertConfig, AlbertModel, build_albert
from hf_port import requires_oracles, torch, transformers  # noqa: F401


HF_SIZES = dict(vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=3,
                num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                type_vocab_size=2)


def _hf(cls, hidden_act="gelu_new"):
    config = transformers.AlbertConfig(**HF_SIZES, hidden_act=hidden_act, layer_norm_eps=1e-12,
                                       attn_implementation="eager")
    model = cls(config).eval()
    randomize_torch(model)
    return model


def _ours_like(hf_model, **flags):
    config = AlbertConfig.from_dict(ca.config_from_hf(hf_model.config.to_dict()))
    config = dataclasses.replace(config, dropout=0.0, attention_dropout=0.0)
    model = build_albert(config, **flags)
    model.initialize()
    return model


def _hf_run(hf_model, ids, types, valid):
    backbone = getattr(hf_model, "albert", hf_model)
    with torch.no_grad():
        out = backbone(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                       attention_mask=torch.tensor(attention_mask(ids, valid)))
    pooled = out.pooler_output.numpy() if out.pooler_output is not None else None
    return out.last_hidden_state, pooled


def _stored(model):
    """Canonical parameter names: what a checkpoint of ``model`` holds."""
    return {n for n in model._collect_params_with_prefix() if n not in ties_of(model)}


@requires_oracles
def test_hf_albert_for_pretraining_equivalence():
    hf = _hf(transformers.AlbertForPreTraining)
    ours = _ours_like(hf, use_mlm=True, use_sop=True)
    filled = load_hf_state_dict(ours, hf.state_dict(), ca, "AlbertForPreTraining")
    assert filled == _stored(ours), sorted(_stored(ours) ^ filled)

    ids, types, valid, masked = batch(HF_SIZES["vocab_size"])
    seq, pooled, mlm, sop = (o.asnumpy() for o in ours(*nd(ids, types, valid, masked)))
    hf_seq, hf_pooled = _hf_run(hf, ids, types, valid)
    with torch.no_grad():
        hf_mlm = gather(hf.predictions(hf_seq).numpy(), masked)
        hf_sop = hf.sop_classifier(torch.tensor(hf_pooled)).numpy()
    assert_valid_close(seq, hf_seq.numpy(), valid, "sequence output")
    np.testing.assert_allclose(pooled, hf_pooled, atol=ATOL, rtol=0)
    np.testing.assert_allclose(mlm, hf_mlm, atol=ATOL, rtol=0)
    np.testing.assert_allclose(sop, hf_sop, atol=ATOL, rtol=0)
    # one tensor for the MLM tie, one layer for all layers
    assert ours.mlm_decoder.decoder.weight is ours.word_embed.weight
    layers = ours.encoder.layers
    assert all(layers[i].ffn_1.weight is layers[0].ffn_1.weight for i in range(len(layers)))


@requires_oracles
def test_hf_albert_masked_lm_and_model_equivalence():
    hf = _hf(transformers.AlbertForMaskedLM)
    ours = _ours_like(hf, use_mlm=True)
    filled = load_hf_state_dict(ours, hf.state_dict(), ca, "AlbertForMaskedLM")
    assert filled == {n for n in _stored(ours) if not n.startswith("pooler.")}
    ids, types, valid, masked = batch(HF_SIZES["vocab_size"], seed=1)
    seq, _, mlm = (o.asnumpy() for o in ours(*nd(ids, types, valid, masked)))
    hf_seq, _ = _hf_run(hf, ids, types, valid)
    with torch.no_grad():
        hf_mlm = gather(hf.predictions(hf_seq).numpy(), masked)
    assert_valid_close(seq, hf_seq.numpy(), valid, "sequence output")
    np.testing.assert_allclose(mlm, hf_mlm, atol=ATOL, rtol=0)

    hf = _hf(transformers.AlbertModel, hidden_act="gelu")      # the exact GELU maps too
    ours = _ours_like(hf)
    assert ours.config.activation == "gelu"
    assert load_hf_state_dict(ours, hf.state_dict(), ca, "AlbertModel") == _stored(ours)
    seq, pooled = (o.asnumpy() for o in ours(*nd(ids, types, valid)))
    hf_seq, hf_pooled = _hf_run(hf, ids, types, valid)
    assert_valid_close(seq, hf_seq.numpy(), valid, "sequence output")
    np.testing.assert_allclose(pooled, hf_pooled, atol=ATOL, rtol=0)


@requires_oracles
@pytest.mark.parametrize("arch", ["AlbertForPreTraining", "AlbertForMaskedLM", "AlbertModel"])
def test_round_trip_back_to_hugging_face(arch):
    hf = _hf(getattr(transformers, arch))
    flags = {k: v for k, v in ca.hf_heads(arch).items() if k.startswith("use_")}
    ours = _ours_like(hf, **flags)
    load_hf_state_dict(ours, hf.state_dict(), ca, arch)
    config = transformers.AlbertConfig(**ca.config_to_hf(ours.config.to_dict(), arch),
                                       attn_implementation="eager")
    back = getattr(transformers, arch)(config).eval()
    state = to_hf_state_dict(ours, ca, arch)
    # the shared layer leaves once, in Hugging Face's one layer group
    assert sum(".albert_layers." in n for n in state) == len(
        [n for n in hf.state_dict() if ".albert_layers." in n])
    load_into_hf(back, state)
    ids, types, valid, _ = batch(HF_SIZES["vocab_size"], seed=5)
    kw = dict(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
              attention_mask=torch.tensor(attention_mask(ids, valid)))
    with torch.no_grad():
        for x, y in zip(hf(**kw).to_tuple(), back(**kw).to_tuple()):
            np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_sharing_is_one_declaration():
    own = [(d.alias, d.canonical) for d in declared_ties(AlbertModel) if "layers" in d.alias]
    assert own == [("encoder.layers.*", "encoder.layers.0")]
    model = zoo.get_model("albert_tiny")
    ties = ties_of(model)
    per_layer = [n for n in model._collect_params_with_prefix()
                 if n.startswith("encoder.layers.0.")]
    assert len(ties) == (model.config.num_layers - 1) * len(per_layer)
    assert all(v.startswith("encoder.layers.0.") for v in ties.values())
    # counted once by collect_params, so an optimizer steps the shared layer once
    assert len(list(model.collect_params().values())) == len(_stored(model))


def test_file_size_does_not_grow_with_depth(tmp_path):
    sizes, names = {}, {}
    for depth in (1, 12):
        model = zoo.get_model("albert_tiny", num_layers=depth, units=128, hidden_size=512,
                              num_heads=4, use_mlm=True, use_sop=True)
        randomize_mx(model)
        path = tmp_path / f"albert_{depth}.params"
        save(model, path)
        sizes[depth], names[depth] = os.path.getsize(path), {t[0] for t in inspect(path).tensors}
    assert names[12] == names[1]
    one_layer_bytes = 4 * sum(int(np.prod(p.shape)) for n, p in
                              model._collect_params_with_prefix().items()
                              if n.startswith("encoder.layers.0."))
    # 11 more layers add only their alias names to the tie map, not 11 x ~800 KB of tensors
    assert sizes[12] - sizes[1] < 0.05 * one_layer_bytes, (sizes, one_layer_bytes)

    # and the 12-layer file restores the 12-layer model, ties intact
    again = build_albert(model.config, use_mlm=True, use_sop=True)
    report = load(again, tmp_path / "albert_12.params")
    assert not report.missing and not report.unused
    assert again.encoder.layers[11].ffn_2.weight is again.encoder.layers[0].ffn_2.weight
    ids, types, valid, masked = batch(100, seed=2)
    for a, b in zip(model(*nd(ids, types, valid, masked)), again(*nd(ids, types, valid, masked))):
        np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())


def test_pretraining_checkpoint_into_backbone_and_task_model(tmp_path):
    full = zoo.get_model("albert_tiny", use_mlm=True, use_sop=True)
    randomize_mx(full)
    save(full, tmp_path / "albert.params")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backbone = zoo.get_model("albert_tiny", pretrained=str(tmp_path / "albert.params"))
        sop_only = zoo.get_model("albert", use_sop=True,
                                 pretrained=str(tmp_path / "albert.params"))
    assert isinstance(backbone, AlbertModel) and not backbone.load_report.missing
    assert not sop_only.load_report.missing
    ids, types, valid, masked = batch(100, seed=4)
    out = full(*nd(ids, types, valid, masked))
    np.testing.assert_allclose(backbone(*nd(ids, types, valid))[1].asnumpy(),
                               out[1].asnumpy(), atol=1e-6)
    np.testing.assert_allclose(sop_only(*nd(ids, types, valid))[2].asnumpy(),
                               out[3].asnumpy(), atol=1e-6)
    tagger = zoo.get_model("albert_tiny", task="tagging", num_classes=5,
                           pretrained=str(tmp_path / "albert.params"))
    assert tagger(*nd(ids, types, valid)).shape == (3, 12, 5)


@requires_oracles
def test_name_map_and_config():
    model = build_albert(zoo.get_config("albert_tiny"), use_mlm=True, use_sop=True)
    for name in _stored(model):
        assert ca.hf_to_tiezoo_name(ca.tiezoo_to_hf_name(name)) == name
    assert ca.tiezoo_to_hf_name("embed_proj.weight", "AlbertModel") == \
        "encoder.embedding_hidden_mapping_in.weight"
    with pytest.raises(KeyError, match="alias of 'encoder.layers.0.ffn_1.weight'"):
        ca.tiezoo_to_hf_name("encoder.layers.2.ffn_1.weight")
    with pytest.raises(KeyError, match="albert_layer_groups.1"):
        ca.hf_to_tiezoo_name("albert.encoder.albert_layer_groups.1.albert_layers.0.ffn.weight")
    hf_cfg = transformers.AlbertConfig(**HF_SIZES).to_dict()
    ours = AlbertConfig.from_dict(ca.config_from_hf(hf_cfg))
    assert (ours.embed_size, ours.units, ours.num_layers, ours.activation) == \
        (16, 32, 3, "gelu_tanh")
    back = ca.config_to_hf(ours.to_dict())
    assert all(back[k] == hf_cfg[k] for k in HF_SIZES) and back["hidden_act"] == "gelu_new"
    with pytest.raises(ValueError, match="num_hidden_groups"):
        ca.config_from_hf(dict(hf_cfg, num_hidden_groups=2))


def test_presets_and_refused_heads():
    sizes = {n: (c.num_layers, c.units, c.num_heads, c.hidden_size, c.embed_size)
             for n in zoo.list_models("albert") for c in [zoo.get_config(n)]}
    assert sizes["albert_base"] == (12, 768, 12, 3072, 128)
    assert sizes["albert_large"] == (24, 1024, 16, 4096, 128)
    assert sizes["albert_xlarge"] == (24, 2048, 16, 8192, 128)
    assert zoo.get_config("albert") == zoo.get_config("albert_base")
    with pytest.raises(ValueError, match="use_sop=True"):
        zoo.get_model("albert_tiny", use_nsp=True)
    with pytest.raises(ValueError, match="sentence-order"):
        zoo.get_model("bert_test", use_sop=True)
    with pytest.raises(ValueError, match="use_sop"):
        zoo.get_model("albert_tiny", task="classification", num_classes=2, use_sop=True)
    model = zoo.get_model("albert_tiny", use_sop=True)
    ids, types, valid, _ = batch(100)
    assert [o.shape for o in model(*nd(ids, types, valid))] == [(3, 12, 32), (3, 32), (3, 2)]


@requires_oracles
def test_gelu_tanh_is_the_tanh_approximation():
    from heads._layers import activation_block
    x = np.linspace(-4, 4, 41).astype("float32")
    got = activation_block("gelu_tanh")(mx.nd.array(x)).asnumpy()
    want = transformers.activations.ACT2FN["gelu_new"](torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
