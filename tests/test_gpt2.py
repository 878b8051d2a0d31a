"""GPT-2 against transformers: parameter counts of the published sizes, the function on
padded batches (through ``zoo convert`` both ways, tied and untied), the LM tie stored once
and loaded by the head-less model, and sharded Hugging Face folders for every family.

Nothing is downloaded: tiny random transformers models are built here.
"""
import json
import os

import mxnet as mx
import numpy as np
import pytest

import zoo
from checkpoints import inspect, load, save
from hf_port import (assert_valid_close, attention_mask, randomize_torch, requires_oracles,
                     torch, transformers)
from zoo import convert, registry
from zoo import cli as zoo_cli


ATOL = 1e-4
# a GPT-2 of every code path (several layers and heads, an FFN width of its own), with its
# special token inside the vocabulary
TINY = dict(vocab_size=99, n_embd=32, n_layer=3, n_head=4, n_inner=48, n_positions=40,
            bos_token_id=98, eos_token_id=98, resid_pdrop=0.0, embd_pdrop=0.0,
            attn_pdrop=0.0)


def _hf_gpt2(arch="GPT2LMHeadModel", seed=0, **overrides):
    config = transformers.GPT2Config(**{**TINY, **overrides})
    model = getattr(transformers, arch)(config).eval()
    randomize_torch(model, seed)
    return model


def _padded_batch(seed=0, B=3, L=11):
    rng = np.random.RandomState(seed)
    ids = rng.randint(0, TINY["vocab_size"], size=(B, L))
    valid = np.array([L, 6, 1])[:B]
    return ids, valid


def _hf_outputs(model, ids, valid):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids),
                    attention_mask=torch.tensor(attention_mask(ids, valid)))
    seq = out.last_hidden_state if hasattr(out, "last_hidden_state") else None
    return out, seq


def _count(block):
    return sum(int(np.prod(p.shape)) for p in block.collect_params().values())


@requires_oracles
@pytest.mark.parametrize("name", ["gpt2_small", "gpt2_medium", "gpt2_large", "gpt2_xl"])
def test_published_sizes_have_transformers_parameter_counts(name):
    """Built uninitialized on both sides (transformers on the meta device): no memory."""
    family, c = registry.resolve(name)
    hf_config = transformers.GPT2Config(n_layer=c.num_layers, n_embd=c.units,
                                        n_head=c.num_heads, n_positions=c.max_length,
                                        vocab_size=c.vocab_size)
    with torch.device("meta"):
        backbone = transformers.GPT2Model(hf_config)
        lm = transformers.GPT2LMHeadModel(hf_config)
    assert _count(family.build(c)) == sum(p.numel() for p in backbone.parameters())
    # the tied head is counted once on both sides
    assert _count(family.build(c, use_lm=True)) == sum(p.numel() for p in lm.parameters())
    assert registry.get_family("gpt2").default_preset == "gpt2_small"


@requires_oracles
@pytest.mark.parametrize("arch", ["GPT2LMHeadModel", "GPT2Model"])
def test_converted_model_computes_what_transformers_computes(tmp_path, arch, capsys):
    hf = _hf_gpt2(arch)
    hf.save_pretrained(str(tmp_path / "hf"))
    ckpt = tmp_path / "gpt2.params"
    assert zoo_cli.main(["convert", str(tmp_path / "hf"), str(ckpt)]) == 0
    out = capsys.readouterr().out
    lm = arch == "GPT2LMHeadModel"
    if lm:
        assert "tie: lm_head.weight -> word_embed.weight (stored once)" in out
    info = inspect(str(ckpt))
    names = [n for n, _, _ in info.tensors]
    assert names.count("word_embed.weight") == 1 and "lm_head.weight" not in names
    assert info.ties == ({"lm_head.weight": "word_embed.weight"} if lm else {})

    ids, valid = _padded_batch()
    ref, _ = _hf_outputs(hf, ids, valid)
    model = zoo.get_model("gpt2", pretrained=str(ckpt), use_lm=lm)
    assert model.load_report.missing == [] and model.load_report.unused == []
    for hybrid in (False, True):
        if hybrid:
            model.hybridize()
        outputs = model(mx.nd.array(ids), mx.nd.array(valid))
        if lm:
            seq, scores = outputs
            assert_valid_close(scores.asnumpy(), ref.logits.numpy(), valid, "lm_scores", ATOL)
        else:
            assert_valid_close(outputs.asnumpy(), ref.last_hidden_state.numpy(), valid, "seq",
                               ATOL)

    # and back: transformers loads the folder with nothing missing and computes the same
    back = tmp_path / "back"
    assert zoo_cli.main(["convert", str(ckpt), str(back), "--to", "hf"]) == 0
    again, loading = getattr(transformers, arch).from_pretrained(str(back),
                                                                 output_loading_info=True)
    assert not any(loading[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    with torch.no_grad():
        a = hf(torch.tensor(ids))[0].numpy()
        b = again.eval()(torch.tensor(ids))[0].numpy()
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    config = json.loads((back / "config.json").read_text())
    assert config["architectures"] == [arch] and config["n_inner"] == TINY["n_inner"]
    assert config["eos_token_id"] == TINY["eos_token_id"]    # the source's, carried through


@requires_oracles
def test_untied_head_converts_both_ways_and_keeps_both_tensors(tmp_path):
    hf = _hf_gpt2(tie_word_embeddings=False, seed=3)
    assert hf.lm_head.weight.data_ptr() != hf.transformer.wte.weight.data_ptr()
    hf.save_pretrained(str(tmp_path / "hf"))
    ckpt = tmp_path / "untied.safetensors"
    convert.convert(tmp_path / "hf", ckpt)
    info = inspect(str(ckpt))
    assert info.ties == {} and info.config["tie_word_embeddings"] is False
    assert {"word_embed.weight", "lm_head.weight"} <= {n for n, _, _ in info.tensors}
    model = zoo.get_model("gpt2", pretrained=str(ckpt), use_lm=True)
    ids, valid = _padded_batch(seed=1)
    ref, _ = _hf_outputs(hf, ids, valid)
    assert_valid_close(model(mx.nd.array(ids), mx.nd.array(valid))[1].asnumpy(),
                       ref.logits.numpy(), valid, "untied lm_scores", ATOL)
    convert.convert(ckpt, tmp_path / "back", dst_kind="hf")
    config = json.loads((tmp_path / "back" / "config.json").read_text())
    assert config["tie_word_embeddings"] is False
    again = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path / "back")).eval()
    np.testing.assert_array_equal(again.lm_head.weight.detach().numpy(),
                                  hf.lm_head.weight.detach().numpy())


def test_headless_model_loads_lm_checkpoints_with_no_aliases(tmp_path):
    lm = zoo.get_model("gpt2_tiny", use_lm=True)
    assert lm.lm_head.weight is lm.word_embed.weight
    ours = tmp_path / "lm.params"
    save(lm, ours)
    headless = zoo.get_model("gpt2_tiny")
    report = load(headless, str(ours))
    assert report.missing == [] and report.unused == [] and report.aliased == {}
    # MXNet's own deduplicating save keeps the tied tensor under one of its names only
    plain = tmp_path / "plain.params"
    lm.save_parameters(str(plain), deduplicate=True)
    headless = zoo.get_model("gpt2_tiny")
    report = load(headless, str(plain))
    assert report.missing == [] and report.unused == []
    np.testing.assert_array_equal(headless.word_embed.weight.data().asnumpy(),
                                  lm.word_embed.weight.data().asnumpy())


def test_causal_and_padding_blind():
    """Position t depends on tokens <= t only; padding tokens change nothing."""
    model = zoo.get_model("gpt2_tiny", use_lm=True)
    ids, valid = _padded_batch(seed=2)
    seq = model(mx.nd.array(ids), mx.nd.array(valid))[0].asnumpy()
    changed = ids.copy()
    changed[:, 5:] = (changed[:, 5:] + 1) % TINY["vocab_size"]       # later tokens differ
    changed[1, 6:] = 0                                                # so does padding
    seq2 = model(mx.nd.array(changed), mx.nd.array(valid))[0].asnumpy()
    np.testing.assert_allclose(seq[:, :5], seq2[:, :5], atol=1e-6)
    assert np.abs(seq[0, 5:] - seq2[0, 5:]).max() > 1e-3
    # no valid_length: every position is real
    full = model(mx.nd.array(ids))[0].asnumpy()
    np.testing.assert_allclose(full[0], seq[0], atol=1e-6)


@requires_oracles
def test_unsupported_gpt2_config_is_a_clear_error(tmp_path):
    hf = _hf_gpt2(scale_attn_by_inverse_layer_idx=True)
    hf.save_pretrained(str(tmp_path / "hf"))
    with pytest.raises(convert.ConversionError, match="scale_attn_by_inverse_layer_idx"):
        convert.convert(tmp_path / "hf", tmp_path / "x.params")


def _bert_folder(path):
    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=37,
                                     max_position_embeddings=40)
    model = transformers.BertForMaskedLM(config).eval()
    randomize_torch(model, 5)
    model.save_pretrained(str(path))
    return model


@requires_oracles
@pytest.mark.parametrize("family", ["gpt2", "bert"])
def test_sharded_folders_written_and_read_for_every_family(tmp_path, family, capsys):
    source = _hf_gpt2(seed=4) if family == "gpt2" else _bert_folder(tmp_path / "src")
    if family == "gpt2":
        source.save_pretrained(str(tmp_path / "src"))
    ckpt = tmp_path / "m.params"
    convert.convert(tmp_path / "src", ckpt)
    out = tmp_path / "sharded"
    assert zoo_cli.main(["convert", str(ckpt), str(out), "--to", "hf",
                         "--max-shard-size", "30KB"]) == 0
    files = sorted(os.listdir(out))
    shards = [f for f in files if f.startswith("model-")]
    assert len(shards) > 2 and "model.safetensors" not in files
    assert all(f.endswith(f"-of-{len(shards):05d}.safetensors") for f in shards)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert sorted(set(index["weight_map"].values())) == shards
    sizes = [os.path.getsize(out / f) for f in shards]
    biggest = max(int(np.prod(p.shape)) * 4 for p in source.parameters())
    assert max(sizes) < max(30_000, biggest) + 10_000          # header overhead only
    again = type(source).from_pretrained(str(out)).eval()
    for name, tensor in source.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name].numpy(), tensor.numpy(), name)
    # the sharded folder converts back to the same checkpoint tensors
    convert.convert(out, tmp_path / "again.params")
    first, again = (
        {n: v for n, v in mx.nd.load(str(path)).items() if not n.startswith("__")}  # metadata
        for path in (ckpt, tmp_path / "again.params"))
    assert sorted(first) == sorted(again)
    for name, value in first.items():
        np.testing.assert_array_equal(value.asnumpy(), again[name].asnumpy(), name)
    # writing one file over the shards leaves no stale shard behind
    convert.convert(ckpt, out, dst_kind="hf")
    assert sorted(f for f in os.listdir(out) if "safetensors" in f) == ["model.safetensors"]
    capsys.readouterr()
    assert zoo_cli.main(["convert", str(ckpt), str(out), "--to", "hf",
                         "--max-shard-size", "lots"]) == 1
    assert "lots" in capsys.readouterr().err
