"""The ``seq2seq`` finetuning task: label-smoothed cross-entropy equal to PyTorch's, metrics
from rouge-score and sacrebleu, a run that learns a text-to-text task from the standard
library's docstrings far beyond copying the source, the best checkpoint kept and ``predict``
reproducing its generations, and mistakes (an empty target, a source longer than the encoder
takes with truncation off, a missing column) as one line with exit status 2."""
import json

import mxnet as mx
import numpy as np
import pytest

import checkpoints
import zoo
from heads.seq2seq import LabelSmoothedCrossEntropy
from zoo.cli import finetune as finetune_cli
from zoo.seq2seq_data import first_words_reversed, stdlib_reversal_task
from zoo.tasks import FinetuneOptions, finetune, predict
from zoo.tasks.seq2seq import seq2seq_metrics
from zoo.tokenizers import build_vocab


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothed_loss_equals_pytorch(smoothing):
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(0)
    scores = rng.normal(0, 2, size=(3, 7, 11)).astype(np.float32)
    labels = rng.randint(0, 11, size=(3, 7))
    weights = (np.arange(7)[None, :] < np.array([7, 4, 1])[:, None]).astype(np.float32)
    ours = LabelSmoothedCrossEntropy(smoothing)(mx.nd.array(scores), mx.nd.array(labels),
                                                 mx.nd.array(weights)).asscalar()
    keep = weights.reshape(-1) > 0
    theirs = torch.nn.functional.cross_entropy(
        torch.tensor(scores.reshape(-1, 11)[keep]), torch.tensor(labels.reshape(-1)[keep]),
        label_smoothing=smoothing)
    assert ours == pytest.approx(float(theirs), rel=1e-5)


def test_metrics_come_from_rouge_score_and_sacrebleu():
    refs = ["the cat sat on the mat", "a b c d", "one two"]
    perfect = seq2seq_metrics(refs, refs)
    assert perfect == pytest.approx({"exact_match": 1.0, "rouge1": 1.0, "rouge2": 1.0,
                                     "rougeL": 1.0, "bleu": 100.0})
    half = seq2seq_metrics(["the  cat sat on the mat ", "x y z w", "q r"], refs)
    assert half["exact_match"] == pytest.approx(1 / 3)         # whitespace does not count
    assert half["rouge1"] == pytest.approx(1 / 3) and half["rougeL"] == pytest.approx(1 / 3)
    # stemmed ROUGE: "sitting"/"sits" match "sat"? no; "cats"/"cat" do
    assert seq2seq_metrics(["cats"], ["cat"])["rouge1"] == pytest.approx(1.0)
    assert seq2seq_metrics(["dog"], ["cat"]) == pytest.approx(
        {"exact_match": 0.0, "rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0, "bleu": 0.0})


def test_the_demo_task_reverses_the_first_five_words(tmp_path):
    assert first_words_reversed("Return the value of the named attribute of object.") == \
        "the of value the Return"
    counts = stdlib_reversal_task(str(tmp_path), max_words=10, max_sentences=50)
    assert counts == {"train": 50, "dev": 5}
    rows = [json.loads(l) for l in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert all(r["target"] == first_words_reversed(r["source"]) for r in rows)
    assert all(len(r["source"].split()) <= 10 for r in rows)


# ----------------------------------------------------------------------- finetuning runs

@pytest.fixture(scope="module")
def reversal(tmp_path_factory):
    out = tmp_path_factory.mktemp("reversal")
    stdlib_reversal_task(str(out), max_words=10, max_sentences=3000)
    return {split: str(out / f"{split}.jsonl") for split in ("train", "dev")}


@pytest.fixture(scope="module")
def initial(tmp_path_factory, text_corpus):
    """A fresh bart_tiny with a 2000-token byte-level BPE of the docstrings, as the
    pretraining program would start it (special ids from the vocabulary)."""
    tok = build_vocab("byte_bpe", 2000, [str(text_corpus)], str(tmp_path_factory.mktemp("bpe")),
                      layout="roberta")
    overrides = zoo.get_family("bart").recipe.config_overrides(tok)
    mx.random.seed(0)                       # the same start whatever ran before
    model = zoo.get_model("bart_tiny", use_lm=True, vocab_size=tok.vocab_size, **overrides)
    path = tmp_path_factory.mktemp("init") / "bart.params"
    checkpoints.save(model, path, config=model.config, assets=tok.to_assets())
    return str(path)


def _options(initial, reversal, out, **kw):
    kw.setdefault("task_options", {"max_target_length": 16})
    return FinetuneOptions(task="seq2seq", pretrained=initial, train=reversal["train"],
                           dev=reversal["dev"], output=str(out), batch_size=32, lr=3e-3,
                           max_seq_length=24, progress=False, **kw)


@pytest.mark.slow
def test_finetuning_learns_far_beyond_copying_and_predict_reproduces_it(
        initial, reversal, tmp_path, capsys):
    out = tmp_path / "run"
    result = finetune(_options(initial, reversal, out, max_steps=600, eval_every=300,
                               metric="exact_match"), log=lambda m: None)
    dev, copy = result.dev, result.baseline
    assert copy["exact_match"] < 0.05
    assert dev["exact_match"] > 0.1 and dev["exact_match"] > 5 * copy["exact_match"], (dev, copy)
    assert dev["rougeL"] > 0.5 and dev["bleu"] > 25
    # the best of the two evaluations is the model kept
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [l for l in lines if l["split"] == "dev"]
    assert [e["step"] for e in evals] == [300, 600]
    best = max(evals, key=lambda e: e["exact_match"])
    results = json.loads((out / "results.json").read_text())
    assert results["best_step"] == best["step"] and results["baseline"] == copy
    # predict rebuilds tokenizer, lengths and search from the checkpoint, writes generations
    pred = tmp_path / "pred.jsonl"
    assert finetune_cli.main(["predict", "--model", str(out / "model.params"), "--input",
                              reversal["dev"], "--output", str(pred)]) == 0
    assert pred.read_text() == (out / "dev_predictions.jsonl").read_text()
    rows = [json.loads(l) for l in pred.read_text().splitlines()]
    assert sum(r["prediction"] == r["target"] for r in rows) / len(rows) == \
        pytest.approx(dev["exact_match"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed == pytest.approx(dev)


@pytest.mark.slow
def test_beam_search_evaluation_and_label_smoothing_options(initial, reversal, tmp_path):
    out = tmp_path / "beam"
    result = finetune(_options(initial, reversal, out, max_steps=40, eval_every=40,
                               task_options={"max_target_length": 16, "num_beams": 3,
                                             "label_smoothing": 0.2}), log=lambda m: None)
    meta = json.loads(checkpoints.read_assets(result.model_path)["finetune/task.json"])
    assert meta["num_beams"] == 3 and meta["label_smoothing"] == 0.2
    model = zoo.get_model("bart", pretrained=result.model_path, use_lm=True)
    tok = zoo.get_tokenizer(result.model_path)
    rows = [json.loads(l) for l in (out / "dev_predictions.jsonl").read_text().splitlines()]
    ids = tok.encode_pair(rows[0]["source"], max_length=24, truncation="only_first").ids
    beam = zoo.generate(model, [ids], max_new_tokens=16, num_beams=3,
                        eos_id=model.config.eos_token_id)[0]
    assert rows[0]["prediction"] == tok.decode(beam).strip()


# ------------------------------------------------------------------------------ mistakes

def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _fails(capsys, *argv):
    assert finetune_cli.main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_mistakes_are_one_line_with_status_2(initial, tmp_path, capsys):
    good = {"source": "Return the value.", "target": "value. the Return"}
    train = _write(tmp_path / "train.jsonl", [good] * 4)
    base = ["--task", "seq2seq", "--pretrained", initial, "--max-steps", "1",
            "--no-progress"]
    empty = _write(tmp_path / "empty.jsonl", [good, {"source": "Some text.", "target": "  "}])
    err = _fails(capsys, *base, "--train", empty, "--output", str(tmp_path / "o1"))
    assert err.startswith(f"finetune.py: error: {empty}:2: empty target ('target')")
    long = _write(tmp_path / "long.jsonl", [good, {"source": "word " * 80, "target": "x"}])
    err = _fails(capsys, *base, "--train", train, "--dev", long, "--truncation", "none",
                 "--output", str(tmp_path / "o2"))
    assert err.startswith(f"finetune.py: error: {long}:2: the source has ")
    assert "more than the 64 of --max-seq-length (the encoder's input)" in err
    # with truncation (the default) the same file is fine to read
    assert finetune_cli.main([*base, "--train", train, "--dev", long, "--output",
                              str(tmp_path / "o3")]) == 0
    capsys.readouterr()
    err = _fails(capsys, *base, "--train", train, "--max-seq-length", "2000", "--output",
                 str(tmp_path / "o4"))
    assert err == ("finetune.py: error: --max-seq-length 2000 exceeds the model's 64 "
                   "positions")
    nocol = _write(tmp_path / "nocol.jsonl", [{"text": "a", "answer": "b"}])
    err = _fails(capsys, *base, "--train", nocol, "--output", str(tmp_path / "o5"))
    assert err.startswith(f"finetune.py: error: {nocol}:1: no target column: none of target, ")
    assert "name it with --label-column" in err
    err = _fails(capsys, *base, "--train", train, "--num-beams", "0", "--output",
                 str(tmp_path / "o6"))
    assert err == "finetune.py: error: --num-beams must be at least 1"
    assert not any((tmp_path / f"o{i}").exists() for i in (1, 2, 4, 5, 6))
