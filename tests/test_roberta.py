"""RoBERTa computes what Hugging Face's computes: offset position ids, no token types, tied LM head.

Tiny random transformers models built in the test; nothing is downloaded.
"""
import dataclasses

import mxnet as mx
import numpy as np
import pytest

import zoo
from zoo.models.roberta import convert as cr
from checkpoints import load, save, ties_of
from hf_port import (ATOL, assert_valid_close, attention_mask, batch, gather,
                     load_hf_state_dict, load_into_hf, nd, randomize_mx, randomize_torch,
                     to_hf_state_dict)
from zoo.models.roberta import RobertaConfig, RobertaForPretraining, RobertaModel, build_roberta
from hf_port import requires_oracles, torch, transformers  # noqa: F401


PAD = 1
HF_SIZES = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=37, max_position_embeddings=40, type_vocab_size=1,
                pad_token_id=PAD)


def _hf(cls):
    config = transformers.RobertaConfig(**HF_SIZES, hidden_act="gelu", layer_norm_eps=1e-5,
                                        attn_implementation="eager")
    model = cls(config).eval()
    randomize_torch(model)
    return model


def _ours_like(hf_model, **flags):
    config = RobertaConfig.from_dict(cr.config_from_hf(hf_model.config.to_dict()))
    config = dataclasses.replace(config, dropout=0.0, attention_dropout=0.0)
    model = build_roberta(config, **flags)
    model.initialize()
    return model


def _hf_run(hf_model, ids, valid):
    backbone = getattr(hf_model, "roberta", hf_model)
    with torch.no_grad():
        out = backbone(input_ids=torch.tensor(ids),
                       attention_mask=torch.tensor(attention_mask(ids, valid)))
    pooled = out.pooler_output.numpy() if out.pooler_output is not None else None
    return out.last_hidden_state, pooled


@requires_oracles
def test_hf_roberta_for_masked_lm_equivalence():
    hf = _hf(transformers.RobertaForMaskedLM)
    ours = _ours_like(hf, use_mlm=True)
    filled = load_hf_state_dict(ours, hf.state_dict(), cr, "RobertaForMaskedLM")
    expected = {n for n in ours._collect_params_with_prefix()
                if n not in ties_of(ours) and not n.startswith("pooler.")}
    assert filled == expected, sorted(expected ^ filled)

    # padding holds the pad id, as a RoBERTa tokenizer writes it; token types are ignored
    ids, types, valid, masked = batch(HF_SIZES["vocab_size"], pad_id=PAD)
    seq, _, mlm = (o.asnumpy() for o in ours(*nd(ids, types, valid, masked)))
    hf_seq, _ = _hf_run(hf, ids, valid)
    with torch.no_grad():
        hf_mlm = gather(hf.lm_head(hf_seq).numpy(), masked)
    assert_valid_close(seq, hf_seq.numpy(), valid, "sequence output")
    np.testing.assert_allclose(mlm, hf_mlm, atol=ATOL, rtol=0)
    assert ours.mlm_decoder.decoder.weight is ours.word_embed.weight


@requires_oracles
def test_hf_roberta_model_equivalence_with_pad_ids_inside_the_text():
    hf = _hf(transformers.RobertaModel)
    ours = _ours_like(hf)
    filled = load_hf_state_dict(ours, hf.state_dict(), cr, "RobertaModel")
    assert filled == set(ours._collect_params_with_prefix())
    ids, types, valid, _ = batch(HF_SIZES["vocab_size"], seed=1, pad_id=PAD)
    ids[0, 3] = ids[1, 1] = PAD        # a pad id in the text keeps position pad, as in HF
    seq, pooled = (o.asnumpy() for o in ours(*nd(ids, types, valid)))
    hf_seq, hf_pooled = _hf_run(hf, ids, valid)
    assert_valid_close(seq, hf_seq.numpy(), valid, "sequence output")
    np.testing.assert_allclose(pooled, hf_pooled, atol=ATOL, rtol=0)


@requires_oracles
def test_round_trip_back_to_hugging_face():
    hf = _hf(transformers.RobertaForMaskedLM)
    ours = _ours_like(hf, use_mlm=True)
    load_hf_state_dict(ours, hf.state_dict(), cr, "RobertaForMaskedLM")
    config = transformers.RobertaConfig(**cr.config_to_hf(ours.config.to_dict()),
                                        attn_implementation="eager")
    back = transformers.RobertaForMaskedLM(config).eval()
    load_into_hf(back, to_hf_state_dict(ours, cr, "RobertaForMaskedLM"))
    ids, _, valid, _ = batch(HF_SIZES["vocab_size"], seed=5, pad_id=PAD)
    mask = torch.tensor(attention_mask(ids, valid))
    with torch.no_grad():
        a = hf(input_ids=torch.tensor(ids), attention_mask=mask).logits.numpy()
        b = back(input_ids=torch.tensor(ids), attention_mask=mask).logits.numpy()
    np.testing.assert_array_equal(a, b)


def test_position_ids_are_offset_by_the_padding_index():
    model = zoo.get_model("roberta_tiny")
    ids = np.array([[0, 5, 6, 2, PAD, PAD], [0, 7, PAD, 8, 2, PAD]])
    positions = model.position_ids(mx.nd, mx.nd.array(ids)).asnumpy()
    np.testing.assert_array_equal(positions, [[2, 3, 4, 5, 1, 1], [2, 3, 1, 4, 5, 1]])


def test_token_types_are_ignored():
    model = zoo.get_model("roberta_tiny", use_mlm=True)
    ids, types, valid, masked = batch(100, seed=2, pad_id=PAD)
    a = [o.asnumpy() for o in model(*nd(ids, types, valid, masked))]
    b = [o.asnumpy() for o in model(*nd(ids, np.zeros_like(types), valid, masked))]
    model.hybridize()
    c = [o.asnumpy() for o in model(*nd(ids, types, valid, masked))]
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_allclose(x, z, atol=1e-5)


def test_mlm_checkpoint_loads_into_the_backbone_and_back(tmp_path):
    full = zoo.get_model("roberta_tiny", use_mlm=True)
    randomize_mx(full)
    path = tmp_path / "roberta.params"
    save(full, path)
    backbone = zoo.get_model("roberta_tiny", pretrained=str(path))
    assert isinstance(backbone, RobertaModel) and ties_of(backbone) == {}
    assert sorted(backbone.load_report.unused) == sorted(
        n for n in full._collect_params_with_prefix()
        if n.startswith("mlm_decoder.") and n not in ties_of(full))
    ids, types, valid, masked = batch(100, seed=3, pad_id=PAD)
    np.testing.assert_allclose(backbone(*nd(ids, types, valid))[0].asnumpy(),
                               full(*nd(ids, types, valid, masked))[0].asnumpy(), atol=1e-6)
    again = build_roberta(full.config, use_mlm=True)
    report = load(again, tmp_path / "roberta.params")
    assert not report.missing and again.mlm_decoder.decoder.weight is again.word_embed.weight


@requires_oracles
def test_name_map_round_trips_and_config():
    model = build_roberta(zoo.get_config("roberta_tiny"), use_mlm=True)
    for name in model._collect_params_with_prefix():
        arch = "RobertaModel" if name.startswith("pooler.") else "RobertaForMaskedLM"
        assert cr.hf_to_tiezoo_name(cr.tiezoo_to_hf_name(name, arch), arch) == name
    # names an architecture has no place for are dropped, not errors
    assert cr.tiezoo_to_hf_name("pooler.weight", "RobertaForMaskedLM") is None
    assert cr.tiezoo_to_hf_name("mlm_decoder.transform.weight", "RobertaModel") is None
    with pytest.raises(KeyError, match="nsp_classifier.weight"):
        cr.tiezoo_to_hf_name("nsp_classifier.weight")
    assert cr.tiezoo_to_hf_name("word_embed.weight", "RobertaModel") == \
        "embeddings.word_embeddings.weight"
    assert cr.tiezoo_to_hf_name("mlm_decoder.decoder.bias") == "lm_head.bias"
    assert cr.hf_to_tiezoo_name("roberta.embeddings.position_ids") is None
    with pytest.raises(KeyError, match="cls.predictions.bias"):
        cr.hf_to_tiezoo_name("cls.predictions.bias")
    hf_cfg = transformers.RobertaConfig(**HF_SIZES).to_dict()
    ours = RobertaConfig.from_dict(cr.config_from_hf(hf_cfg))
    assert (ours.units, ours.max_length, ours.type_vocab_size, ours.pad_token_id) == \
        (32, 40, 1, PAD)
    back = cr.config_to_hf(ours.to_dict())
    assert all(back[k] == hf_cfg[k] for k in HF_SIZES)


def test_presets_and_refused_heads():
    base = zoo.get_config("roberta")
    assert base == zoo.get_config("roberta_base")
    assert (base.vocab_size, base.max_length, base.type_vocab_size, base.pad_token_id,
            base.layer_norm_eps) == (50265, 514, 1, 1, 1e-5)
    large = zoo.get_config("roberta_large")
    assert (large.num_layers, large.units, large.num_heads, large.hidden_size) == \
        (24, 1024, 16, 4096)
    with pytest.raises(ValueError, match="next-sentence"):
        zoo.get_model("roberta_tiny", use_nsp=True)
    with pytest.raises(ValueError, match="use_sop"):
        zoo.get_model("roberta_tiny", use_sop=True)
    clf = zoo.get_model("roberta_tiny", task="classification", num_classes=3)
    ids, types, valid, _ = batch(100, pad_id=PAD)
    assert clf(*nd(ids, types, valid)).shape == (3, 3)
    assert isinstance(RobertaForPretraining(base), RobertaModel)
