"""``zoo pretrain --model gpt2_tiny``: causal-LM pretraining on the standard library's
docstrings learns (loss well below its start), writes a checkpoint that stores the tied
embedding once and that the head-less model loads with nothing unaccounted, resumes
exactly after a kill, and generates."""
import os

import numpy as np
import pytest

import checkpoints
import zoo
from programs import assert_kill_and_resume_exact, metrics, zoo_program
from zoo.tokenizers import build_vocab

TINY = ["--model", "gpt2_tiny", "--max-seq-length", "64", "--batch-size", "16",
        "--no-progress"]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory, text_corpus):
    folder = tmp_path_factory.mktemp("bpe")
    build_vocab("byte_bpe", 400, [str(text_corpus)], str(folder), layout="gpt2")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory, text_corpus):
    """150 steps from scratch; the program trains the family's vocabulary (byte-level BPE,
    GPT-2's layout) on the corpus first."""
    out = tmp_path_factory.mktemp("gpt2")
    zoo_program("pretrain", *TINY, "--corpus", text_corpus, "--eval-corpus", text_corpus,
                "--eval-batches", 5, "--vocab-size", 400, "--output", out, "--max-steps", 150,
                "--lr", "3e-3", "--warmup-steps", 10, "--log-every", 10, "--save-every", 75)
    return out


def test_causal_lm_loss_falls_well_below_start(trained):
    rows = [r for r in metrics(trained) if r["split"] == "train"]
    assert [r["step"] for r in rows] == [1] + list(range(10, 151, 10))
    first, last = rows[0]["lm_loss"], np.mean([r["lm_loss"] for r in rows[-3:]])
    assert first > 5.5                   # about ln(400): the untrained model guesses uniformly
    assert last < first - 1.0, (first, last)
    assert rows[-1]["lm_acc"] > 2 * rows[0]["lm_acc"]
    evals = [r for r in metrics(trained) if r["split"] == "eval"]
    assert len(evals) == 2 and evals[-1]["perplexity"] < evals[0]["perplexity"] < 400


def test_checkpoint_stores_the_tie_once_and_loads_headless(trained, vocab):
    final = os.path.join(trained, "model.params")
    info = checkpoints.inspect(final, verify=True)
    assert info.ties == {"lm_head.weight": "word_embed.weight"}
    assert "lm_head.weight" not in {n for n, _, _ in info.tensors}
    assert info.config["family"] == "gpt2" and info.config["vocab_size"] == 400
    model = zoo.get_model("gpt2", pretrained=final)
    report = model.load_report
    assert report.missing == [] and report.unused == [] and report.aliased == {}
    tok = zoo.get_tokenizer(final)          # the vocabulary the program trained: GPT-2's layout
    assert tok.vocab_size == 400 and tok.eos_id == 399
    assert tok.token_to_id("<|endoftext|>") == 399 and tok.cls_id is None
    assert tok.encode("Return the value.") == zoo.get_tokenizer(str(vocab)).encode(
        "Return the value.")


def test_generates_from_the_pretrained_model(trained):
    proc = zoo_program("generate", os.path.join(trained, "model.params"), "--prompt",
                       "Return the", "--max-new-tokens", 12, "--no-eos")
    model = zoo.get_model("gpt2", pretrained=os.path.join(trained, "model.params"),
                          use_lm=True)
    tok = zoo.get_tokenizer(os.path.join(trained, "model.params"))
    ids = zoo.generate(model, [tok.encode("Return the")], max_new_tokens=12)[0]
    assert proc.stdout == tok.decode(ids) + "\n"


def test_kill_and_resume_equals_uninterrupted(tmp_path, text_corpus, vocab):
    common = [*TINY, "--corpus", text_corpus, "--vocab", vocab, "--max-steps", 30,
              "--save-every", 10, "--log-every", 5, "--seed", 5, "--buffer-documents", 50]
    assert_kill_and_resume_exact(common, tmp_path)
