"""BERT computes what Hugging Face and GluonNLP 0.10 compute, name map by name map.

Every model here is tiny and random, built in the test: no weights are downloaded.
Parameters are randomized (biases and LayerNorm scales included, not left at 0 / 1) so that a
swapped or transposed tensor cannot hide behind an initializer's constant.
"""
import dataclasses

import mxnet as mx
import numpy as np
import pytest

import zoo
from zoo.models.bert import convert as cb
from checkpoints import inspect, ties_of
from zoo import cli as zoo_cli
from zoo import convert
from heads import SequenceClassificationHead, losses
from zoo.models.bert import BertConfig, BertForPretraining
from hf_port import requires_oracles, torch, transformers  # noqa: F401


ATOL = 1e-4
HF_SIZES = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)


# ---------------------------------------------------------------------------- helpers

def _batch(vocab, B=3, L=12, P=4, seed=0):
    """Random ids and token types, valid lengths < L (padding), masked positions < length."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(1, vocab, size=(B, L))
    valid = np.array([L, L - 5, 3][:B])
    types = (np.arange(L)[None, :] >= (valid[:, None] // 2)).astype(np.int64)
    for b in range(B):            # padding holds arbitrary ids: it must not matter
        types[b, valid[b]:] = 0
    masked = np.stack([rng.choice(valid[b], size=P, replace=valid[b] < P) for b in range(B)])
    return ids, types, valid, masked


def _nd(*arrays):
    return [mx.nd.array(a, dtype="float32") for a in arrays]


def hf_checkpoint(hf_model, tmp_path, *, cli=False):
    """save_pretrained -> ``zoo convert`` -> a tiezoo checkpoint (the real conversion path)."""
    folder = tmp_path / "hf"
    hf_model.save_pretrained(str(folder))
    ckpt = tmp_path / "converted.safetensors"
    if cli:
        assert zoo_cli.main(["convert", str(folder), str(ckpt)]) == 0
    else:
        convert.convert(folder, ckpt)
    return ckpt


def _randomize_torch(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():       # tied tensors are listed once
            noise = torch.randn(p.shape, generator=gen) * 0.1
            p.copy_(1.0 + noise if name.endswith("LayerNorm.weight") else noise)


def _randomize_mx(block, seed=0):
    rng = np.random.RandomState(seed)
    for name, p in block._collect_params_with_prefix().items():
        noise = rng.normal(0, 0.1, size=p.shape).astype("float32")
        p.set_data(mx.nd.array(1.0 + noise if name.endswith("gamma") else noise))


def _hf(cls):
    config = transformers.BertConfig(**HF_SIZES, hidden_act="gelu", layer_norm_eps=1e-12,
                                     attn_implementation="eager")
    model = cls(config).eval()
    _randomize_torch(model)
    return model


def _hf_backbone(hf_model, ids, types, valid):
    bert = getattr(hf_model, "bert", hf_model)
    mask = (np.arange(ids.shape[1])[None, :] < valid[:, None]).astype(np.int64)
    with torch.no_grad():
        out = bert(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                   attention_mask=torch.tensor(mask))
    pooled = out.pooler_output.numpy() if out.pooler_output is not None else None
    return out.last_hidden_state, pooled, mask


def _assert_valid_close(ours, theirs, valid, what):
    for b, n in enumerate(valid):
        np.testing.assert_allclose(ours[b, :n], theirs[b, :n], atol=ATOL, rtol=0,
                                   err_msg=f"{what}, example {b}")


# ------------------------------------------------------------- Hugging Face equivalence

def _ours_from(ckpt, **flags):
    return zoo.get_model("bert", pretrained=str(ckpt), dropout=0.0, attention_dropout=0.0,
                         **flags)


@requires_oracles
def test_hf_bert_for_pretraining_equivalence(tmp_path):
    hf = _hf(transformers.BertForPreTraining)
    ckpt = hf_checkpoint(hf, tmp_path, cli=True)
    ours = _ours_from(ckpt, use_mlm=True, use_nsp=True)
    assert ours.load_report.missing == [] and ours.load_report.unused == []
    # the decoder weight is stored once, under the embedding's name
    assert inspect(str(ckpt)).ties == {"mlm_decoder.decoder.weight": "word_embed.weight"}

    ids, types, valid, masked = _batch(HF_SIZES["vocab_size"])
    seq, pooled, mlm, nsp = (o.asnumpy() for o in ours(*_nd(ids, types, valid, masked)))
    hf_seq, hf_pooled, _ = _hf_backbone(hf, ids, types, valid)
    with torch.no_grad():
        hf_mlm, hf_nsp = hf.cls(hf_seq, torch.tensor(hf_pooled))
    hf_mlm = hf_mlm.numpy()[np.arange(len(ids))[:, None], masked]
    _assert_valid_close(seq, hf_seq.numpy(), valid, "sequence output")
    np.testing.assert_allclose(pooled, hf_pooled, atol=ATOL, rtol=0)
    np.testing.assert_allclose(mlm, hf_mlm, atol=ATOL, rtol=0)
    np.testing.assert_allclose(nsp, hf_nsp.numpy(), atol=ATOL, rtol=0)
    # the tie is one tensor, and it is Hugging Face's word embedding
    assert ours.mlm_decoder.decoder.weight is ours.word_embed.weight
    np.testing.assert_array_equal(
        ours.word_embed.weight.data().asnumpy(),
        hf.bert.embeddings.word_embeddings.weight.detach().numpy())


@requires_oracles
def test_hf_bert_model_equivalence(tmp_path):
    hf = _hf(transformers.BertModel)
    ours = _ours_from(hf_checkpoint(hf, tmp_path))
    assert ours.load_report.missing == [] and ours.load_report.unused == []
    ids, types, valid, _ = _batch(HF_SIZES["vocab_size"], seed=1)
    seq, pooled = (o.asnumpy() for o in ours(*_nd(ids, types, valid)))
    hf_seq, hf_pooled, _ = _hf_backbone(hf, ids, types, valid)
    _assert_valid_close(seq, hf_seq.numpy(), valid, "sequence output")
    np.testing.assert_allclose(pooled, hf_pooled, atol=ATOL, rtol=0)


@requires_oracles
def test_hf_bert_for_masked_lm_equivalence(tmp_path):
    hf = _hf(transformers.BertForMaskedLM)
    ckpt = hf_checkpoint(hf, tmp_path)
    # BertForMaskedLM has no pooler: the checkpoint holds none (nothing made up), and
    # building a model with one says so
    assert not any(n.startswith("pooler.") for n, _, _ in inspect(str(ckpt)).tensors)
    with pytest.warns(UserWarning, match="pooler.weight"):
        ours = _ours_from(ckpt, use_mlm=True)
    assert sorted(ours.load_report.missing) == ["pooler.bias", "pooler.weight"]
    ids, types, valid, masked = _batch(HF_SIZES["vocab_size"], seed=2)
    seq, _, mlm = (o.asnumpy() for o in ours(*_nd(ids, types, valid, masked)))
    hf_seq, _, _ = _hf_backbone(hf, ids, types, valid)
    with torch.no_grad():
        hf_mlm = hf.cls(hf_seq).numpy()[np.arange(len(ids))[:, None], masked]
    _assert_valid_close(seq, hf_seq.numpy(), valid, "sequence output")
    np.testing.assert_allclose(mlm, hf_mlm, atol=ATOL, rtol=0)


def test_hf_name_map_round_trips():
    model = zoo.models.bert.build_bert(zoo.get_config("bert_test"), use_mlm=True, use_nsp=True)
    for name in model._collect_params_with_prefix():
        for arch in ("BertForPreTraining", "BertModel"):
            if arch == "BertModel" and name.startswith(("mlm_", "nsp_")):
                continue
            assert cb.hf_to_tiezoo_name(cb.tiezoo_to_hf_name(name, arch)) == name
    assert cb.tiezoo_to_hf_name("word_embed.weight", "BertModel") == \
        "embeddings.word_embeddings.weight"
    assert cb.tiezoo_to_hf_name("mlm_decoder.decoder.bias") == "cls.predictions.bias"
    assert cb.hf_to_tiezoo_name("bert.embeddings.position_ids") is None
    with pytest.raises(KeyError, match="roberta.pooler.dense.weight"):
        cb.hf_to_tiezoo_name("roberta.pooler.dense.weight")
    with pytest.raises(KeyError, match="supported: BertModel"):
        cb.tiezoo_to_hf_name("pooler.weight", "BertForMultipleChoice")
    # names an architecture has no place for are dropped, not mis-mapped
    assert cb.tiezoo_to_hf_name("pooler.weight", "BertForMaskedLM") is None
    assert cb.tiezoo_to_hf_name("nsp_classifier.weight", "BertForMaskedLM") is None
    assert cb.tiezoo_to_hf_name("head.span.weight", "BertForQuestionAnswering") == \
        "qa_outputs.weight"
    assert cb.hf_to_tiezoo_name("classifier.bias", task="regression") == "head.regressor.bias"
    assert not cb.HF_TRANSPOSED


@requires_oracles
def test_hf_config_round_trip():
    hf_cfg = transformers.BertConfig(**HF_SIZES).to_dict()
    ours = BertConfig.from_dict(cb.config_from_hf(hf_cfg))
    assert (ours.units, ours.hidden_size, ours.num_layers, ours.num_heads) == (32, 37, 2, 4)
    back = cb.config_to_hf(ours.to_dict())
    assert all(back[k] == hf_cfg[k] for k in HF_SIZES)
    with pytest.raises(ValueError, match="gelu_new"):
        cb.config_from_hf(dict(hf_cfg, hidden_act="gelu_new"))


# ---------------------------------------------------------------- GluonNLP 0.10 equivalence

GLUON_PRESET = "bert_test"


def _gluonnlp_bert(seed=0, preset=GLUON_PRESET, **sizes):
    """A GluonNLP 0.10 BERTModel with decoder (MLM) and classifier (NSP) of a preset's size."""
    from gluonnlp.model.bert import BERTEncoder, BERTModel as GBERTModel
    c = dataclasses.replace(zoo.get_config(preset), **sizes)
    encoder = BERTEncoder(num_layers=c.num_layers, units=c.units, hidden_size=c.hidden_size,
                          max_length=c.max_length, num_heads=c.num_heads, dropout=0.0,
                          output_attention=False, output_all_encodings=False,
                          activation="gelu", layer_norm_eps=1e-12)
    net = GBERTModel(encoder, vocab_size=c.vocab_size, token_type_vocab_size=c.type_vocab_size,
                     units=c.units, embed_size=c.units, use_pooler=True, use_decoder=True,
                     use_classifier=True)
    net.initialize()
    ids, types, valid, masked = _batch(c.vocab_size)
    net(*_nd(ids, types, valid, masked))          # finish GluonNLP's deferred shapes
    _randomize_mx(net, seed)
    return net


@pytest.mark.parametrize("deduplicate", [True, False])
def test_gluonnlp_file_loads_into_headless_bert(tmp_path, deduplicate):
    gnet = _gluonnlp_bert()
    path = tmp_path / "gluonnlp_bert.params"
    gnet.save_parameters(str(path), deduplicate=deduplicate)
    stored = mx.nd.load(str(path))
    # the documented MXNet behaviour this test exists for: only the alias name survives
    assert "decoder.3.weight" in stored
    assert ("word_embed.0.weight" in stored) is not deduplicate

    # the real load path: a preset name, GluonNLP naming detected, the tie resolved
    ours = zoo.get_model(GLUON_PRESET, pretrained=str(path), dropout=0.0,
                         attention_dropout=0.0)
    report = ours.load_report
    assert report.missing == []
    assert report.aliased.get("decoder.3.weight") == "word_embed.weight"
    assert sorted(report.unused) == sorted(n for n in stored if n.startswith(
        ("decoder.", "classifier.")) and n != "decoder.3.weight")

    ids, types, valid, masked = _batch(zoo.get_config(GLUON_PRESET).vocab_size, seed=3)
    g_seq, g_pooled, g_nsp, g_mlm = (o.asnumpy() for o in gnet(*_nd(ids, types, valid, masked)))
    seq, pooled = (o.asnumpy() for o in ours(*_nd(ids, types, valid)))
    _assert_valid_close(seq, g_seq, valid, "sequence output")
    np.testing.assert_allclose(pooled, g_pooled, atol=ATOL, rtol=0)

    # and the same file into the with-head model gives GluonNLP's head outputs too
    full = zoo.get_model(GLUON_PRESET, use_mlm=True, use_nsp=True, pretrained=str(path),
                         dropout=0.0, attention_dropout=0.0)
    assert full.load_report.missing == [] and full.load_report.unused == []
    assert ties_of(full) == {"mlm_decoder.decoder.weight": "word_embed.weight"}
    _, _, mlm, nsp = (o.asnumpy() for o in full(*_nd(ids, types, valid, masked)))
    np.testing.assert_allclose(mlm, g_mlm, atol=ATOL, rtol=0)
    np.testing.assert_allclose(nsp, g_nsp, atol=ATOL, rtol=0)


def test_gluonnlp_name_map_covers_every_gluonnlp_parameter():
    gnet = _gluonnlp_bert()
    ours = BertForPretraining(zoo.get_config(GLUON_PRESET))
    names = ours._collect_params_with_prefix()
    for gname, gparam in gnet._collect_params_with_prefix().items():
        tname = cb.gluonnlp_to_tiezoo_name(gname)
        assert tname in names, gname
        assert tuple(names[tname].shape) == tuple(gparam.shape), gname
    assert cb.is_gluonnlp_naming(list(gnet._collect_params_with_prefix()))
    assert not cb.is_gluonnlp_naming(list(names))
    with pytest.raises(KeyError, match="decoder.9.weight"):
        cb.gluonnlp_to_tiezoo_name("decoder.9.weight")


# ------------------------------------------------------------------ model behaviour

def _tiny(**flags):
    return zoo.get_model("bert_test", dropout=0.0, attention_dropout=0.0, **flags)


def test_padding_content_does_not_leak_into_valid_positions():
    model = _tiny(use_mlm=True, use_nsp=True)
    ids, types, valid, masked = _batch(100)
    other = ids.copy()
    for b, n in enumerate(valid):
        other[b, n:] = (other[b, n:] + 7) % 100
    a = [o.asnumpy() for o in model(*_nd(ids, types, valid, masked))]
    b_ = [o.asnumpy() for o in model(*_nd(other, types, valid, masked))]
    _assert_valid_close(a[0], b_[0], valid, "sequence output")
    for x, y in zip(a[1:], b_[1:]):
        np.testing.assert_allclose(x, y, atol=1e-6)


def test_mlm_without_positions_scores_every_position():
    model = _tiny(use_mlm=True)
    ids, types, valid, _ = _batch(100)
    L = ids.shape[1]
    every = np.tile(np.arange(L), (len(ids), 1))
    _, _, all_scores = model(*_nd(ids, types, valid))
    _, _, gathered = model(*_nd(ids, types, valid, every))
    assert all_scores.shape == (len(ids), L, 100)
    np.testing.assert_allclose(all_scores.asnumpy(), gathered.asnumpy(), atol=1e-6)


def test_defaults_for_token_types_and_valid_length():
    model = _tiny()
    ids, _, _, _ = _batch(100)
    L = ids.shape[1]
    seq0, pooled0 = model(*_nd(ids, np.zeros_like(ids), np.full(len(ids), L)))
    seq1, pooled1 = model(mx.nd.array(ids))
    np.testing.assert_allclose(seq0.asnumpy(), seq1.asnumpy(), atol=1e-6)
    np.testing.assert_allclose(pooled0.asnumpy(), pooled1.asnumpy(), atol=1e-6)


@pytest.mark.parametrize("task,num_classes,shape", [
    ("classification", 3, (3, 3)), ("regression", None, (3,)),
    ("tagging", 5, (3, 12, 5)), ("qa", None, (3, 12))])
def test_task_heads_forward_and_train_step(task, num_classes, shape):
    model = zoo.get_model("bert_test", task=task, num_classes=num_classes, dropout=0.0,
                          attention_dropout=0.0)
    ids, types, valid, _ = _batch(100)
    inputs = _nd(ids, types, valid)
    model.hybridize()
    out = model(*inputs)
    outs = out if isinstance(out, (list, tuple)) else [out]
    assert all(o.shape == shape for o in outs)
    if task == "qa":   # no span may start or end in the padding
        assert (outs[0].asnumpy()[2, valid[2]:] <= -1e4 + 1).all()
    # gluon.Trainer steps without stale gradients (no parameter sits outside the graph),
    # every parameter moves, and a few steps on one batch lower its loss
    loss_fn = losses.loss_for_task(task)
    labels = {"classification": mx.nd.array([0, 1, 2]), "regression": mx.nd.array([.5, 1, 2]),
              "tagging": mx.nd.zeros((3, 12)), "qa": None}[task]
    trainer = mx.gluon.Trainer(model.collect_params(), "adam", {"learning_rate": 1e-2})
    before = {n: p.data().asnumpy().copy() for n, p in model.collect_params().items()}
    history = []
    for _ in range(8):
        with mx.autograd.record():
            out = model(*inputs)
            if task == "qa":
                loss = loss_fn(out[0], out[1], mx.nd.array([0, 1, 1]), mx.nd.array([1, 2, 2]))
            elif task == "tagging":
                loss = loss_fn(out, labels, inputs[2])
            else:
                loss = loss_fn(out, labels)
        loss.backward()
        trainer.step(len(ids))
        history.append(float(loss.mean().asscalar()))
    assert history[-1] < 0.8 * history[0], history
    frozen = [n for n, p in model.collect_params().items()
              if np.array_equal(p.data().asnumpy(), before[n])]
    assert frozen == []


def test_num_classes_alone_means_classification_and_bad_combinations_fail():
    head = zoo.get_model("bert_test", num_classes=4).head
    assert isinstance(head, SequenceClassificationHead) and head.num_classes == 4
    with pytest.raises(ValueError, match="cannot be combined"):
        zoo.get_model("bert_test", task="classification", num_classes=2, use_mlm=True)
    with pytest.raises(ValueError, match="num_classes"):
        zoo.get_model("bert_test", task="tagging")
    with pytest.raises(ValueError, match="unknown task .summarization.*classification"):
        zoo.get_model("bert_test", task="summarization")


# ---------------------------------------------------------------------- config & registry

def test_config_dict_round_trip_and_validation():
    cfg = zoo.get_config("bert_tiny")
    d = cfg.to_dict()
    assert d["family"] == "bert" and BertConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="unknown BertConfig fields"):
        BertConfig.from_dict(dict(d, num_layer=3))
    with pytest.raises(ValueError, match="not divisible"):
        BertConfig(units=30, num_heads=4)
    with pytest.raises(ValueError, match="activation"):
        BertConfig(activation="swish")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.units = 3


def test_family_name_is_base_and_overrides_apply():
    assert zoo.get_config("bert") == zoo.get_config("bert_base")
    cfg = zoo.get_config("bert_tiny", vocab_size=1000, num_layers=1)
    assert (cfg.vocab_size, cfg.num_layers, cfg.units) == (1000, 1, 128)
    model = zoo.get_model("bert_test", vocab_size=50)
    assert model.word_embed.weight.shape == (50, 32) and model.config.vocab_size == 50
    with pytest.raises(TypeError, match="num_layer.*known"):
        zoo.get_model("bert_test", num_layer=3)


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(KeyError) as e:
        zoo.get_model("bert_huge")
    msg = str(e.value)
    assert "bert_huge" in msg and all(n in msg for n in zoo.list_models())
    assert isinstance(e.value, zoo.UnknownModelError)


def test_published_presets():
    sizes = {n: (c.num_layers, c.units, c.num_heads, c.hidden_size)
             for n in zoo.list_models("bert") for c in [zoo.get_config(n)]}
    assert sizes["bert_tiny"] == (2, 128, 2, 512)
    assert sizes["bert_mini"] == (4, 256, 4, 1024)
    assert sizes["bert_small"] == (4, 512, 8, 2048)
    assert sizes["bert_medium"] == (8, 512, 8, 2048)
    assert sizes["bert_base"] == (12, 768, 12, 3072)
    assert sizes["bert_large"] == (24, 1024, 16, 4096)


# ------------------------------------------------------------------------------- losses

def test_losses_match_numpy():
    rng = np.random.RandomState(0)
    scores = rng.normal(size=(2, 3, 5)).astype("float32")
    labels = rng.randint(0, 5, size=(2, 3))
    weights = np.array([[1, 1, 0], [1, 0, 0]], dtype="float32")
    logp = scores - np.log(np.exp(scores).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, labels[..., None], -1)[..., 0]
    got = losses.MaskedLMLoss()(*_nd(scores, labels, weights)).asscalar()
    assert got == pytest.approx((nll * weights).sum() / weights.sum(), rel=1e-5)
    valid = np.array([2, 1])
    got = losses.TaggingLoss()(*_nd(scores, labels, valid)).asnumpy()
    np.testing.assert_allclose(got, [nll[0, :2].mean(), nll[1, :1].mean()], rtol=1e-5)
    start, end = scores[..., 0], scores[..., 1]
    got = losses.SpanLoss()(*_nd(start, end, [0, 2], [1, 2])).asnumpy()
    ls = start - np.log(np.exp(start).sum(-1, keepdims=True))
    le = end - np.log(np.exp(end).sum(-1, keepdims=True))
    np.testing.assert_allclose(got, [-(ls[0, 0] + le[0, 1]) / 2, -(ls[1, 2] + le[1, 2]) / 2],
                               rtol=1e-5)
