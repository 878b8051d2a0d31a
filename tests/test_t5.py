"""T5 and T5 v1.1 against transformers: parameter counts of the published sizes, relative
position buckets, the function on padded batches through ``zoo convert`` both ways
(``T5Model``, ``T5ForConditionalGeneration``, ``T5EncoderModel``), the untied v1.1 head as
transformers 5 writes it (flag says tied, file holds a separate ``lm_head``) and as older
releases did (``tie_word_embeddings: false``, copies of the stacks' tables), and the
encoder alone loading a full checkpoint.

Nothing is downloaded: tiny random transformers models are built here.
"""
import json
import warnings

import mxnet as mx
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import zoo
from checkpoints import inspect, save
from hf_port import assert_valid_close, requires_oracles, torch, transformers
from seq2seq_port import T5, VOCAB, hf_forward, hf_t5, padded_pair
from zoo import cli as zoo_cli
from zoo import convert, registry
from zoo.models.t5.layers import relative_buckets


ATOL = 1e-4


def _count(block):
    return sum(int(np.prod(p.shape)) for p in block.collect_params().values())


def _vocab_sized(path):
    return sorted(n for n, s, _ in inspect(str(path)).tensors if s and s[0] == VOCAB)


@requires_oracles
@pytest.mark.parametrize("name", [n for n in registry.list_models("t5") if n != "t5_tiny"])
def test_published_sizes_have_transformers_parameter_counts(name):
    """Built uninitialized on both sides (transformers on the meta device): no memory."""
    family, c = registry.resolve(name)
    hf_config = transformers.T5Config(
        vocab_size=c.vocab_size, d_model=c.units, d_kv=c.head_dim, d_ff=c.hidden_size,
        num_layers=c.num_layers, num_heads=c.num_heads,
        feed_forward_proj="gated-gelu" if c.gated_activation else "relu")
    with torch.device("meta"):
        backbone = transformers.T5Model(hf_config)
        encoder = transformers.T5EncoderModel(hf_config)
        lm = transformers.T5ForConditionalGeneration(hf_config)
    assert _count(family.build(c)) == sum(p.numel() for p in backbone.parameters())
    assert _count(family.build(c, encoder_only=True)) == sum(p.numel() for p in encoder.parameters())
    # transformers builds every head tied; v1.1 checkpoints hold one of their own
    untied = 0 if c.tie_word_embeddings else c.vocab_size * c.units
    assert _count(family.build(c, use_lm=True)) == sum(p.numel() for p in lm.parameters()) + untied


@requires_oracles
@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("buckets,distance", [(32, 128), (8, 12), (16, 50), (64, 256), (32, 20)])
def test_relative_buckets_equal_transformers(bidirectional, buckets, distance):
    from transformers.models.t5.modeling_t5 import T5Attention
    relative = np.arange(-3000, 3001)
    theirs = T5Attention._relative_position_bucket(torch.tensor(relative), bidirectional,
                                                   buckets, distance).numpy()
    ours = relative_buckets(mx.nd, mx.nd.array(relative), bidirectional, buckets, distance)
    np.testing.assert_array_equal(ours.asnumpy().astype(np.int64), theirs)


def _check_forward(model, hf, arch, seed=1):
    src, sv, tgt, tv = padded_pair(seed=seed, S=31, T=19)
    assert T5["relative_attention_max_distance"] < 19         # the batch reaches log buckets
    if arch == "T5EncoderModel":
        ref = hf_forward(hf, src, sv)
        for hybrid in (False, True):
            if hybrid:
                model.hybridize()
            ours = model(mx.nd.array(src), mx.nd.array(sv)).asnumpy()
            assert_valid_close(ours, ref.last_hidden_state.numpy(), sv, "enc_seq", ATOL)
        return
    ref = hf_forward(hf, src, sv, tgt, tv)
    for hybrid in (False, True):
        if hybrid:
            model.hybridize()
        outputs = [o.asnumpy() for o in model(*[mx.nd.array(a) for a in (src, sv, tgt, tv)])]
        assert_valid_close(outputs[0], ref.encoder_last_hidden_state.numpy(), sv, "enc_seq",
                           ATOL)
        if arch == "T5ForConditionalGeneration":
            assert_valid_close(outputs[2], ref.logits.numpy(), tv, "lm_scores", ATOL)
        else:
            assert_valid_close(outputs[1], ref.last_hidden_state.numpy(), tv, "dec_seq", ATOL)


@requires_oracles
@pytest.mark.parametrize("arch", ["T5ForConditionalGeneration", "T5Model", "T5EncoderModel"])
def test_converted_model_computes_what_transformers_computes(tmp_path, arch, capsys):
    hf = hf_t5(arch)
    hf.save_pretrained(str(tmp_path / "hf"))
    ckpt = tmp_path / "t5.params"
    assert zoo_cli.main(["convert", str(tmp_path / "hf"), str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "tie: encoder.embed_tokens.weight -> word_embed.weight (stored once)" in out
    info = inspect(str(ckpt))
    assert _vocab_sized(ckpt) == ["word_embed.weight"]             # one table, three uses
    lm = arch == "T5ForConditionalGeneration"
    if lm:
        assert info.ties["lm_head.weight"] == "word_embed.weight"
        assert "heads: LM (tied to word_embed, scaled)" in out
    model = zoo.get_model("t5", pretrained=str(ckpt), use_lm=lm,
                          encoder_only=arch == "T5EncoderModel")
    assert model.load_report.missing == [] and model.load_report.unused == []
    _check_forward(model, hf, arch)

    back = tmp_path / "back"
    assert zoo_cli.main(["convert", str(ckpt), str(back), "--to", "hf"]) == 0
    again, loading = getattr(transformers, arch).from_pretrained(str(back),
                                                                 output_loading_info=True)
    assert not any(loading[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    config = json.loads((back / "config.json").read_text())
    assert config["architectures"] == [arch] and config["num_decoder_layers"] == 3
    _check_forward(zoo.get_model("t5", pretrained=str(ckpt), use_lm=lm,
                                 encoder_only=arch == "T5EncoderModel"), again.eval(), arch, 5)


def _older_release_folder(hf, folder):
    """The folder as transformers 4 wrote a T5 v1.1: ``tie_word_embeddings: false``, no
    ``scale_decoder_outputs``, and the stacks' tables as copies of ``shared``."""
    hf.save_pretrained(str(folder))
    config = json.loads((folder / "config.json").read_text())
    config.pop("scale_decoder_outputs")
    config["tie_word_embeddings"] = False
    (folder / "config.json").write_text(json.dumps(config))
    tensors = load_file(str(folder / "model.safetensors"))
    for stack in ("encoder", "decoder"):
        tensors[f"{stack}.embed_tokens.weight"] = tensors["shared.weight"]
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})


@requires_oracles
@pytest.mark.parametrize("written_by", ["transformers5", "older"])
def test_t5_v1_1_untied_head_converts_both_ways(tmp_path, written_by, capsys):
    hf = hf_t5(v1_1=True, seed=2)
    folder = tmp_path / "hf"
    if written_by == "transformers5":
        hf.save_pretrained(str(folder))
        config = json.loads((folder / "config.json").read_text())
        assert config["tie_word_embeddings"] is True and config["scale_decoder_outputs"] is False
    else:
        _older_release_folder(hf, folder)
    names = set(load_file(str(folder / "model.safetensors")))
    assert {"lm_head.weight", "shared.weight"} <= names
    ckpt = tmp_path / "v11.safetensors"
    assert zoo_cli.main(["convert", str(folder), str(ckpt)]) == 0
    assert "heads: LM (untied, unscaled)" in capsys.readouterr().out
    info = inspect(str(ckpt))
    assert _vocab_sized(ckpt) == ["lm_head.weight", "word_embed.weight"]     # two tables
    assert "lm_head.weight" not in info.ties
    assert info.config["tie_word_embeddings"] is False
    assert info.config["scale_decoder_outputs"] is False
    model = zoo.get_model("t5", pretrained=str(ckpt), use_lm=True)
    _check_forward(model, hf, "T5ForConditionalGeneration")

    back = tmp_path / "back"
    convert.convert(ckpt, back, dst_kind="hf")
    config = json.loads((back / "config.json").read_text())
    assert config["tie_word_embeddings"] is False and config["scale_decoder_outputs"] is False
    assert config["feed_forward_proj"] == "gated-gelu"
    again = transformers.T5ForConditionalGeneration.from_pretrained(str(back)).eval()
    np.testing.assert_array_equal(again.lm_head.weight.detach().numpy(),
                                  hf.lm_head.weight.detach().numpy())
    assert again.lm_head.weight.data_ptr() != again.shared.weight.data_ptr()
    _check_forward(zoo.get_model("t5", pretrained=str(ckpt), use_lm=True), again,
                   "T5ForConditionalGeneration", 6)


@requires_oracles
def test_encoder_alone_loads_a_full_checkpoint_with_no_aliases_or_warnings(tmp_path):
    full = zoo.get_model("t5_tiny", use_lm=True, tie_word_embeddings=False,
                         scale_decoder_outputs=False)
    path = tmp_path / "full.params"
    save(full, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder = zoo.get_model("t5", pretrained=str(path), encoder_only=True)
    report = encoder.load_report
    assert report.missing == [] and report.aliased == {}
    assert sorted({n.split(".")[0] for n in report.unused}) == ["decoder", "lm_head"]
    src, sv, _, _ = padded_pair(seed=3, S=25)
    ids, valid = mx.nd.array(src), mx.nd.array(sv)
    np.testing.assert_array_equal(encoder(ids, valid).asnumpy(),
                                  full(ids, valid, ids[:, :2], None)[0].asnumpy())
    # as Hugging Face's T5EncoderModel: convert the encoder-only model out and read it back
    convert.convert(path, tmp_path / "full_hf", dst_kind="hf", architecture="T5EncoderModel")
    hf = transformers.T5EncoderModel.from_pretrained(str(tmp_path / "full_hf")).eval()
    assert_valid_close(encoder(ids, valid).asnumpy(),
                       hf_forward(hf, src, sv).last_hidden_state.numpy(), sv, "enc_seq", ATOL)


@requires_oracles
def test_unsupported_feed_forward_is_a_clear_error(tmp_path):
    hf = hf_t5(feed_forward_proj="gated-silu")
    hf.save_pretrained(str(tmp_path / "hf"))
    with pytest.raises(convert.ConversionError, match="gated-silu.*'silu' is not supported"):
        convert.convert(tmp_path / "hf", tmp_path / "x.params")


def _spiece(folder, text_corpus, pieces):
    """A SentencePiece model of ``pieces`` pieces trained on the corpus, as spiece.model."""
    import sentencepiece as spm
    import io
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(input=str(text_corpus), model_writer=out, vocab_size=pieces,
                                   pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    (folder / "spiece.model").write_bytes(out.getvalue())


@requires_oracles
@pytest.mark.parametrize("vocab,ok", [(300, True), (384, True), (99, False), (512, False)])
def test_a_vocabulary_that_does_not_match_the_sentencepiece_model_is_one_clear_error(
        tmp_path, text_corpus, vocab, ok, capsys):
    hf = hf_t5(vocab_size=vocab)
    hf.save_pretrained(str(tmp_path / "hf"))
    _spiece(tmp_path / "hf", text_corpus, 200)           # 200 pieces + 100 sentinels = 300 ids
    capsys.readouterr()
    code = zoo_cli.main(["convert", str(tmp_path / "hf"), str(tmp_path / "t5.params")])
    err = capsys.readouterr().err.strip()
    if ok:
        assert code == 0 and err == ""
        assert "tokenizer/spiece.model" in inspect(str(tmp_path / "t5.params")).assets
        return
    assert code != 0 and "\n" not in err and "Traceback" not in err
    assert f"{tmp_path / 'hf'}: the vocabulary does not match the SentencePiece model: " \
           f"spiece.model gives 300 token ids (200 pieces + 100 sentinels) but the model's " \
           f"embedding has {vocab} rows" in err
