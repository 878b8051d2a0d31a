"""``zoo convert`` and ``zoo.convert``: Hugging Face folders, GluonNLP 0.10 and plain MXNet
files, tiezoo checkpoints; every direction, the ties, the assets, and bad input.

(The output equivalence of Hugging Face -> tiezoo for BertForPreTraining, BertModel and
BertForMaskedLM lives in test_bert.py, which converts through the same path.)
Every model is tiny and random, built in the test: nothing is downloaded.
"""
import json
import os
import sys

import mxnet as mx
import numpy as np
import pytest

import zoo
from checkpoints import CheckpointError, inspect, read_assets, save, ties_of
from checkpoints.errors import ShapeMismatchError
from zoo import cli as zoo_cli
from zoo import convert
from hf_port import requires_oracles, torch, transformers  # noqa: F401


ATOL = 1e-4
HF_SIZES = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)
VOCAB = "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                  + [f"w{i}" for i in range(94)]) + "\n"
TIE = {"mlm_decoder.decoder.weight": "word_embed.weight"}


# ---------------------------------------------------------------------------- helpers

def _batch(vocab, B=3, L=12, P=4, seed=0):
    rng = np.random.RandomState(seed)
    ids = rng.randint(1, vocab, size=(B, L))
    valid = np.array([L, L - 5, 3][:B])
    types = (np.arange(L)[None, :] >= (valid[:, None] // 2)).astype(np.int64)
    for b in range(B):
        types[b, valid[b]:] = 0
    masked = np.stack([rng.choice(valid[b], size=P, replace=valid[b] < P) for b in range(B)])
    return ids, types, valid, masked


def _nd(*arrays):
    return [mx.nd.array(a, dtype="float32") for a in arrays]


def _hf(cls, seed=0, **extra):
    config = transformers.BertConfig(**HF_SIZES, hidden_act="gelu", layer_norm_eps=1e-12,
                                     attn_implementation="eager", **extra)
    model = cls(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(1.0 + noise if name.endswith("LayerNorm.weight") else noise)
    return model


def _hf_folder(model, path, vocab=True):
    model.save_pretrained(str(path))
    if vocab:
        (path / "vocab.txt").write_text(VOCAB)
        (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    return path


def _randomized(name="bert_test", seed=0, **flags):
    model = zoo.get_model(name, dropout=0.0, attention_dropout=0.0, **flags)
    rng = np.random.RandomState(seed)
    for pname, p in model._collect_params_with_prefix().items():
        if pname in ties_of(model):
            continue
        noise = rng.normal(0, 0.1, size=p.shape).astype("float32")
        p.set_data(mx.nd.array(1.0 + noise if pname.endswith("gamma") else noise))
    return model


def _params(block):
    ties = ties_of(block)
    return {n: p.data().asnumpy() for n, p in block._collect_params_with_prefix().items()
            if n not in ties}


def _assert_valid_close(ours, theirs, valid, what):
    for b, n in enumerate(valid):
        np.testing.assert_allclose(ours[b, :n], theirs[b, :n], atol=ATOL, rtol=0,
                                   err_msg=f"{what}, example {b}")


def _st_tensors(path):
    from safetensors.numpy import load_file
    return load_file(str(path))


# ------------------------------------------------------------ Hugging Face -> tiezoo

@requires_oracles
def test_cli_hf_folder_to_params_with_config_vocab_and_tokenizer_config(tmp_path, capsys):
    hf = _hf(transformers.BertForPreTraining)
    folder = _hf_folder(hf, tmp_path / "hf")
    ckpt = tmp_path / "bert.params"
    assert zoo_cli.main(["convert", str(folder), str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "BertForPreTraining" in out and "tie: mlm_decoder.decoder.weight" in out

    info = inspect(str(ckpt), verify=True)
    assert info.ties == TIE
    assert (info.config["units"], info.config["hidden_size"], info.config["num_layers"],
            info.config["vocab_size"], info.config["family"]) == (32, 37, 2, 99, "bert")
    names = {n for n, _, _ in info.tensors}
    assert "mlm_decoder.decoder.weight" not in names and "nsp_classifier.weight" in names
    assets = read_assets(str(ckpt))
    assert assets["tokenizer/vocab.txt"] == VOCAB.encode()
    assert json.loads(assets["tokenizer/tokenizer_config.json"]) == {"do_lower_case": True}
    # MXNet itself still reads the canonical tensors
    assert "word_embed.weight" in mx.nd.load(str(ckpt))
    tokenizers = pytest.importorskip("zoo.tokenizers")
    assert tokenizers.get_tokenizer(str(ckpt)).vocab_size == 99


@requires_oracles
def test_hf_sharded_bfloat16_and_legacy_names(tmp_path):
    """Sharded safetensors, bfloat16 weights and gamma/beta LayerNorm names all convert."""
    hf = _hf(transformers.BertModel)
    sharded = tmp_path / "sharded"
    hf.save_pretrained(str(sharded), max_shard_size="20KB")
    assert (sharded / "model.safetensors.index.json").exists()
    expect = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    conv = convert.load_source(sharded)
    got = _params(conv.block)
    np.testing.assert_array_equal(got["word_embed.weight"],
                                  expect["embeddings.word_embeddings.weight"])
    np.testing.assert_array_equal(got["encoder.layers.1.ffn_2.bias"],
                                  expect["encoder.layer.1.output.dense.bias"])

    bf16 = tmp_path / "bf16"
    hf.to(torch.bfloat16).save_pretrained(str(bf16))
    assert convert.detect_kind(bf16 / "model.safetensors") == "hf"
    got = _params(convert.load_source(bf16).block)
    np.testing.assert_array_equal(
        got["pooler.weight"], hf.pooler.dense.weight.detach().float().numpy())

    # an old TF-converted pytorch_model.bin: LayerNorm gamma/beta names
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "config.json").write_text(json.dumps(dict(HF_SIZES, model_type="bert",
                                                        architectures=["BertModel"])))
    state = {(k[:-6] + "gamma" if k.endswith("LayerNorm.weight") else
              k[:-4] + "beta" if k.endswith("LayerNorm.bias") else k): torch.tensor(v)
             for k, v in expect.items()}
    torch.save(state, str(legacy / "pytorch_model.bin"))
    got = _params(convert.load_source(legacy).block)
    np.testing.assert_array_equal(got["embed_layer_norm.gamma"],
                                  expect["embeddings.LayerNorm.weight"])


@requires_oracles
def test_pytorch_bin_without_torch_is_a_clear_error(tmp_path, monkeypatch):
    hf = _hf(transformers.BertModel)
    folder = tmp_path / "bin"
    folder.mkdir()
    hf.config.to_json_file(str(folder / "config.json"))
    torch.save(hf.state_dict(), str(folder / "pytorch_model.bin"))
    np.testing.assert_array_equal(
        _params(convert.load_source(folder).block)["pooler.bias"],
        hf.pooler.dense.bias.detach().numpy())
    monkeypatch.setitem(sys.modules, "torch", None)      # import torch -> ImportError
    with pytest.raises(convert.ConversionError, match="need PyTorch to read"):
        convert.convert(folder, tmp_path / "x.params")


@requires_oracles
def test_hf_task_model_round_trip_keeps_labels(tmp_path):
    labels = {0: "neg", 1: "neutral", 2: "pos"}
    hf = _hf(transformers.BertForSequenceClassification, num_labels=3, id2label=labels,
             label2id={v: k for k, v in labels.items()})
    folder = _hf_folder(hf, tmp_path / "hf")
    ckpt = tmp_path / "clf.safetensors"
    conv = convert.convert(folder, ckpt)
    assert conv.heads == {"use_mlm": False, "use_nsp": False, "task": "classification",
                          "num_classes": 3}
    ours = zoo.get_model("bert", task="classification", num_classes=3, pretrained=str(ckpt))
    assert ours.load_report.missing == []
    ids, types, valid, _ = _batch(99, seed=4)
    mask = (np.arange(ids.shape[1])[None, :] < valid[:, None]).astype(np.int64)
    with torch.no_grad():
        theirs = hf(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                    attention_mask=torch.tensor(mask)).logits.numpy()
    np.testing.assert_allclose(ours(*_nd(ids, types, valid)).asnumpy(), theirs, atol=ATOL)

    back = tmp_path / "back"
    convert.convert(ckpt, back, dst_kind="hf")
    cfg = json.loads((back / "config.json").read_text())
    assert cfg["architectures"] == ["BertForSequenceClassification"]
    assert cfg["id2label"] == {"0": "neg", "1": "neutral", "2": "pos"}
    original = _st_tensors(folder / "model.safetensors")
    again = _st_tensors(back / "model.safetensors")
    assert set(again) == set(original)
    for k in original:
        np.testing.assert_array_equal(again[k], original[k], err_msg=k)


# ------------------------------------------------------------ tiezoo -> Hugging Face

_VARIANTS = {
    "pretraining": (dict(use_mlm=True, use_nsp=True), "BertForPreTraining"),
    "mlm": (dict(use_mlm=True), "BertForMaskedLM"),
    "backbone": ({}, "BertModel"),
    "classification": (dict(task="classification", num_classes=3),
                       "BertForSequenceClassification"),
    "regression": (dict(task="regression"), "BertForSequenceClassification"),
    "tagging": (dict(task="tagging", num_classes=5), "BertForTokenClassification"),
    "qa": (dict(task="qa"), "BertForQuestionAnswering"),
}


@requires_oracles
@pytest.mark.parametrize("variant", list(_VARIANTS))
def test_ours_to_hf_folder_loads_cleanly_and_gives_our_outputs(tmp_path, variant):
    flags, arch = _VARIANTS[variant]
    ours = _randomized(**flags)
    ckpt = tmp_path / "ours.params"
    save(ours, ckpt, assets={"tokenizer/vocab.txt": "".join(f"t{i}\n" for i in range(100))})
    folder = tmp_path / "hf"
    if variant == "pretraining":
        assert zoo_cli.main(["convert", str(ckpt), str(folder), "--to", "hf"]) == 0
    else:
        convert.tiezoo_to_hf(ckpt, folder)
    assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors", "vocab.txt"]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["architectures"] == [arch]
    cls = getattr(transformers, arch)
    hf, info = cls.from_pretrained(str(folder), output_loading_info=True,
                                   attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] \
        and not info["mismatched_keys"], info
    hf.eval()

    ids, types, valid, masked = _batch(100, seed=5)
    mask = (np.arange(ids.shape[1])[None, :] < valid[:, None]).astype(np.int64)
    kw = dict(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
              attention_mask=torch.tensor(mask))
    inputs = _nd(ids, types, valid, masked) if flags.get("use_mlm") else _nd(ids, types, valid)
    got = ours(*inputs)
    with torch.no_grad():
        out = hf(**kw)
        base = getattr(hf, "bert", hf)(**kw)
    rows = np.arange(len(ids))[:, None]
    if variant in ("pretraining", "mlm", "backbone"):
        got = [o.asnumpy() for o in got]
        _assert_valid_close(got[0], base.last_hidden_state.numpy(), valid, "sequence output")
        if variant != "mlm":
            np.testing.assert_allclose(got[1], base.pooler_output.numpy(), atol=ATOL, rtol=0)
        if variant == "pretraining":
            np.testing.assert_allclose(got[2], out.prediction_logits.numpy()[rows, masked],
                                       atol=ATOL, rtol=0)
            np.testing.assert_allclose(got[3], out.seq_relationship_logits.numpy(),
                                       atol=ATOL, rtol=0)
        if variant == "mlm":
            np.testing.assert_allclose(got[2], out.logits.numpy()[rows, masked],
                                       atol=ATOL, rtol=0)
    elif variant == "classification":
        np.testing.assert_allclose(got.asnumpy(), out.logits.numpy(), atol=ATOL, rtol=0)
    elif variant == "regression":
        assert cfg["num_labels"] == 1 and cfg["problem_type"] == "regression"
        np.testing.assert_allclose(got.asnumpy(), out.logits.numpy()[:, 0], atol=ATOL, rtol=0)
    elif variant == "tagging":
        _assert_valid_close(got.asnumpy(), out.logits.numpy(), valid, "tag scores")
    else:
        _assert_valid_close(got[0].asnumpy(), out.start_logits.numpy(), valid, "start")
        _assert_valid_close(got[1].asnumpy(), out.end_logits.numpy(), valid, "end")

    # and back: Hugging Face -> tiezoo gives our tensors, bit for bit
    back = convert.load_source(folder)
    assert back.heads == convert.load_source(ckpt).heads
    mine = _params(ours)
    theirs = _params(back.block)
    if variant == "mlm":     # BertForMaskedLM has no pooler: neither has the round trip
        mine = {k: v for k, v in mine.items() if not k.startswith("pooler.")}
    assert set(theirs) == set(mine)
    for k in mine:
        np.testing.assert_array_equal(theirs[k], mine[k], err_msg=k)


# ------------------------------------------------------- GluonNLP / MXNet / tiezoo -> tiezoo

def _gluonnlp_bert(vocab_size=99, seed=0):
    from gluonnlp.model.bert import BERTEncoder, BERTModel as GBERTModel
    c = zoo.get_config("bert_test", vocab_size=vocab_size)
    encoder = BERTEncoder(num_layers=c.num_layers, units=c.units, hidden_size=c.hidden_size,
                          max_length=c.max_length, num_heads=c.num_heads, dropout=0.0,
                          output_attention=False, output_all_encodings=False,
                          activation="gelu", layer_norm_eps=1e-12)
    net = GBERTModel(encoder, vocab_size=c.vocab_size, token_type_vocab_size=2, units=c.units,
                     embed_size=c.units, use_pooler=True, use_decoder=True,
                     use_classifier=True)
    net.initialize()
    ids, types, valid, masked = _batch(vocab_size)
    net(*_nd(ids, types, valid, masked))
    rng = np.random.RandomState(seed)
    for name, p in net._collect_params_with_prefix().items():
        noise = rng.normal(0, 0.1, size=p.shape).astype("float32")
        p.set_data(mx.nd.array(1.0 + noise if name.endswith("gamma") else noise))
    return net


@pytest.mark.parametrize("src_kind", [None, "gluonnlp"])
def test_cli_gluonnlp_params_to_tiezoo(tmp_path, capsys, src_kind):
    gnet = _gluonnlp_bert()          # vocab 99: the file decides it, bert_test gives the size
    gpath = tmp_path / "gluon.params"
    gnet.save_parameters(str(gpath), deduplicate=True)
    assert convert.detect_kind(gpath) == "gluonnlp"
    out = tmp_path / "bert.safetensors"
    argv = ["convert", str(gpath), str(out), "--model", "bert_test"]
    if src_kind:
        argv += ["--from", src_kind]
    assert zoo_cli.main(argv) == 0
    assert inspect(str(out)).ties == TIE

    ours = zoo.get_model("bert", use_mlm=True, use_nsp=True, pretrained=str(out))
    assert ours.load_report.missing == [] and ours.config.vocab_size == 99
    ids, types, valid, masked = _batch(99, seed=6)
    g_seq, g_pooled, g_nsp, g_mlm = (o.asnumpy() for o in gnet(*_nd(ids, types, valid, masked)))
    seq, pooled, mlm, nsp = (o.asnumpy() for o in ours(*_nd(ids, types, valid, masked)))
    _assert_valid_close(seq, g_seq, valid, "sequence output")
    for a, b in ((pooled, g_pooled), (mlm, g_mlm), (nsp, g_nsp)):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=0)

    # without a preset the size is unknown: a clear error, and the CLI says so
    capsys.readouterr()
    assert zoo_cli.main(["convert", str(gpath), str(tmp_path / "y.params")]) == 1
    err = capsys.readouterr().err
    assert "--model PRESET" in err and "bert_base" in err


def test_plain_mxnet_params_convert_and_load(tmp_path):
    ours = _randomized(use_mlm=True, use_nsp=True)
    path = tmp_path / "plain.params"
    ours.save_parameters(str(path), deduplicate=True)    # keeps only the alias name
    assert "mlm_decoder.decoder.weight" in mx.nd.load(str(path))
    assert "word_embed.weight" not in mx.nd.load(str(path))
    assert convert.detect_kind(path) == "mxnet"
    out = tmp_path / "tiezoo.params"
    conv = convert.convert(path, out, src_kind="mxnet", model="bert_test")
    assert conv.heads["use_mlm"] and conv.heads["use_nsp"]
    assert inspect(str(out)).ties == TIE
    got = _params(zoo.get_model("bert_test", use_mlm=True, use_nsp=True, pretrained=str(out)))
    want = _params(ours)
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    # and get_model reads the plain file directly, head-less
    headless = zoo.get_model("bert_test", pretrained=str(path))
    assert headless.load_report.aliased == {"mlm_decoder.decoder.weight": "word_embed.weight"}
    np.testing.assert_array_equal(headless.word_embed.weight.data().asnumpy(),
                                  want["word_embed.weight"])


def test_tiezoo_format_change_both_ways(tmp_path):
    ours = _randomized(use_mlm=True)
    a = tmp_path / "a.params"
    save(ours, a, assets={"tokenizer/vocab.txt": "x\ny\n"})
    b, c = tmp_path / "b.safetensors", tmp_path / "c.params"
    assert zoo_cli.main(["convert", str(a), str(b)]) == 0
    assert zoo_cli.main(["convert", str(b), str(c)]) == 0
    ia, ib, ic = (inspect(str(p), verify=True) for p in (a, b, c))
    assert ib.format == "safetensors" and ic.format == ia.format
    for info in (ib, ic):
        assert info.ties == ia.ties == TIE and info.config == ia.config
        assert sorted(info.tensors) == sorted(ia.tensors)
    assert read_assets(str(c)) == read_assets(str(a))
    want = mx.nd.load(str(a))
    got = mx.nd.load(str(c))
    for k in want:
        if k != "__tiezoo__":
            np.testing.assert_array_equal(got[k].asnumpy(), want[k].asnumpy(), err_msg=k)


# ---------------------------------------------------------------------------- bad input

def test_checkpoint_of_another_size_names_first_mismatching_tensor(tmp_path, capsys):
    small = _randomized()                                   # bert_test: 32 units
    ckpt = tmp_path / "test.params"
    save(small, ckpt)
    with pytest.raises(ShapeMismatchError) as e:
        zoo.get_model("bert_tiny", pretrained=str(ckpt))
    msg = str(e.value)
    assert isinstance(e.value, CheckpointError)
    assert "'word_embed.weight'" in msg and "(100, 32)" in msg and "(100, 128)" in msg
    assert "units: preset 128 vs file 32" in msg

    # a plain MXNet file (no config): the preset decides, the load names the tensor
    plain = tmp_path / "plain.params"
    small.save_parameters(str(plain))
    with pytest.raises(CheckpointError) as e:
        zoo.get_model("bert_mini", pretrained=str(plain))
    msg = str(e.value)
    assert "word_embed.weight" in msg and "(100, 32)" in msg and "(100, 256)" in msg
    capsys.readouterr()
    assert zoo_cli.main(["convert", str(plain), str(tmp_path / "x.params"),
                         "--model", "bert_mini"]) == 1
    err = capsys.readouterr().err
    assert "word_embed.weight" in err and "(100, 256)" in err
    # the same size under its own preset is fine; overrides count as part of the preset
    assert zoo.get_model("bert_test", pretrained=str(ckpt)).load_report.missing == []
    with pytest.raises(ShapeMismatchError, match="ffn_1.weight"):
        zoo.get_model("bert_test", pretrained=str(ckpt), hidden_size=48)


@requires_oracles
def test_unsupported_hf_architecture_lists_supported_ones(tmp_path, capsys):
    folder = tmp_path / "roberta"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(
        {"architectures": ["OPTForCausalLM"], "model_type": "opt"}))
    from safetensors.numpy import save_file
    save_file({"model.decoder.embed_tokens.weight": np.zeros((4, 2), "float32")},
              str(folder / "model.safetensors"))
    with pytest.raises(convert.UnsupportedArchitectureError) as e:
        convert.convert(folder, tmp_path / "x.params")
    msg = str(e.value)
    assert "OPTForCausalLM" in msg
    assert all(a in msg for a in ("BertModel", "BertForPreTraining", "BertForMaskedLM"))
    assert zoo_cli.main(["convert", str(folder), str(tmp_path / "x.params")]) == 1
    assert "supported architectures: BertModel" in capsys.readouterr().err

    hf = _hf(transformers.BertForMultipleChoice)
    mc = _hf_folder(hf, tmp_path / "mc", vocab=False)
    with pytest.raises(convert.UnsupportedArchitectureError, match="BertForMultipleChoice"):
        convert.convert(mc, tmp_path / "y.params")


@requires_oracles
def test_hf_folder_problems_are_clear_errors(tmp_path):
    hf = _hf(transformers.BertModel)
    folder = _hf_folder(hf, tmp_path / "hf", vocab=False)
    os.remove(folder / "config.json")
    with pytest.raises(convert.ConversionError, match="no config.json"):
        convert.convert(folder, tmp_path / "x.params")

    folder = _hf_folder(hf, tmp_path / "hf2", vocab=False)
    os.remove(folder / "model.safetensors")
    with pytest.raises(convert.ConversionError, match="no model weights"):
        convert.convert(folder, tmp_path / "x.params")

    # a tensor that has no place in the architecture is an error, not silently dropped
    folder = _hf_folder(hf, tmp_path / "hf3", vocab=False)
    tensors = _st_tensors(folder / "model.safetensors")
    tensors["encoder.layer.0.attention.self.rotary.weight"] = np.zeros(3, "float32")
    from safetensors.numpy import save_file
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(convert.ConversionError, match="rotary"):
        convert.convert(folder, tmp_path / "x.params")

    with pytest.raises(convert.ConversionError, match="--to hf"):
        convert.convert(_hf_folder(hf, tmp_path / "hf4"), tmp_path / "out")
    with pytest.raises(convert.ConversionError, match="no such"):
        convert.convert(tmp_path / "nothing.params", tmp_path / "x.params")
