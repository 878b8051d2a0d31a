"""scripts/pretrain.py end to end on real text: learning, head-less reload, exact resume,
distributed data parallel, and clear errors on bad input."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import checkpoints
import zoo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "pretrain.py")
LAUNCH = os.path.join(ROOT, "scripts", "launch.py")
TINY = ["--model", "bert_tiny", "--override", "num_layers=1", "--max-seq-length", "64",
        "--batch-size", "8", "--no-progress"]


def pretrain(*args, env=None, check=True, timeout=300):
    proc = subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"pretrain.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def checksum(stderr):
    lines = [l for l in stderr.splitlines() if "final parameter checksum" in l]
    return lines[-1].split()[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, text_corpus, wordpiece_vocab):
    out = tmp_path_factory.mktemp("pretrain")
    proc = pretrain(*TINY, "--corpus", text_corpus, "--eval-corpus", text_corpus,
                    "--vocab", wordpiece_vocab, "--output", out, "--max-steps", 150,
                    "--lr", "1e-3", "--warmup-steps", 10, "--log-every", 10, "--save-every", 50)
    return out, proc


def test_mlm_loss_falls_well_below_start(trained):
    out, _ = trained
    rows = [r for r in metrics(out) if r["split"] == "train"]
    assert [r["step"] for r in rows] == [1] + list(range(10, 151, 10))
    first, last = rows[0]["mlm_loss"], np.mean([r["mlm_loss"] for r in rows[-3:]])
    assert first > 6.5  # about ln(1000): the untrained model guesses uniformly
    assert last < first - 0.8, (first, last)  # perplexity more than halved
    evals = [r for r in metrics(out) if r["split"] == "eval"]
    assert evals and evals[-1]["perplexity"] < evals[0]["perplexity"]
    assert os.path.getsize(os.path.join(out, "loss.png")) > 5000


def test_checkpoint_loads_headless_with_only_head_tensors_unused(trained, wordpiece_vocab):
    out, _ = trained
    final = os.path.join(out, "model.params")
    info = checkpoints.inspect(final, verify=True)
    assert info.ties == {"mlm_decoder.decoder.weight": "word_embed.weight"}
    assert "tokenizer/vocab.txt" in info.assets
    model = zoo.get_model("bert", use_mlm=False, pretrained=final)
    report = model.load_report
    assert report.missing == []
    assert report.unused and all(n.startswith(("mlm_decoder.", "nsp_classifier.")) for n in report.unused)
    assert model.config.num_layers == 1
    tok = zoo.get_tokenizer(final)  # exactly the tokenizer the model was trained with
    trained_with = zoo.get_tokenizer(str(wordpiece_vocab))
    text = "The module defines a class, Ünïcode and all."
    assert tok.vocab_size == model.config.vocab_size == trained_with.vocab_size
    assert tok.encode_pair(text) == trained_with.encode_pair(text)
    # kept checkpoints: every --save-every step, each complete
    steps = sorted(os.listdir(os.path.join(out, "checkpoints")))
    assert steps == ["step-00000050", "step-00000100", "step-00000150"]


def test_kill_and_resume_equals_uninterrupted(tmp_path, text_corpus, wordpiece_vocab):
    common = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--max-steps", 30,
              "--save-every", 10, "--log-every", 5, "--seed", 5]
    straight = pretrain(*common, "--output", tmp_path / "a")
    b = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, SCRIPT, *map(str, common), "--output", str(b)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.time() + 240
        while not (b / "checkpoints" / "step-00000020").exists():
            assert proc.poll() is None and time.time() < deadline, "run ended before step 20"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    resumed = pretrain(*common, "--output", b, "--resume")
    assert "[resume] continuing from" in resumed.stderr
    assert checksum(resumed.stderr) == checksum(straight.stderr)  # bitwise on CPU
    strip = lambda rows: [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in rows]
    assert strip(metrics(b)) == strip(metrics(tmp_path / "a"))


@pytest.mark.slow
def test_dist_sync_two_workers_identical_parameters(tmp_path, text_corpus, wordpiece_vocab):
    """Two workers and a server over loopback, started by the launcher (the README's way);
    tests/test_faults.py has what happens when a process of such a job dies."""
    out = tmp_path / "dist"
    args = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--max-steps", 12,
            "--save-every", 6, "--log-every", 3, "--kvstore", "dist_sync", "--output", out,
            "--dist-timeout", 120]
    proc = subprocess.run([sys.executable, LAUNCH, "-n", "2", "-s", "1", "--", sys.executable, SCRIPT,
                           *map(str, args)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sums = dict(re.findall(r"\[worker (\d)\] final parameter checksum (\w+)", proc.stderr))
    assert sorted(sums) == ["0", "1"] and sums["0"] == sums["1"], proc.stderr
    assert sorted(os.listdir(out / "checkpoints")) == ["ranks", "step-00000006", "step-00000012"]
    assert os.listdir(out / "checkpoints" / "ranks") == []
    state = json.loads((out / "checkpoints" / "step-00000012" / "state.json").read_text())
    assert sorted(state["data_by_rank"]) == ["0", "1"]
    assert state["data_by_rank"]["0"] != state["data_by_rank"]["1"]  # disjoint shards
    reloaded = zoo.get_model("bert", use_mlm=False, pretrained=str(out / "model.params"))
    assert reloaded.load_report.missing == []


def test_bad_inputs_give_clear_errors(tmp_path, text_corpus, wordpiece_vocab):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    proc = pretrain(*TINY, "--corpus", empty, "--vocab", wordpiece_vocab, "--output",
                    tmp_path / "o1", "--max-steps", 2, check=False)
    assert proc.returncode == 2 and "empty.txt" in proc.stderr and "Traceback" not in proc.stderr

    tiny = tmp_path / "tiny.txt"
    tiny.write_text("one short line.\n")
    proc = pretrain(*TINY, "--corpus", tiny, "--vocab", wordpiece_vocab, "--output",
                    tmp_path / "o2", "--max-steps", 2, "--batch-size", 64, check=False)
    assert proc.returncode == 2 and "tiny.txt" in proc.stderr and "Traceback" not in proc.stderr

    proc = pretrain(*TINY, "--corpus", text_corpus, "--output", tmp_path / "o3", "--max-steps", 2,
                    check=False)
    assert proc.returncode == 2 and "--vocab" in proc.stderr

    # a vocabulary that does not match --init-from
    base = tmp_path / "base"
    pretrain(*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output", base,
             "--max-steps", 2)
    other = tmp_path / "other_vocab.txt"
    other.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(50)]) + "\n")
    proc = pretrain(*TINY, "--corpus", text_corpus, "--vocab", other, "--init-from",
                    base / "model.params", "--output", tmp_path / "o4", "--max-steps", 2, check=False)
    assert proc.returncode == 2 and "55 tokens" in proc.stderr and "model.params" in proc.stderr


def test_full_disk_during_checkpoint_keeps_earlier_ones(tmp_path, monkeypatch):
    from zoo import training
    model = zoo.get_model("bert_test", use_mlm=True)
    import mxnet as mx
    model(mx.nd.ones((1, 4)), mx.nd.zeros((1, 4)), mx.nd.array([4]), mx.nd.zeros((1, 1)))
    run = training.RunDirectory(tmp_path, keep_last=2)
    run.save(1, model, None, {"data": {}})

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training.checkpoints, "save", disk_full)
    with pytest.raises(checkpoints.CheckpointError, match="No space left.*earlier checkpoints are intact"):
        run.save(2, model, None, {"data": {}})
    monkeypatch.undo()
    path, state = run.latest()
    assert path.endswith("step-00000001") and state["step"] == 1
    assert sorted(os.listdir(run.dir)) == ["step-00000001"]


HEAD_PREFIXES = {"bert": ("mlm_decoder.", "nsp_classifier."), "roberta": ("mlm_decoder.",),
                 "albert": ("mlm_decoder.", "sop_classifier."),
                 "electra": ("generator.", "rtd_classifier.")}


@pytest.mark.parametrize("preset", ["bert_test", "roberta_tiny", "albert_tiny", "electra_tiny"])
def test_every_family_pretrains_and_loads_headless(tmp_path, text_corpus, wordpiece_vocab, preset):
    out = tmp_path / preset
    pretrain("--model", preset, "--max-seq-length", 32, "--batch-size", 4, "--no-progress",
             "--corpus", text_corpus, "--eval-corpus", text_corpus, "--eval-batches", 2,
             "--vocab", wordpiece_vocab, "--output", out, "--max-steps", 6, "--log-every", 3)
    rows = metrics(out)
    family = zoo.get_family(preset).name
    second = {"bert": "nsp", "albert": "sop", "electra": "rtd"}.get(family)
    assert all(np.isfinite(r["loss"]) for r in rows)
    if second:
        assert f"{second}_acc" in rows[-1] and f"{second}_loss" in rows[-1]
    model = zoo.get_model(family, pretrained=str(out / "model.params"))
    report = model.load_report
    assert report.missing == [] and report.aliased == {}
    assert report.unused and all(n.startswith(HEAD_PREFIXES[family]) for n in report.unused)


def test_roberta_takes_the_tokenizers_padding_id(tmp_path, text_corpus, wordpiece_vocab):
    out = tmp_path / "roberta"
    pretrain("--model", "roberta_tiny", "--max-seq-length", 32, "--batch-size", 4, "--no-progress",
             "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output", out, "--max-steps", 2)
    config = checkpoints.inspect(str(out / "model.params")).config
    assert config["pad_token_id"] == zoo.get_tokenizer(str(wordpiece_vocab)).pad_id == 0
