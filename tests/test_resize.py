"""``zoo.resize_token_embeddings``: every family grows and shrinks its vocabulary in place;
kept rows unchanged (equal to transformers' ``resize_token_embeddings`` on them), ties
kept, vocabulary-sized biases resized, the config follows, and the model saves and reloads.
"""
import numpy as np
import pytest

import zoo
from checkpoints import inspect, save, ties_of
from checkpoints._mx_compat import structural_params
from hf_port import attention_mask, batch, gather, load_hf_state_dict, nd, randomize_torch
from zoo.models.bert import convert as bert_table

# preset, get_model switches of its pretraining model, extra forward inputs
FAMILIES = {
    "bert_test": dict(use_mlm=True, use_nsp=True),
    "roberta_tiny": dict(use_mlm=True),
    "albert_tiny": dict(use_mlm=True, use_sop=True),
    "electra_tiny": dict(use_mlm=True),
}


def _value(model, name):
    return structural_params(model)[name].data().asnumpy()


def _vocab_params(model):
    family = zoo.family_of(model.config)
    params = structural_params(model)
    return [n for n in params if any(
        len(p.split(".")) == len(n.split(".")) and
        all(a in ("*", b) for a, b in zip(p.split("."), n.split(".")))
        for p in family.vocab_parameters)]


def _forward(model, preset, ids, types, valid, masked):
    extra = []
    if preset.startswith("electra"):
        extra = [gather(ids, masked)]           # fixed replacements: deterministic forward
    return [o.asnumpy() for o in model(*nd(ids, types, valid, masked, *extra))]


@pytest.mark.parametrize("preset", list(FAMILIES))
@pytest.mark.parametrize("grow", [7, -9])
def test_resize_keeps_rows_ties_and_reloads(preset, grow, tmp_path):
    model = zoo.get_model(preset, dropout=0.0, attention_dropout=0.0, **FAMILIES[preset])
    old = model.config.vocab_size
    new = old + grow
    ties = ties_of(model)
    names = _vocab_params(model)
    before = {n: _value(model, n) for n in names if n not in ties}
    pad = getattr(model.config, "pad_token_id", None)
    ids, types, valid, masked = batch(min(old, new), pad_id=pad, low=3 if pad else 0, seed=1)
    types = types * 0 if preset.startswith("roberta") else types
    out_before = _forward(model, preset, ids, types, valid, masked)

    assert zoo.resize_token_embeddings(model, new, seed=0) is model
    assert model.config.vocab_size == new
    assert ties_of(model) == ties                                      # every tie kept
    keep = min(old, new)
    for name, value in before.items():
        now = _value(model, name)
        assert now.shape[0] == new, name
        np.testing.assert_array_equal(now[:keep], value[:keep], err_msg=name)
    if preset.startswith("electra"):
        assert model.generator.config.vocab_size == new
    out_after = _forward(model, preset, ids, types, valid, masked)
    # backbone outputs unchanged; the MLM scores of the kept tokens unchanged
    np.testing.assert_allclose(out_after[0], out_before[0], atol=1e-6)
    np.testing.assert_allclose(out_after[2][..., :keep], out_before[2][..., :keep], atol=1e-5)
    assert out_after[2].shape[-1] == new

    path = str(tmp_path / "resized.params")
    save(model, path)
    assert inspect(path).config["vocab_size"] == new
    family = zoo.family_of(model.config).name
    again = zoo.get_model(family, pretrained=path, dropout=0.0, attention_dropout=0.0,
                          **FAMILIES[preset])
    assert not again.load_report.missing and not again.load_report.unused
    for a, b in zip(_forward(again, preset, ids, types, valid, masked), out_after):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_resize_untied_resizes_both_matrices():
    model = zoo.get_model("bert_test", use_mlm=True, tie_word_embeddings=False)
    embed, decoder = _value(model, "word_embed.weight"), _value(model, "mlm_decoder.decoder.weight")
    zoo.resize_token_embeddings(model, 120, seed=0)
    assert _value(model, "word_embed.weight").shape == (120, 32)
    assert _value(model, "mlm_decoder.decoder.weight").shape == (120, 32)
    np.testing.assert_array_equal(_value(model, "mlm_decoder.decoder.weight")[:100], decoder)
    np.testing.assert_array_equal(_value(model, "word_embed.weight")[:100], embed)


def test_resize_refuses_bad_sizes():
    model = zoo.get_model("bert_test")
    with pytest.raises(ValueError, match="positive int"):
        zoo.resize_token_embeddings(model, 0)
    roberta = zoo.get_model("roberta_tiny")
    embed = _value(roberta, "word_embed.weight")
    with pytest.raises(ValueError, match="pad_token_id"):
        zoo.resize_token_embeddings(roberta, 1)          # the padding id would be out of range
    assert roberta.config.vocab_size == 100                             # nothing changed
    np.testing.assert_array_equal(_value(roberta, "word_embed.weight"), embed)


def test_resize_equals_transformers_on_kept_rows():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    hf = transformers.BertForMaskedLM(transformers.BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, attn_implementation="eager")).eval()
    randomize_torch(hf, seed=2)
    ours = zoo.get_model("bert_test", use_mlm=True, dropout=0.0, attention_dropout=0.0)
    load_hf_state_dict(ours, hf.state_dict(), bert_table, "BertForMaskedLM")
    hf.resize_token_embeddings(113)
    zoo.resize_token_embeddings(ours, 113, seed=0)
    np.testing.assert_array_equal(_value(ours, "word_embed.weight")[:100],
                                  hf.get_input_embeddings().weight.detach().numpy()[:100])
    np.testing.assert_array_equal(_value(ours, "mlm_decoder.decoder.bias")[:100],
                                  hf.cls.predictions.bias.detach().numpy()[:100])
    ids, types, valid, masked = batch(100, seed=3)
    scores = ours(*nd(ids, types, valid, masked))[2].asnumpy()
    with torch.no_grad():
        logits = hf(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                    attention_mask=torch.tensor(attention_mask(ids, valid))).logits.numpy()
    assert scores.shape[-1] == logits.shape[-1] == 113
    np.testing.assert_allclose(scores[..., :100], gather(logits, masked)[..., :100], atol=1e-4)
