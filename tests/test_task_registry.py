"""The task registries: a task defined outside the library (its own file format, its own
head) is one Task subclass, one head class and two registration lines, and then
``get_model``, ``zoo finetune`` (its --task choices), finetuning, the saved checkpoint and
``zoo predict`` all serve it; unknown task names are clear errors that list the known ones."""
import json
import os
import random

import mxnet as mx
import pytest
from mxnet.gluon import HybridBlock, nn

import checkpoints
import heads
import zoo
from zoo import tasks
from zoo.cli import finetune as finetune_cli
from zoo.tasks import base as tasks_base
from zoo.training import UsageError

BUILTIN = ["causal_lm", "classification", "qa", "regression", "seq2seq", "tagging"]


@pytest.fixture
def registries(monkeypatch):
    """Registrations made by a test are undone after it (the registries are process-wide)."""
    monkeypatch.setattr(tasks_base, "_TASKS", dict(tasks_base._TASKS))
    monkeypatch.setattr(heads, "_TASK_HEADS", dict(heads._TASK_HEADS))


# ---------------------------------------------------------------- a task from outside zoo

class MeanPoolHead(HybridBlock):
    """Scores (B, C) from the mean of the sequence output over the valid positions."""

    uses_pooled = False
    needs_num_classes = True

    @classmethod
    def for_task(cls, units, *, num_classes, dropout=0.1, initializer_range=0.02):
        return cls(units, num_classes)

    def __init__(self, units, num_classes):
        super().__init__()
        self.classifier = nn.Dense(num_classes, in_units=units, flatten=False)

    def hybrid_forward(self, F, seq, pooled, valid_length=None):
        masked = F.SequenceMask(seq, sequence_length=valid_length, use_sequence_length=True,
                                axis=1)
        mean = F.broadcast_div(F.sum(masked, axis=1), F.reshape(valid_length, (-1, 1)))
        return self.classifier(mean)


class LabelFirstTask(tasks.ClassificationTask):
    """Lines ``LABEL<TAB>text`` without a header; predictions as ``LABEL<TAB>text`` lines."""

    output_ext = ".txt"

    def read(self, path, columns, require_label=True):
        out = []
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                label, _, text = line.rstrip("\n").partition("\t")
                if not text:
                    raise tasks.TaskDataError(f"{path}:{i}: expected LABEL<TAB>text")
                out.append(tasks.SequenceExample(text, None, label, i, path))
        return out

    def write(self, path, examples, predictions):
        with checkpoints.atomic.atomic_open(path, durable=False) as f:
            for ex, p in zip(examples, predictions):
                f.write(f"{self.labels[int(p.argmax())]}\t{ex.text_a}\n")


def _label_first_data(vocab_dir, out):
    """Sentences of filler words; one of the words is from set A (label a) or B (label b)."""
    rng = random.Random(0)
    with open(os.path.join(vocab_dir, "vocab.txt"), encoding="utf-8") as f:
        words = [w for w in f.read().split("\n") if w.isalpha() and w.isascii() and len(w) >= 3]
    rng.shuffle(words)
    a, b, filler = words[:6], words[6:12], words[12:200]
    paths = {}
    for split, n in (("train", 240), ("dev", 80)):
        paths[split] = os.path.join(out, f"{split}.txt")
        with open(paths[split], "w", encoding="utf-8") as f:
            for _ in range(n):
                label = rng.choice("ab")
                s = [rng.choice(filler) for _ in range(rng.randint(4, 9))]
                s.insert(rng.randrange(len(s) + 1), rng.choice(a if label == "a" else b))
                f.write(f"{label}\t{' '.join(s)}\n")
    return paths


def test_a_task_from_outside_zoo_finetunes_and_predicts_through_the_cli(
        registries, tmp_path, capsys, wordpiece_vocab):
    heads.register_task_head("label_first", MeanPoolHead)
    tasks.register_task("label_first", LabelFirstTask)
    assert tasks.list_tasks() == sorted(BUILTIN + ["label_first"])
    # every family builds the new head
    for preset in ("bert_test", "roberta_tiny", "albert_tiny", "electra_tiny"):
        model = zoo.get_model(preset, task="label_first", num_classes=3)
        assert isinstance(model.head, MeanPoolHead) and not model.use_pooler
        ids = mx.nd.array([[2, 5, 6, 3], [2, 7, 3, 0]])
        scores = model(ids, mx.nd.zeros_like(ids), mx.nd.array([4, 3]))
        assert scores.shape == (2, 3)
    tok = zoo.get_tokenizer(str(wordpiece_vocab))
    pre = zoo.get_model("bert_tiny", use_mlm=True, num_layers=1, vocab_size=tok.vocab_size)
    ckpt = tmp_path / "pre.params"
    checkpoints.save(pre, str(ckpt), config=pre.config, assets=tok.to_assets())
    data = _label_first_data(str(wordpiece_vocab), str(tmp_path))
    out = tmp_path / "run"
    assert finetune_cli.main(["--task", "label_first", "--pretrained", str(ckpt), "--train",
                              data["train"], "--dev", data["dev"], "--output", str(out),
                              "--max-steps", "60", "--eval-every", "30", "--lr", "1e-3",
                              "--batch-size", "16", "--no-progress", "--seed", "0"]) == 0
    err = capsys.readouterr().err
    assert "missing (freshly initialized): head.classifier.weight, head.classifier.bias" in err
    results = json.loads((out / "results.json").read_text())
    assert results["task"] == "label_first"
    assert results["dev"]["accuracy"] >= 0.9 > results["baseline"]["accuracy"] + 0.2, results
    dev_lines = (out / "dev_predictions.txt").read_text().splitlines()
    assert len(dev_lines) == 80 and all(l.split("\t")[0] in "ab" for l in dev_lines)
    # predict rebuilds the task, the head and the labels from the checkpoint alone
    pred = tmp_path / "pred.txt"
    assert finetune_cli.main(["predict", "--model", str(out / "model.params"), "--input",
                              data["dev"], "--output", str(pred)]) == 0
    assert pred.read_text() == (out / "dev_predictions.txt").read_text()
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["accuracy"] == pytest.approx(results["dev"]["accuracy"])


# ------------------------------------------------------------------- registration errors

def test_unknown_task_names_list_the_known_ones(capsys):
    for preset in ("bert_test", "roberta_tiny", "albert_tiny", "electra_tiny"):
        with pytest.raises(ValueError) as e:
            zoo.get_model(preset, task="sentiment", num_classes=2)
        assert str(e.value) == ("unknown task 'sentiment'; known: classification, qa, "
                                "regression, tagging")
    with pytest.raises(UsageError, match=r"^unknown task 'sentiment'; known: "
                                         r"causal_lm, classification, qa, regression, seq2seq, "
                                         r"tagging$"):
        tasks.get_task("sentiment")
    with pytest.raises(SystemExit) as e:
        finetune_cli.main(["--task", "sentiment", "--pretrained", "x", "--train", "x",
                           "--output", "x"])
    assert e.value.code == 2
    assert "invalid choice: 'sentiment'" in capsys.readouterr().err
    # a head's own argument errors still name the task
    with pytest.raises(ValueError, match="task 'qa' takes no num_classes"):
        zoo.get_model("bert_test", task="qa", num_classes=2)
    with pytest.raises(ValueError, match=r"task 'tagging' needs num_classes >= 1, got None"):
        zoo.get_model("bert_test", task="tagging")


def test_registration_refuses_clashes(registries):
    with pytest.raises(ValueError, match=r"task 'qa' is already registered \(QATask\)"):
        tasks.register_task("qa", LabelFirstTask)
    with pytest.raises(TypeError, match="expected a Task subclass"):
        tasks.register_task("mine", MeanPoolHead)
    with pytest.raises(ValueError, match=r"task 'qa' already has a head \(SpanHead\)"):
        heads.register_task_head("qa", MeanPoolHead)
    # registering the same class again under its name is a no-op
    assert tasks.register_task("qa", tasks.QATask) is tasks.QATask
    assert heads.register_task_head("qa", heads.SpanHead) is heads.SpanHead
    tasks.register_task("label_first", LabelFirstTask)
    with pytest.raises(ValueError, match="LabelFirstTask is already the task 'label_first'"):
        tasks.register_task("other_name", LabelFirstTask)


def test_task_options_are_declared_by_the_task():
    ap = finetune_cli.finetune_parser()
    args = ap.parse_args(["--task", "qa", "--pretrained", "p", "--train", "t", "--output", "o",
                          "--doc-stride", "7"])
    opts = finetune_cli.finetune_options(args)
    assert opts.task_options == {**tasks.QATask.option_defaults, "doc_stride": 7}
    args = ap.parse_args(["--task", "tagging", "--pretrained", "p", "--train", "t",
                          "--output", "o"])
    assert finetune_cli.finetune_options(args).task_options == {}
    with pytest.raises(UsageError, match="--doc-stride must be at least 1"):
        tasks.FinetuneOptions("qa", "p", "t", "o", task_options={"doc_stride": 0}).validate()
    with pytest.raises(UsageError, match="the tagging task has no option 'doc_stride'"):
        tasks.FinetuneOptions("tagging", "p", "t", "o", task_options={"doc_stride": 8}).validate()
    with pytest.raises(UsageError, match=r"--metric bleu: the qa task reports exact_match, f1"):
        tasks.FinetuneOptions("qa", "p", "t", "o", metric="bleu").validate()


def test_batches_pad_to_a_multiple_of_8_with_the_pad_id():
    task = tasks.ClassificationTask(None, {"labels": ["a", "b"]}, 16, pad_id=7)
    feats = [tasks.SequenceFeature(0, [1, 2, 3], [0, 0, 1], 1),
             tasks.SequenceFeature(1, list(range(1, 11)), [0] * 10, 0)]
    arrays = task.arrays(feats, with_labels=True)
    assert arrays["input_ids"].shape == (2, 16)          # 10 -> 16 (a multiple of 8, the cap)
    assert arrays["input_ids"][0].tolist() == [1, 2, 3] + [7] * 13
    assert arrays["token_types"][0].tolist() == [0, 0, 1] + [0] * 13
    assert arrays["valid_length"].tolist() == [3, 10] and arrays["labels"].tolist() == [1, 0]
    assert task.arrays(feats[:1], with_labels=False)["input_ids"].shape == (1, 8)
    assert "labels" not in task.arrays(feats, with_labels=False)
    batch = {k: mx.nd.array(v) for k, v in arrays.items()}
    model = zoo.get_model("bert_test", **task.model_kwargs())
    assert task.forward(model, batch).shape == (2, 2)
