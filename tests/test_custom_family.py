"""A family defined outside ``zoo/`` (tests/toy_family.py, the README's walk-through) is a
first-class citizen: ``get_model``, ``save``/``load`` across variants, ``zoo list``,
``resize_token_embeddings``, and the pretraining and finetuning programs pick it up."""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np

import toy_family  # noqa: F401  (registers the family "toy")
import zoo
from checkpoints import inspect, save, ties_of
from zoo.cli import main as zoo_main

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _inputs():
    rng = np.random.RandomState(0)
    ids = rng.randint(0, 100, size=(2, 9))
    return [mx.nd.array(a) for a in (ids, np.zeros((2, 9)), [9, 4], [[1, 2, 3], [1, 2, 3]])]


def test_get_model_save_load_and_list(tmp_path, capsys):
    pre = zoo.get_model("toy_tiny", use_mlm=True)
    assert ties_of(pre) == {"mlm_decoder.decoder.weight": "word_embed.weight"}
    seq, pooled, scores = pre(*_inputs())
    assert seq.shape == (2, 9, 16) and pooled.shape == (2, 16) and scores.shape == (2, 3, 100)
    path = str(tmp_path / "toy.params")
    save(pre, path)
    assert inspect(path).config["family"] == "toy"
    backbone = zoo.get_model("toy", pretrained=path)
    assert backbone.load_report.missing == []
    assert set(backbone.load_report.unused) == {"mlm_decoder.transform.weight",
                                                "mlm_decoder.transform.bias",
                                                "mlm_decoder.layer_norm.gamma",
                                                "mlm_decoder.layer_norm.beta",
                                                "mlm_decoder.decoder.bias"}
    np.testing.assert_allclose(backbone(*_inputs()[:3])[0].asnumpy(), seq.asnumpy(), atol=1e-6)
    assert zoo_main(["list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("toy_tiny"))
    assert "mlm_decoder.decoder.weight = word_embed.weight" in line
    zoo.resize_token_embeddings(pre, 120)
    assert pre(*_inputs())[2].shape == (2, 3, 120)


def test_the_programs_pick_it_up(tmp_path, text_corpus, wordpiece_vocab):
    env = dict(os.environ, TIEZOO_FAMILIES="toy_family",
               PYTHONPATH=os.pathsep.join([HERE, ROOT, os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "pretrain"
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", "pretrain", "--model", "toy_tiny", "--corpus",
         str(text_corpus), "--vocab", str(wordpiece_vocab), "--output", str(out),
         "--max-seq-length", "32", "--batch-size", "8", "--max-steps", "30", "--lr", "3e-3",
         "--no-progress", "--log-every", "10"],
        env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f]
    assert rows[-1]["mlm_loss"] < rows[0]["mlm_loss"]
    assert inspect(str(out / "model.params")).config["family"] == "toy"

    train = tmp_path / "train.tsv"
    lines = ["sentence\tlabel"] + [f"the {w} returns a value\t{i % 2}" if i % 2 else
                                   f"raise an error for {w}\t{i % 2}"
                                   for i, w in enumerate(["file", "list", "string", "socket",
                                                          "thread", "number"] * 6)]
    train.write_text("\n".join(lines) + "\n")
    tuned = tmp_path / "finetune"
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", "finetune", "--task", "classification", "--pretrained",
         str(out / "model.params"), "--train", str(train), "--dev", str(train), "--output",
         str(tuned), "--max-steps", "20", "--batch-size", "8", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = zoo.get_model("toy", pretrained=str(tuned / "model.params"), task="classification",
                          num_classes=2)
    assert model.load_report.missing == []
