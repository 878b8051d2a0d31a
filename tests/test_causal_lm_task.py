"""``zoo finetune --task causal_lm``: a GPT-2 finetunes on a text file, its dev loss equals
transformers' language-model loss on the same blocks, it learns, ``zoo predict`` scores a
text per document, and mistakes are one line."""
import json
import math
import os
import shutil

import pytest

import zoo
from zoo.tokenizers import build_vocab
from zoo.cli import main as zoo_main
from hf_port import requires_oracles, torch, transformers



@pytest.fixture(scope="module")
def texts(tmp_path_factory, text_corpus):
    """train / dev text files (blank lines between documents) cut from the stdlib corpus,
    and a GPT-2-style byte-level BPE trained on it."""
    root = tmp_path_factory.mktemp("lmtask")
    docs = text_corpus.read_text().split("\n\n")
    (root / "train.txt").write_text("\n\n".join(docs[:300]) + "\n")
    (root / "dev.txt").write_text("\n\n".join(docs[300:360]) + "\n")
    build_vocab("byte_bpe", 300, [str(text_corpus)], str(root / "vocab"), layout="gpt2")
    return root, root / "vocab"


@pytest.fixture(scope="module")
def hf_checkpoint(tmp_path_factory, texts):
    """A random transformers GPT-2 with the BPE's vocabulary (its own initialization, wide
    enough for scores that are far from uniform), converted with its tokenizer."""
    root, vocab = texts
    tok = zoo.get_tokenizer(str(vocab))
    eos = tok.eos_id
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        vocab_size=tok.vocab_size, n_embd=64, n_layer=2, n_head=4, n_positions=64,
        initializer_range=0.05, bos_token_id=eos, eos_token_id=eos)).eval()
    folder = tmp_path_factory.mktemp("hf")
    hf.save_pretrained(str(folder))
    for name in os.listdir(vocab):
        shutil.copy(os.path.join(vocab, name), folder / name)
    ckpt = folder / "gpt2.params"
    assert zoo_main(["convert", str(folder), str(ckpt)]) == 0
    return hf, ckpt, tok


def _finetune(*argv):
    return zoo_main(["finetune", "--task", "causal_lm", "--no-progress", *map(str, argv)])


def _transformers_loss(hf, tok, path, length):
    """transformers' mean next-token cross-entropy over the file's token stream, cut into
    blocks of length + 1 tokens that overlap by one (its loss shifts labels itself)."""
    eos = tok.eos_id
    stream = []
    for doc in path.read_text().split("\n\n"):
        lines = [l.strip() for l in doc.split("\n") if l.strip()]
        if lines:
            stream += tok.encode("\n".join(lines)) + [eos]
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(stream) - 1, length):
            block = torch.tensor([stream[start:start + length + 1]])
            n = block.shape[1] - 1
            total += float(hf(input_ids=block, labels=block).loss) * n
            count += n
    return total / count, count


@requires_oracles
def test_finetuning_learns_and_its_dev_loss_equals_transformers(tmp_path, texts, hf_checkpoint,
                                                                capsys):
    root, _ = texts
    hf, ckpt, tok = hf_checkpoint
    start, count = _transformers_loss(hf, tok, root / "dev.txt", 32)
    assert _finetune("--pretrained", ckpt, "--train", root / "train.txt", "--dev",
                     root / "dev.txt", "--output", tmp_path / "run", "--max-steps", 300,
                     "--lr", "3e-3", "--max-seq-length", 32, "--batch-size", 16,
                     "--eval-every", 150) == 0
    result = json.loads((tmp_path / "run" / "results.json").read_text())
    dev = result["dev"]
    # the finetuned model, back in transformers, has the loss the finetuning program reported
    assert zoo_main(["convert", str(tmp_path / "run" / "model.params"), str(tmp_path / "hf"),
                     "--to", "hf"]) == 0
    trained = transformers.GPT2LMHeadModel.from_pretrained(str(tmp_path / "hf")).eval()
    loss, _ = _transformers_loss(trained, tok, root / "dev.txt", 32)
    assert abs(-dev["log_likelihood"] - loss) < 1e-4
    assert math.isclose(dev["perplexity"], math.exp(loss), rel_tol=1e-4)
    # far above the start and above a unigram model of the training text
    assert result["best_step"] == 300
    assert dev["log_likelihood"] > -start + 1.5
    assert dev["log_likelihood"] > result["baseline"]["log_likelihood"] + 0.4
    assert dev["accuracy"] > 2 * result["baseline"]["accuracy"]
    records = [json.loads(l) for l in (tmp_path / "run" / "dev_predictions.jsonl").open()]
    assert len(records) == 60 and sum(r["tokens"] for r in records) == count
    # each target counts for the document it is in: every document has its own score
    assert all(r["tokens"] > 0 and r["log_likelihood"] < 0 for r in records)
    assert sum(r["tokens"] * r["log_likelihood"] for r in records) / count == \
        pytest.approx(dev["log_likelihood"], rel=1e-5)
    # predict rebuilds the task from the finetuned checkpoint and scores a text per document
    capsys.readouterr()
    out = tmp_path / "scores.jsonl"
    assert zoo_main(["predict", "--model", str(tmp_path / "run" / "model.params"), "--input",
                     str(root / "dev.txt"), "--output", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == \
        pytest.approx(dev, rel=1e-5)
    for got, want in zip([json.loads(l) for l in out.open()], records):
        assert got.keys() == want.keys()         # None: no block starts in the document
        assert all(got[k] == want[k] if want[k] is None else
                   got[k] == pytest.approx(want[k], rel=1e-5) for k in want)
    # the finetuned checkpoint is still a GPT-2 LM: the tie stored once, it generates
    model = zoo.get_model("gpt2", pretrained=str(tmp_path / "run" / "model.params"),
                          use_lm=True)
    assert model.load_report.missing == [] and model.load_report.unused == []
    assert len(zoo.generate(model, [tok.encode("Return the")], max_new_tokens=5)[0]) == 5


@requires_oracles
def test_mistakes_are_one_line(tmp_path, texts, hf_checkpoint, capsys):
    root, _ = texts
    _, ckpt, _ = hf_checkpoint
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert _finetune("--pretrained", ckpt, "--train", empty, "--output", tmp_path / "a",
                     "--max-steps", 1) == 2
    assert "no text" in capsys.readouterr().err
    assert zoo_main(["finetune", "--task", "classification", "--pretrained", str(ckpt),
                     "--train", str(root / "train.txt"), "--output", str(tmp_path / "b"),
                     "--max-steps", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
