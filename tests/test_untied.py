"""Ties a config switches off: ``tie_word_embeddings=False`` Hugging Face checkpoints of
BERT, RoBERTa, ALBERT and ELECTRA convert, load with heads and head-less, compute what
transformers computes, store both vocabulary-sized tensors, and convert back with the flag.
Conversion decides by the tensors too: a file that says tied but holds a different head is
untied.

Everything is built here: tiny random transformers models, saved with ``save_pretrained``.
"""
import json
import warnings

import numpy as np
import pytest

import zoo
from checkpoints import TieConflictError, inspect, load, save, ties_of
from checkpoints._mx_compat import structural_params
from checkpoints.ties import declared_ties
from hf_port import assert_valid_close, attention_mask, batch, gather, nd, randomize_torch
from zoo import cli as zoo_cli
from hf_port import requires_oracles, torch, transformers  # noqa: F401


ATOL = 1e-4
SIZES = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
             max_position_embeddings=64, layer_norm_eps=1e-12, hidden_act="gelu",
             attn_implementation="eager", tie_word_embeddings=False)
VOCAB = 90

# family -> (config class, masked-LM architecture, its base-model attribute, extra config,
#            get_model switches of the masked-LM model, padding id of the batches)
CASES = {
    "bert": ("BertConfig", "BertForMaskedLM", "bert", {}, {"use_mlm": True}, None),
    "roberta": ("RobertaConfig", "RobertaForMaskedLM", "roberta",
                dict(type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5), {"use_mlm": True}, 1),
    "albert": ("AlbertConfig", "AlbertForMaskedLM", "albert",
               dict(embedding_size=16, hidden_act="gelu_new"), {"use_mlm": True}, None),
}


def _hf(family, seed=3):
    cfg_cls, arch, _, extra, _, _ = CASES[family]
    config = getattr(transformers, cfg_cls)(vocab_size=VOCAB, **{**SIZES, **extra})
    model = getattr(transformers, arch)(config).eval()
    randomize_torch(model, seed=seed)
    return model


def _convert(*argv):
    assert zoo_cli.main(["convert", *map(str, argv)]) == 0


def _run(model, ids, types, valid):
    kw = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(attention_mask(ids, valid)))
    if types is not None:
        kw["token_type_ids"] = torch.tensor(types)
    with torch.no_grad():
        return model(**kw)


def _vocab_sized(info):
    return sorted(n for n, shape, _ in info.tensors if len(shape) == 2 and shape[0] == VOCAB)


def test_declaration_says_the_tie_is_conditional():
    decl = next(d for d in declared_ties(zoo.models.bert.BertModel)
                if d.alias == "mlm_decoder.decoder.weight")
    assert decl.when == "tie_word_embeddings"
    assert "when='tie_word_embeddings'" in str(decl)
    tied = zoo.get_model("bert_test", use_mlm=True)
    untied = zoo.get_model("bert_test", use_mlm=True, tie_word_embeddings=False)
    assert ties_of(tied) == {"mlm_decoder.decoder.weight": "word_embed.weight"}
    assert ties_of(untied) == {}
    assert untied.mlm_decoder.decoder.weight is not untied.word_embed.weight


@requires_oracles
@pytest.mark.parametrize("family", list(CASES))
def test_untied_hugging_face_checkpoint_both_ways(family, tmp_path):
    _, arch, base_attr, _, flags, pad = CASES[family]
    hf = _hf(family)
    assert not np.array_equal(hf.get_output_embeddings().weight.detach().numpy(),
                              hf.get_input_embeddings().weight.detach().numpy())
    hf.save_pretrained(str(tmp_path / "hf"))
    ckpt = tmp_path / "model.params"
    _convert(tmp_path / "hf", ckpt)
    info = inspect(str(ckpt))
    assert info.config["tie_word_embeddings"] is False
    assert "mlm_decoder.decoder.weight" not in info.ties
    assert _vocab_sized(info) == ["mlm_decoder.decoder.weight", "word_embed.weight"]

    ids, types, valid, masked = batch(VOCAB, pad_id=pad, low=5 if pad is not None else 0, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # *ForMaskedLM has no pooler to load
        ours = zoo.get_model(family, pretrained=str(ckpt), **flags)
    assert "mlm_decoder.decoder.weight" not in ties_of(ours)
    scores = ours(*nd(ids, types, valid, masked))[2].asnumpy()
    hf_types = None if pad is not None else types
    logits = _run(hf, ids, hf_types, valid).logits.numpy()
    np.testing.assert_allclose(scores, gather(logits, masked), atol=ATOL, rtol=0)

    # head-less: the separate decoder is left unused, nothing else is touched
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backbone = zoo.get_model(family, pretrained=str(ckpt))
    assert "mlm_decoder.decoder.weight" in backbone.load_report.unused
    seq = backbone(*nd(ids, types, valid))[0].asnumpy()
    hf_seq = _run(getattr(hf, base_attr), ids, hf_types, valid).last_hidden_state.numpy()
    assert_valid_close(seq, hf_seq, valid, "sequence output")

    # back to Hugging Face: the flag is kept and transformers loads both tensors
    _convert(ckpt, tmp_path / "back", "--to", "hf")
    written = json.loads((tmp_path / "back" / "config.json").read_text())
    assert written["tie_word_embeddings"] is False
    back, loading = getattr(transformers, arch).from_pretrained(
        str(tmp_path / "back"), output_loading_info=True, attn_implementation="eager")
    assert not loading["missing_keys"] and not loading["unexpected_keys"]
    np.testing.assert_allclose(_run(back.eval(), ids, hf_types, valid).logits.numpy(), logits,
                               atol=1e-6, rtol=0)


@requires_oracles
def test_flag_says_tied_but_tensors_differ_converts_untied(tmp_path):
    """transformers 5 writes ``tie_word_embeddings: true`` for T5 v1.1 while keeping a
    separate head; the tensors decide."""
    hf = _hf("bert")
    hf.save_pretrained(str(tmp_path / "hf"))
    config_path = tmp_path / "hf" / "config.json"
    config = json.loads(config_path.read_text())
    config["tie_word_embeddings"] = True
    config_path.write_text(json.dumps(config))
    _convert(tmp_path / "hf", tmp_path / "model.params")
    info = inspect(str(tmp_path / "model.params"))
    assert info.config["tie_word_embeddings"] is False
    assert _vocab_sized(info) == ["mlm_decoder.decoder.weight", "word_embed.weight"]


@requires_oracles
def test_flag_says_tied_and_tensors_agree_stays_tied(tmp_path):
    hf = _hf("bert")
    with torch.no_grad():
        hf.get_output_embeddings().weight.copy_(hf.get_input_embeddings().weight)
    hf.save_pretrained(str(tmp_path / "hf"))
    config_path = tmp_path / "hf" / "config.json"
    config_path.write_text(json.dumps(dict(json.loads(config_path.read_text()),
                                           tie_word_embeddings=True)))
    _convert(tmp_path / "hf", tmp_path / "model.params")
    info = inspect(str(tmp_path / "model.params"))
    assert info.config["tie_word_embeddings"] is True
    assert _vocab_sized(info) == ["word_embed.weight"]


def test_tiezoo_untied_save_and_load_round_trip(tmp_path):
    """Without conversion: an untied pretraining model saves both tensors, reloads into an
    untied model with every value, and a tied model refuses the conflicting pair."""
    model = zoo.get_model("bert_test", use_mlm=True, use_nsp=True, tie_word_embeddings=False)
    path = str(tmp_path / "untied.params")
    save(model, path)
    again = zoo.get_model("bert", pretrained=path, use_mlm=True, use_nsp=True)
    assert again.config.tie_word_embeddings is False and ties_of(again) == {}
    for name in ("word_embed.weight", "mlm_decoder.decoder.weight"):
        np.testing.assert_array_equal(_param(again, name), _param(model, name))
    tied = zoo.get_model("bert_test", use_mlm=True, use_nsp=True)
    with pytest.raises(TieConflictError, match="mlm_decoder.decoder.weight"):
        load(tied, path)


def _param(model, name):
    return structural_params(model)[name].data().asnumpy()


@requires_oracles
def test_untied_electra_generator_pair(tmp_path):
    """ELECTRA's switched tie is the generator's LM head (ElectraForMaskedLM)."""
    sizes = dict(embedding_size=16, max_position_embeddings=64, type_vocab_size=2,
                 hidden_act="gelu", layer_norm_eps=1e-12, attn_implementation="eager",
                 tie_word_embeddings=False)
    disc = transformers.ElectraForPreTraining(transformers.ElectraConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, **sizes)).eval()
    gen = transformers.ElectraForMaskedLM(transformers.ElectraConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=20, **sizes)).eval()
    randomize_torch(disc, seed=1)
    randomize_torch(gen, seed=2)
    with torch.no_grad():
        for table in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            getattr(gen.electra.embeddings, table).weight.copy_(
                getattr(disc.electra.embeddings, table).weight)
    disc.save_pretrained(str(tmp_path / "disc"))
    gen.save_pretrained(str(tmp_path / "gen"))
    ckpt = tmp_path / "pre.params"
    _convert(tmp_path / "disc", ckpt, "--generator", tmp_path / "gen")
    info = inspect(str(ckpt))
    assert info.config["tie_word_embeddings"] is False
    assert "generator.mlm_decoder.decoder.weight" not in info.ties
    assert _vocab_sized(info) == ["generator.mlm_decoder.decoder.weight", "word_embed.weight"]
    pre = zoo.get_model("electra", use_mlm=True, pretrained=str(ckpt))
    ids, types, valid, masked = batch(VOCAB, seed=9)
    replacements = (gather(ids, masked) * 7 + 3) % VOCAB
    mlm = pre(*nd(ids, types, valid, masked, replacements))[2].asnumpy()
    np.testing.assert_allclose(mlm, gather(_run(gen, ids, types, valid).logits.numpy(), masked),
                               atol=ATOL, rtol=0)
    _convert(ckpt, tmp_path / "disc_back", "--to", "hf", "--generator", tmp_path / "gen_back")
    assert json.loads((tmp_path / "gen_back" / "config.json").read_text())[
        "tie_word_embeddings"] is False
    back = transformers.ElectraForMaskedLM.from_pretrained(
        str(tmp_path / "gen_back"), attn_implementation="eager").eval()
    np.testing.assert_allclose(_run(back, ids, types, valid).logits.numpy(),
                               _run(gen, ids, types, valid).logits.numpy(), atol=1e-6, rtol=0)
