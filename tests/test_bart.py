"""BART against transformers: parameter counts of the published sizes, the function on
padded batches through ``zoo convert`` both ways (tied and untied heads, with the LM head and
without), one embedding shared three ways and stored once, and the encoder alone loading a
full checkpoint with no aliases and no warnings.

Nothing is downloaded: tiny random transformers models are built here.
"""
import json
import warnings

import mxnet as mx
import numpy as np
import pytest

import zoo
from checkpoints import inspect, load, save, ties_of
from hf_port import assert_valid_close, requires_oracles, torch, transformers
from seq2seq_port import VOCAB, hf_bart, hf_forward, padded_pair
from zoo import cli as zoo_cli
from zoo import convert, registry


ATOL = 1e-4


def _count(block):
    return sum(int(np.prod(p.shape)) for p in block.collect_params().values())


def _vocab_sized(path):
    return sorted(n for n, s, _ in inspect(str(path)).tensors if s and s[0] == VOCAB)


@requires_oracles
@pytest.mark.parametrize("name", ["bart_base", "bart_large"])
def test_published_sizes_have_transformers_parameter_counts(name):
    """Built uninitialized on both sides (transformers on the meta device): no memory."""
    family, c = registry.resolve(name)
    hf_config = transformers.BartConfig(
        vocab_size=c.vocab_size, d_model=c.units, encoder_layers=c.num_layers,
        decoder_layers=c.decoder_layers, encoder_attention_heads=c.num_heads,
        decoder_attention_heads=c.num_heads, encoder_ffn_dim=c.hidden_size,
        decoder_ffn_dim=c.hidden_size, max_position_embeddings=c.max_length)
    with torch.device("meta"):
        backbone = transformers.BartModel(hf_config)
        lm = transformers.BartForConditionalGeneration(hf_config)
    assert _count(family.build(c)) == sum(p.numel() for p in backbone.parameters())
    # the tied head is counted once on both sides; tiezoo's lm_head.bias is Hugging Face's
    # final_logits_bias, a buffer there (not a parameter) and a constant parameter here
    assert _count(family.build(c, use_lm=True)) == \
        sum(p.numel() for p in lm.parameters()) + c.vocab_size
    assert _count(family.build(c, encoder_only=True)) == \
        sum(p.numel() for p in backbone.encoder.parameters())


@requires_oracles
@pytest.mark.parametrize("untied", [False, True], ids=["tied", "untied"])
@pytest.mark.parametrize("arch", ["BartForConditionalGeneration", "BartModel"])
def test_converted_model_computes_what_transformers_computes(tmp_path, arch, untied, capsys):
    hf = hf_bart(arch, seed=3 if untied else 0, untied=untied)
    hf.save_pretrained(str(tmp_path / "hf"))
    ckpt = tmp_path / "bart.params"
    assert zoo_cli.main(["convert", str(tmp_path / "hf"), str(ckpt)]) == 0
    out = capsys.readouterr().out
    lm = arch == "BartForConditionalGeneration"
    assert "tie: encoder.embed_tokens.weight -> word_embed.weight (stored once)" in out
    assert "tie: decoder.embed_tokens.weight -> word_embed.weight (stored once)" in out
    info = inspect(str(ckpt))
    # one vocabulary-sized table when tied, two when not (plus the head's bias vector)
    heads = (["lm_head.bias"] + (["lm_head.weight"] if untied else [])) if lm else []
    assert _vocab_sized(ckpt) == sorted(["word_embed.weight"] + heads)
    expected_ties = {"encoder.embed_tokens.weight": "word_embed.weight",
                     "decoder.embed_tokens.weight": "word_embed.weight"}
    if lm and not untied:
        expected_ties["lm_head.weight"] = "word_embed.weight"
    assert info.ties == expected_ties
    assert info.config["tie_word_embeddings"] is (not untied)

    src, sv, tgt, tv = padded_pair(seed=1)
    ref = hf_forward(hf, src, sv, tgt, tv)
    model = zoo.get_model("bart", pretrained=str(ckpt), use_lm=lm)
    assert model.load_report.missing == [] and model.load_report.unused == []
    for hybrid in (False, True):
        if hybrid:
            model.hybridize()
        outputs = [o.asnumpy() for o in model(*[mx.nd.array(a) for a in (src, sv, tgt, tv)])]
        enc = ref.encoder_last_hidden_state.numpy()
        assert_valid_close(outputs[0], enc, sv, "enc_seq", ATOL)
        if lm:
            assert_valid_close(outputs[2], ref.logits.numpy(), tv, "lm_scores", ATOL)
        else:
            assert_valid_close(outputs[1], ref.last_hidden_state.numpy(), tv, "dec_seq", ATOL)

    # and back: transformers loads the folder with nothing missing and computes the same
    back = tmp_path / "back"
    assert zoo_cli.main(["convert", str(ckpt), str(back), "--to", "hf"]) == 0
    again, loading = getattr(transformers, arch).from_pretrained(str(back),
                                                                 output_loading_info=True)
    assert not any(loading[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    again = again.eval()
    theirs = hf_forward(again, src, sv, tgt, tv)
    key = "logits" if lm else "last_hidden_state"
    np.testing.assert_allclose(getattr(theirs, key).numpy(), getattr(ref, key).numpy(),
                               atol=1e-6, rtol=0)
    config = json.loads((back / "config.json").read_text())
    assert config["architectures"] == [arch] and config["decoder_layers"] == 3
    assert config["tie_word_embeddings"] is (not untied)
    if lm:
        np.testing.assert_array_equal(again.final_logits_bias.numpy(),
                                      hf.final_logits_bias.numpy())


def test_encoder_alone_loads_a_full_checkpoint_with_no_aliases_or_warnings(tmp_path):
    full = zoo.get_model("bart_tiny", use_lm=True, tie_word_embeddings=False)
    path = tmp_path / "full.safetensors"
    save(full, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no warning about the decoder
        encoder = zoo.get_model("bart", pretrained=str(path), encoder_only=True)
    report = encoder.load_report
    assert report.missing == [] and report.aliased == {}
    assert sorted({n.split(".")[0] for n in report.unused}) == ["decoder", "lm_head"]
    assert ties_of(encoder) == {"encoder.embed_tokens.weight": "word_embed.weight"}
    src, sv, _, _ = padded_pair(seed=2)
    ids, valid = mx.nd.array(src), mx.nd.array(sv)
    np.testing.assert_array_equal(encoder(ids, valid).asnumpy(),
                                  full(ids, valid, ids[:, :3], None)[0].asnumpy())
    # and its own file loads into the full model (the decoder then is what is missing)
    own = tmp_path / "encoder.params"
    save(encoder, own)
    assert sorted(n for n, _, _ in inspect(str(own)).tensors)[0] == "encoder.embed_layer_norm.beta"
    report = load(zoo.get_model("bart_tiny", use_lm=True), str(own))
    assert report.unused == [] and all(n.startswith(("decoder.", "lm_head."))
                                       for n in report.missing)


def test_encoder_only_model_refuses_decoder_inputs_and_generation():
    encoder = zoo.get_model("bart_tiny", encoder_only=True)
    ids = mx.nd.array([[5, 6, 7]])
    with pytest.raises(ValueError, match="encoder-only model takes \\(src, src_valid_length\\)"):
        encoder(ids, None, ids, None)
    with pytest.raises(zoo.GenerationError, match="encoder_only=True: it has no decoder"):
        zoo.generate(encoder, [[5, 6]], max_new_tokens=2)
    with pytest.raises(ValueError, match="no decoder to put an LM head on"):
        zoo.get_model("bart_tiny", encoder_only=True, use_lm=True)


@requires_oracles
def test_stacks_reading_their_own_tables_are_a_clear_error(tmp_path):
    """transformers 5 unties every table of a BART told tie_word_embeddings=False; one
    shared embedding is what a BART is, so such a file is refused, naming the tensors."""
    hf = hf_bart(tie_word_embeddings=False)
    hf.save_pretrained(str(tmp_path / "hf"))
    with pytest.raises(convert.ConversionError,
                       match=f"^{tmp_path / 'hf'}: .*embed_tokens.weight.* hold different values"):
        convert.convert(tmp_path / "hf", tmp_path / "x.params")


def test_positions_have_the_offset_and_padding_changes_nothing():
    model = zoo.get_model("bart_tiny", use_lm=True)
    assert model.encoder.position_embed.weight.shape == (64 + 2, 32)
    src, sv, tgt, tv = padded_pair(seed=4)
    args = [mx.nd.array(a) for a in (src, sv, tgt, tv)]
    first = [o.asnumpy() for o in model(*args)]
    src2, tgt2 = src.copy(), tgt.copy()
    src2[1, sv[1]:] = 7                                 # other padding ids
    tgt2[1, tv[1]:] = 9
    second = [o.asnumpy() for o in model(mx.nd.array(src2), args[1], mx.nd.array(tgt2), args[3])]
    assert_valid_close(second[0], first[0], sv, "enc_seq", 1e-6)
    assert_valid_close(second[2], first[2], tv, "lm_scores", 1e-6)
    # the decoder is causal: a later decoder input changes nothing before it
    tgt3 = tgt.copy()
    tgt3[0, 5:] = (tgt3[0, 5:] + 1) % VOCAB
    third = model(args[0], args[1], mx.nd.array(tgt3), args[3])[2].asnumpy()
    np.testing.assert_allclose(third[0, :5], first[2][0, :5], atol=1e-6)
    assert np.abs(third[0, 5:] - first[2][0, 5:]).max() > 1e-3
