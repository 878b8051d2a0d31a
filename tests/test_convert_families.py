"""``zoo convert`` for RoBERTa, ALBERT and ELECTRA, end to end, with their tokenizers.

For each family: a tiny random ``transformers`` model saved with ``save_pretrained`` next to
its tokenizer files -> ``zoo convert`` -> ``zoo.get_model(family, pretrained=...)`` computes
what the Hugging Face model computes (padding included) and ``zoo.get_tokenizer(ckpt)``
tokenizes as the Hugging Face tokenizer -> ``zoo convert --to hf`` -> transformers loads the
folder with no missing or unexpected tensor, computes the same, and reads the same
tokenizer. ELECTRA: the pretraining checkpoint from the discriminator and generator
folders, its discriminator-only finetuning variant, and both ways back.

Nothing is downloaded: models, vocabularies and SentencePiece / BPE models are built here.
"""
import json
import os
import shutil
import warnings

import numpy as np
import pytest

import zoo
from checkpoints import inspect, read_assets, save, ties_of
from hf_port import (TOKENIZER_TEXTS, assert_valid_close, attention_mask, batch, gather, nd,
                     randomize_torch, slow_albert_tokenizer, write_albert_spiece,
                     write_roberta_tokenizer)
from zoo import cli as zoo_cli
from zoo import convert
from hf_port import requires_oracles, torch, transformers  # noqa: F401


EXACT = 1e-6           # the same weights in transformers before and after the round trip
ATOL = 1e-4            # tiezoo (MXNet) against transformers (PyTorch)
PAIR_TEXTS = [("Katori musen pe, zo lan!", "He said ``hello''."),
              ("Café 1,000,000 [MASK] done", "x")]


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory):
    """One tokenizer folder per family: byte-level BPE, SentencePiece, WordPiece."""
    root = tmp_path_factory.mktemp("tokenizers")
    sizes = {"roberta": write_roberta_tokenizer(root / "roberta"),
             "albert": write_albert_spiece(root / "albert",
                                           config={"tokenizer_class": "AlbertTokenizer",
                                                   "do_lower_case": True,
                                                   "keep_accents": False})}
    words = sorted({w.strip(".,!?`'").lower() for line in TOKENIZER_TEXTS for w in line.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [w for w in words if w][:80]
    vocab += [c for c in "abcdefghijklmnopqrstuvwxyz"] + ["##" + c for c in "aeiouns"]
    (root / "electra").mkdir()
    (root / "electra" / "vocab.txt").write_text("".join(t + "\n" for t in vocab))
    (root / "electra" / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "ElectraTokenizer", "do_lower_case": True}))
    sizes["electra"] = len(vocab)
    return root, sizes


def _hf_folder(model, tokenizer_dir, path):
    model.save_pretrained(str(path))
    for name in os.listdir(tokenizer_dir):
        shutil.copy(os.path.join(tokenizer_dir, name), path / name)
    return path


def _convert(*argv, capsys=None):
    assert zoo_cli.main(["convert", *map(str, argv)]) == 0
    return capsys.readouterr().out if capsys is not None else None


def _load_back(arch, folder):
    model, info = getattr(transformers, arch).from_pretrained(
        str(folder), output_loading_info=True, attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] \
        and not info["mismatched_keys"], info
    return model.eval()


def _run(hf_model, ids, types, valid):
    kw = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(attention_mask(ids, valid)))
    if types is not None:
        kw["token_type_ids"] = torch.tensor(types)
    with torch.no_grad():
        return hf_model(**kw)


def _same_outputs(a, b, valid):
    """Two transformers outputs (same class, same batch) agree on every tensor: per-position
    ones (B, L, ...) at the valid positions, the others everywhere."""
    keys = [k for k, v in a.items() if hasattr(v, "numpy")]
    assert keys and keys == [k for k, v in b.items() if hasattr(v, "numpy")]
    length = a[keys[0]].shape[1]          # logits / last_hidden_state: (B, L, ...)
    for key in keys:
        x, y = a[key].numpy(), b[key].numpy()
        assert x.shape == y.shape, key
        if x.ndim >= 2 and x.shape[1] == length:
            assert_valid_close(x, y, valid, key, atol=EXACT)
        else:
            np.testing.assert_allclose(x, y, atol=EXACT, rtol=0, err_msg=key)


def _check_tokenizer(ckpt, source, back, reference=None):
    """The checkpoint's tokenizer assets rebuild the source folder's tokenizer (as
    ``reference``, by default transformers' AutoTokenizer of the source folder, tokenizes),
    and transformers reads the folder written back as it reads the source folder."""
    ours = zoo.get_tokenizer(str(ckpt))
    theirs = transformers.AutoTokenizer.from_pretrained(str(source))
    again = transformers.AutoTokenizer.from_pretrained(str(back))
    assert type(again) is type(theirs)
    reference = reference or theirs
    for a, b in PAIR_TEXTS + [(t, None) for t in TOKENIZER_TEXTS]:
        assert ours.encode_pair(a, b).ids == reference(a, b)["input_ids"], (a, b)
        assert again(a, b)["input_ids"] == theirs(a, b)["input_ids"], (a, b)
    return ours


# ----------------------------------------------------------------------------- RoBERTa

ROBERTA = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=37, max_position_embeddings=40, type_vocab_size=1,
               pad_token_id=1, hidden_act="gelu", layer_norm_eps=1e-5)


@requires_oracles
@pytest.mark.parametrize("arch", ["RobertaForMaskedLM", "RobertaModel"])
def test_roberta_both_ways(tmp_path, tokenizer_files, capsys, arch):
    tok_root, sizes = tokenizer_files
    hf = getattr(transformers, arch)(transformers.RobertaConfig(
        vocab_size=sizes["roberta"], **ROBERTA, attn_implementation="eager")).eval()
    randomize_torch(hf, seed=1)
    src = _hf_folder(hf, tok_root / "roberta", tmp_path / "hf")
    ckpt = tmp_path / "roberta.params"
    out = _convert(src, ckpt, capsys=capsys)
    mlm = arch == "RobertaForMaskedLM"
    assert arch in out and ("tie: mlm_decoder.decoder.weight -> word_embed.weight" in out) == mlm
    info = inspect(str(ckpt))
    assert info.config["family"] == "roberta" and info.config["pad_token_id"] == 1
    assert sorted(read_assets(str(ckpt))) == ["hf/config.json", "tokenizer/merges.txt",
                                              "tokenizer/tokenizer_config.json",
                                              "tokenizer/vocab.json"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # RobertaForMaskedLM has no pooler to load
        ours = zoo.get_model("roberta", use_mlm=mlm, pretrained=str(ckpt))
    ids, types, valid, masked = batch(sizes["roberta"], pad_id=1, low=5, seed=2)
    got = [o.asnumpy() for o in ours(*nd(ids, types, valid, masked)[:4 if mlm else 3])]
    base = _run(getattr(hf, "roberta", hf), ids, None, valid)
    assert_valid_close(got[0], base.last_hidden_state.numpy(), valid, "sequence output")
    if mlm:
        logits = _run(hf, ids, None, valid).logits.numpy()
        np.testing.assert_allclose(got[2], gather(logits, masked), atol=ATOL, rtol=0)
    else:
        np.testing.assert_allclose(got[1], base.pooler_output.numpy(), atol=ATOL, rtol=0)

    back = tmp_path / "back"
    _convert(ckpt, back, "--to", "hf")
    assert json.loads((back / "config.json").read_text())["architectures"] == [arch]
    _same_outputs(_run(hf, ids, None, valid), _run(_load_back(arch, back), ids, None, valid),
                  valid)
    tok = _check_tokenizer(ckpt, src, back)
    assert tok.mask_lstrip and tok.tokenize("a <mask>") == ["a", " <mask>"]


# ------------------------------------------------------------------------------ ALBERT

ALBERT = dict(embedding_size=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
              intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
              hidden_act="gelu_new", layer_norm_eps=1e-12)
_ALBERT_HEADS = {"AlbertForPreTraining": dict(use_mlm=True, use_sop=True),
                 "AlbertForMaskedLM": dict(use_mlm=True), "AlbertModel": {}}


@requires_oracles
@pytest.mark.parametrize("arch", list(_ALBERT_HEADS))
def test_albert_both_ways(tmp_path, tokenizer_files, capsys, arch):
    tok_root, sizes = tokenizer_files
    hf = getattr(transformers, arch)(transformers.AlbertConfig(
        vocab_size=sizes["albert"], **ALBERT, attn_implementation="eager")).eval()
    randomize_torch(hf, seed=3)
    src = _hf_folder(hf, tok_root / "albert", tmp_path / "hf")
    ckpt = tmp_path / "albert.safetensors"
    out = _convert(src, ckpt, capsys=capsys)
    assert "tie: encoder.layers.{1..2}.* -> encoder.layers.0.* (16 tensors each" in out
    names = {n for n, _, _ in inspect(str(ckpt)).tensors}
    assert not any(n.startswith(("encoder.layers.1.", "encoder.layers.2.")) for n in names)

    flags = _ALBERT_HEADS[arch]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # AlbertForMaskedLM has no pooler to load
        ours = zoo.get_model("albert", pretrained=str(ckpt), **flags)
    ids, types, valid, masked = batch(sizes["albert"], seed=4)
    inputs = nd(ids, types, valid, masked)[:4 if flags else 3]
    got = [o.asnumpy() for o in ours(*inputs)]
    full = _run(hf, ids, types, valid)
    base = _run(getattr(hf, "albert", hf), ids, types, valid)
    assert_valid_close(got[0], base.last_hidden_state.numpy(), valid, "sequence output")
    if arch != "AlbertForMaskedLM":
        np.testing.assert_allclose(got[1], base.pooler_output.numpy(), atol=ATOL, rtol=0)
    if flags.get("use_mlm"):
        logits = full.prediction_logits if arch == "AlbertForPreTraining" else full.logits
        np.testing.assert_allclose(got[2], gather(logits.numpy(), masked), atol=ATOL, rtol=0)
    if flags.get("use_sop"):
        np.testing.assert_allclose(got[3], full.sop_logits.numpy(), atol=ATOL, rtol=0)

    back = tmp_path / "back"
    _convert(ckpt, back, "--to", "hf")
    assert json.loads((back / "config.json").read_text())["architectures"] == [arch]
    _same_outputs(full, _run(_load_back(arch, back), ids, types, valid), valid)
    # the reference is transformers' sentencepiece-based AlbertTokenizer (test_tokenizers.py
    # compares it with the Rust one); transformers 5 reads spiece.model only with protobuf
    slow = slow_albert_tokenizer(src, do_lower_case=True, keep_accents=False)
    if _has_protobuf():
        tok = _check_tokenizer(ckpt, src, back, reference=slow)
    else:
        tok = zoo.get_tokenizer(str(ckpt))
        for a, b in PAIR_TEXTS:
            assert tok.encode_pair(a, b).ids == slow(a, b)["input_ids"]
    assert tok.preprocess == "albert" and tok.lower and not tok.keep_accents
    assert zoo.get_tokenizer(str(back)).encode("Café") == tok.encode("cafe")


def _has_protobuf():
    """transformers 5 reads an ALBERT spiece.model only with protobuf installed."""
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        return False
    return True


@requires_oracles
def test_albert_base_model_from_pretraining_checkpoint(tmp_path, capsys):
    """--architecture writes another variant than the heads call for (the backbone)."""
    hf = transformers.AlbertForPreTraining(transformers.AlbertConfig(
        vocab_size=50, **ALBERT, attn_implementation="eager")).eval()
    randomize_torch(hf, seed=5)
    hf.save_pretrained(str(tmp_path / "hf"))
    _convert(tmp_path / "hf", tmp_path / "a.params")
    out = _convert(tmp_path / "a.params", tmp_path / "base", "--to", "hf", "--architecture",
                   "AlbertModel", capsys=capsys)
    assert "no place in the target (left out): mlm_decoder.* (5 tensors), sop_classifier" in out
    ids, types, valid, _ = batch(50, seed=6)
    np.testing.assert_allclose(
        _run(_load_back("AlbertModel", tmp_path / "base"), ids, types, valid)
        .last_hidden_state.numpy(),
        _run(hf.albert, ids, types, valid).last_hidden_state.numpy(), atol=EXACT, rtol=0)


# ----------------------------------------------------------------------------- ELECTRA

ELECTRA = dict(embedding_size=24, max_position_embeddings=64, type_vocab_size=2,
               hidden_act="gelu", layer_norm_eps=1e-12)
DISCRIMINATOR = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=37)
GENERATOR = dict(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=20)


def _electra(arch, vocab, sizes, seed):
    model = getattr(transformers, arch)(transformers.ElectraConfig(
        vocab_size=vocab, **ELECTRA, **sizes, attn_implementation="eager")).eval()
    randomize_torch(model, seed=seed)
    return model


@pytest.fixture()
def electra_pair(tmp_path, tokenizer_files):
    """HF discriminator and generator folders whose embedding tables are equal, as ELECTRA
    pretraining leaves them (Hugging Face keeps the two models apart)."""
    tok_root, sizes = tokenizer_files
    disc = _electra("ElectraForPreTraining", sizes["electra"], DISCRIMINATOR, seed=7)
    gen = _electra("ElectraForMaskedLM", sizes["electra"], GENERATOR, seed=8)
    with torch.no_grad():
        for table in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            getattr(gen.electra.embeddings, table).weight.copy_(
                getattr(disc.electra.embeddings, table).weight)
    return (disc, _hf_folder(disc, tok_root / "electra", tmp_path / "disc"),
            gen, _hf_folder(gen, tok_root / "electra", tmp_path / "gen"), sizes["electra"])


@requires_oracles
def test_electra_pretraining_pair_both_ways(tmp_path, electra_pair, capsys):
    disc, disc_dir, gen, gen_dir, vocab = electra_pair
    ckpt = tmp_path / "pretrain.params"
    out = _convert(disc_dir, ckpt, "--generator", gen_dir, capsys=capsys)
    assert "ElectraForPreTraining + ElectraForMaskedLM" in out
    assert "heads: generator mlm, rtd" in out
    info = inspect(str(ckpt))
    assert info.ties["generator.word_embed.weight"] == "word_embed.weight"
    assert info.ties["generator.mlm_decoder.decoder.weight"] == "word_embed.weight"
    assert (info.config["units"], info.config["generator_units"],
            info.config["generator_num_heads"], info.config["generator_hidden_size"]) == \
        (32, 16, 2, 20)

    # the pretraining model: generator on the masked text, discriminator on the corrupted one
    pre = zoo.get_model("electra", use_mlm=True, pretrained=str(ckpt))
    assert not pre.load_report.missing and not pre.load_report.unused
    ids, types, valid, masked = batch(vocab, seed=9)
    replacements = (gather(ids, masked) * 7 + 3) % vocab
    seq, pooled, mlm, rtd, corrupted = (
        o.asnumpy() for o in pre(*nd(ids, types, valid, masked, replacements)))
    gen_logits = _run(gen, ids, types, valid).logits.numpy()
    np.testing.assert_allclose(mlm, gather(gen_logits, masked), atol=ATOL, rtol=0)
    hf_disc = _run(disc, corrupted.astype(np.int64), types, valid).logits.numpy()
    assert_valid_close(rtd, hf_disc, valid, "replaced token detection")

    # the discriminator alone, for finetuning: no generator, no aliases, no warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        finetune = zoo.get_model("electra", pretrained=str(ckpt))
    assert ties_of(finetune) == {} and not hasattr(finetune, "generator")
    assert not finetune.load_report.missing
    fseq, fpooled = (o.asnumpy() for o in finetune(*nd(ids, types, valid)))
    hf_seq = _run(disc.electra, ids, types, valid).last_hidden_state.numpy()
    assert_valid_close(fseq, hf_seq, valid, "discriminator sequence output")
    np.testing.assert_allclose(fpooled, hf_seq[:, 0], atol=ATOL, rtol=0)

    # ... and back: the finetuning variant as a Hugging Face ElectraModel
    ft_ckpt = tmp_path / "finetuned.safetensors"
    save(finetune, str(ft_ckpt), config=finetune.config,
         assets=zoo.get_tokenizer(str(ckpt)).to_assets())
    _convert(ft_ckpt, tmp_path / "ft_hf", "--to", "hf")
    np.testing.assert_allclose(
        _run(_load_back("ElectraModel", tmp_path / "ft_hf"), ids, types, valid)
        .last_hidden_state.numpy(), hf_seq, atol=EXACT, rtol=0)

    # the pretraining checkpoint back to the two Hugging Face folders
    out = _convert(ckpt, tmp_path / "disc_back", "--to", "hf", "--generator",
                   tmp_path / "gen_back", capsys=capsys)
    assert "no place in the target" not in out
    for original, arch, folder in ((disc, "ElectraForPreTraining", "disc_back"),
                                   (gen, "ElectraForMaskedLM", "gen_back")):
        assert json.loads((tmp_path / folder / "config.json").read_text())[
            "architectures"] == [arch]
        _same_outputs(_run(original, ids, types, valid),
                      _run(_load_back(arch, tmp_path / folder), ids, types, valid), valid)
    _check_tokenizer(ckpt, disc_dir, tmp_path / "disc_back")
    assert zoo.get_tokenizer(str(tmp_path / "gen_back")).vocab_size == vocab


@requires_oracles
def test_electra_discriminator_folder_alone(tmp_path, electra_pair, capsys):
    """A lone ElectraForPreTraining folder: the discriminator + its RTD head, both ways."""
    disc, disc_dir, _, gen_dir, vocab = electra_pair
    ckpt = tmp_path / "disc.params"
    out = _convert(disc_dir, ckpt, capsys=capsys)
    assert "heads: rtd" in out and "generator" not in out.split("not in the source")[0]
    names = {n for n, _, _ in inspect(str(ckpt)).tensors}
    assert not any(n.startswith("generator.") for n in names)
    assert {"rtd_classifier.prediction.weight", "word_embed.weight"} <= names
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = zoo.get_model("electra", pretrained=str(ckpt))
    ids, types, valid, _ = batch(vocab, seed=10)
    assert_valid_close(ours(*nd(ids, types, valid))[0].asnumpy(),
                       _run(disc.electra, ids, types, valid).last_hidden_state.numpy(),
                       valid, "discriminator sequence output")
    _convert(ckpt, tmp_path / "back", "--to", "hf")
    _same_outputs(_run(disc, ids, types, valid),
                  _run(_load_back("ElectraForPreTraining", tmp_path / "back"), ids, types,
                       valid), valid)
    _check_tokenizer(ckpt, disc_dir, tmp_path / "back")
    # no generator to write; the generator folder alone names what it needs
    assert zoo_cli.main(["convert", str(ckpt), str(tmp_path / "d"), "--to", "hf",
                         "--generator", str(tmp_path / "g")]) == 1
    assert "holds no generator" in capsys.readouterr().err
    assert zoo_cli.main(["convert", str(gen_dir), str(tmp_path / "g.params")]) == 1
    assert "--generator" in capsys.readouterr().err


@requires_oracles
def test_electra_model_both_ways(tmp_path, tokenizer_files):
    tok_root, sizes = tokenizer_files
    hf = _electra("ElectraModel", sizes["electra"], DISCRIMINATOR, seed=11)
    src = _hf_folder(hf, tok_root / "electra", tmp_path / "hf")
    conv = convert.convert(src, tmp_path / "e.safetensors")
    assert conv.heads["use_mlm"] is False and not conv.absent
    ours = zoo.get_model("electra", pretrained=str(tmp_path / "e.safetensors"))
    ids, types, valid, _ = batch(sizes["electra"], seed=12)
    assert_valid_close(ours(*nd(ids, types, valid))[0].asnumpy(),
                       _run(hf, ids, types, valid).last_hidden_state.numpy(), valid, "seq")
    convert.convert(tmp_path / "e.safetensors", tmp_path / "back", dst_kind="hf")
    _same_outputs(_run(hf, ids, types, valid),
                  _run(_load_back("ElectraModel", tmp_path / "back"), ids, types, valid), valid)
    _check_tokenizer(tmp_path / "e.safetensors", src, tmp_path / "back")


@requires_oracles
def test_electra_pair_problems(tmp_path, electra_pair):
    disc, disc_dir, gen, gen_dir, _ = electra_pair
    # either order; the Python API takes generator= as well
    conv = convert.convert(gen_dir, tmp_path / "p.params", generator=disc_dir)
    assert conv.description == "ElectraForPreTraining + ElectraForMaskedLM"
    # embedding tables that differ cannot be one tensor
    with torch.no_grad():
        gen.electra.embeddings.position_embeddings.weight.add_(0.5)
    gen.save_pretrained(str(tmp_path / "other_gen"))
    with pytest.raises(convert.ConversionError, match="position_embed.weight.*different"):
        convert.convert(disc_dir, tmp_path / "x.params", generator=tmp_path / "other_gen")
    # two discriminators are no pair; a generator= with a one-folder family is refused
    with pytest.raises(convert.ConversionError, match="one ElectraForPreTraining and one"):
        convert.convert(disc_dir, tmp_path / "x.params", generator=disc_dir)
    with pytest.raises(convert.ConversionError, match="generator="):
        convert.convert(tmp_path / "p.params", tmp_path / "y.params", generator=gen_dir)
    assert not os.path.exists(tmp_path / "x.params")
