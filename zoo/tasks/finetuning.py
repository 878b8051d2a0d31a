"""Finetuning, evaluation and prediction as library functions (``zoo finetune`` and
``zoo predict`` are argument parsing around them)::

    from zoo.tasks import FinetuneOptions, finetune, predict
    result = finetune(FinetuneOptions(task="classification", pretrained="pre.params",
                                      train="train.tsv", dev="dev.tsv", output="runs/sst",
                                      max_steps=300))
    result.dev["accuracy"], result.model_path
    metrics, predictions = predict("runs/sst/model.params", "test.tsv", "test.jsonl")

A run folder holds ``metrics.jsonl`` (train lines ``{"split": "train", "step", "epoch",
"loss", "lr", "seq_per_s"}``, dev lines ``{"split": "dev", "step", "epoch", <metrics>}``),
``metrics.png``, the best model by the chosen dev metric (``model.params`` or
``model.safetensors``) with its config, tokenizer and task description, so that
:func:`predict` rebuilds everything from that one file, ``dev_predictions.jsonl`` (``.json``
for QA) of the best model and ``results.json`` (best step, its dev metrics, the baseline).
Every file goes through :mod:`checkpoints.atomic`.

All data is read, encoded and checked before the first step: a problem is a
:class:`~zoo.tasks.data.TaskDataError` (``FILE:LINE: ...``) or a
:class:`~zoo.training.UsageError`, and nothing is written (but the converted checkpoint of a
Hugging Face folder). A folder that holds a previous run is refused unless ``overwrite``.
"""
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

import mxnet as mx
import numpy as np

import checkpoints
from checkpoints.atomic import atomic_open

from .. import training
from ..training import UsageError
from .base import get_task, list_tasks, make_task
from .model import (build_model, finetuned_assets, load_tokenizer, max_positions, model_config,
                    pad_id, read_checkpoint, stored_task, TASK_ASSET)

__all__ = ["FinetuneOptions", "FinetuneResult", "finetune", "predict", "evaluate", "run_model",
           "prepare_training", "train_step", "check_output_dir", "check_prediction_output",
           "RUN_FILES", "TRUNCATIONS"]

TRUNCATIONS = ("longest_first", "only_first", "only_second", "none")
# What a run writes into its folder; a folder holding any of these holds a previous run.
RUN_FILES = ("metrics.jsonl", "metrics.png", "results.json", "model.params", "model.safetensors",
             "dev_predictions.jsonl", "dev_predictions.json")
CONVERTED = "pretrained.params"   # a Hugging Face folder given as --pretrained, converted


def log_line(msg):
    """The default ``log``: one line to stderr."""
    print(msg, file=sys.stderr, flush=True)


@dataclass
class FinetuneOptions:
    """Everything a finetuning run is told (the command line's options, same names).

    ``columns``: data options ``format``, ``delimiter``, ``text_column``,
    ``text_pair_column``, ``label_column``, ``token_column``, ``tag_column`` (absent: chosen
    from the file). ``task_options``: the task's own (see its ``option_defaults``).
    ``overrides``: config fields that leave the weights' shapes alone (``dropout``).
    """
    task: str
    pretrained: str          # checkpoint file, or a Hugging Face folder (converted first)
    train: str
    output: str              # run folder
    dev: str = None          # without one, the last model is saved
    model: str = None        # preset, for a checkpoint that stores no config
    vocab: str = None        # tokenizer, for a checkpoint that stores none
    overrides: dict = field(default_factory=dict)
    max_seq_length: int = None   # default min(128, the model's positions)
    truncation: str = "longest_first"
    columns: dict = field(default_factory=dict)
    task_options: dict = field(default_factory=dict)
    max_steps: int = None
    epochs: float = None     # default 3 when max_steps is not given either
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    warmup_steps: int = None
    decay: str = "linear"
    layerwise_decay: float = None
    clip_grad: float = 1.0
    eval_every: int = 0      # 0: once per epoch (and always at the end)
    metric: str = None       # default: the task's main metric
    patience: int = 0        # stop after this many evaluations without improvement (0: never)
    log_every: int = 10
    save_format: str = ".params"
    seed: int = 0
    ctx: str = "cpu"
    hybridize: bool = True
    progress: bool = True    # a tqdm bar on stderr
    overwrite: bool = False  # replace a previous run in ``output``

    def validate(self):
        """Raise :class:`UsageError` at the first option that cannot work."""
        task_class = get_task(self.task)
        for name in ("batch_size", "eval_batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_seq_length is not None and self.max_seq_length < 3:
            raise UsageError("--max-seq-length must be at least 3")
        if self.max_steps is not None and self.epochs is not None:
            raise UsageError("give --max-steps or --epochs, not both")
        if self.max_steps is not None and self.max_steps < 1:
            raise UsageError("--max-steps must be at least 1")
        if self.epochs is not None and self.epochs <= 0:
            raise UsageError("--epochs must be positive")
        if self.layerwise_decay is not None and not 0 < self.layerwise_decay <= 1:
            raise UsageError("--layerwise-decay must be in (0, 1]")
        if self.patience < 0 or self.eval_every < 0:
            raise UsageError("--patience and --eval-every must be >= 0")
        if self.truncation not in TRUNCATIONS:
            raise UsageError(f"--truncation {self.truncation!r}: one of {', '.join(TRUNCATIONS)}")
        if self.save_format not in (".params", ".safetensors"):
            raise UsageError(f"--save-format {self.save_format!r}: .params or .safetensors")
        if self.metric is not None and self.metric not in task_class.metric_names:
            raise UsageError(f"--metric {self.metric}: the {self.task} task reports "
                             f"{', '.join(task_class.metric_names)}")
        unknown = set(self.task_options) - set(task_class.option_defaults)
        if unknown:
            raise UsageError(f"the {self.task} task has no option {sorted(unknown)[0]!r}")
        task_class.check_options({**task_class.option_defaults, **self.task_options})


@dataclass
class FinetuneResult:
    model: object            # the best model (its parameters as saved)
    model_path: str
    best_step: int
    steps: int
    dev: dict                # dev metrics of the best model ({} without a dev file)
    baseline: dict           # the task's trivial predictor on dev (None without a dev file)
    stopped_early: bool


# ================================================================================ folders

def check_output_dir(path, overwrite=False):
    """A run folder: absent, empty, or holding a previous run only with ``overwrite``."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--output {path} is a file; give a folder for the run (it is "
                         f"created if missing)")
    if os.path.isdir(path) and not overwrite:
        previous = [f for f in RUN_FILES if os.path.exists(os.path.join(path, f))]
        if previous:
            raise UsageError(f"--output {path} holds a previous run ({', '.join(previous)}); "
                             f"pass --overwrite to replace it, or choose another folder")


def _clear_previous_run(path, keep):
    """Remove a previous run's files before the new run writes its own, so the folder never
    mixes the two (``keep``: a checkpoint this run reads)."""
    for name in RUN_FILES:
        p = os.path.join(path, name)
        if os.path.exists(p) and os.path.abspath(p) != os.path.abspath(keep):
            os.unlink(p)


def check_prediction_output(path, input_path, overwrite=False):
    """A prediction file: not a folder, not the input, an existing one only with
    ``overwrite``."""
    if os.path.isdir(path):
        raise UsageError(f"--output {path} is a folder; give a file for the predictions "
                         f"(for example {os.path.join(path, 'predictions.jsonl')})")
    if os.path.exists(path):
        if os.path.exists(input_path) and os.path.samefile(path, input_path):
            raise UsageError(f"--output {path} is the input file; give another file")
        if not overwrite:
            raise UsageError(f"--output {path} exists; pass --overwrite to replace it, or "
                             f"choose another file")


# ========================================================================== preparation

@dataclass
class _Prepared:
    ctx: object
    tokenizer: object
    task: object             # the Task instance
    meta: dict
    train: tuple             # (examples, features)
    dev: tuple               # (examples, features), or (None, None)
    pretrained_assets: dict


def _prepare(opts, log):
    """Everything checked before the first step: checkpoint, tokenizer, data, labels."""
    ctx = training.parse_contexts(opts.ctx)[0]
    if os.path.isdir(opts.pretrained):
        # a Hugging Face folder: converted once, through the same path as `zoo convert`
        from .. import convert
        dst = os.path.join(opts.output, CONVERTED)
        conv = convert.convert(opts.pretrained, dst)
        log(f"[convert] {opts.pretrained} ({conv}) -> {dst}")
        opts.pretrained = dst
    info, assets = read_checkpoint(opts.pretrained)
    stored = stored_task(assets, opts.pretrained) or {}
    tokenizer = load_tokenizer(opts.pretrained, opts.vocab, get_task(opts.task).special_tokens)
    cfg = model_config(info, opts.pretrained, opts.model)
    if tokenizer.vocab_size > cfg.vocab_size and info.config:
        raise UsageError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model in "
                         f"{opts.pretrained} only {cfg.vocab_size}; use its own tokenizer")
    limit = max_positions(cfg)
    if opts.max_seq_length is None:
        opts.max_seq_length = min(128, limit)
    if opts.max_seq_length > limit:
        raise UsageError(f"--max-seq-length {opts.max_seq_length} exceeds the model's "
                         f"{limit} positions")
    task_class = get_task(opts.task)
    meta = {"task": opts.task, "max_seq_length": opts.max_seq_length,
            "truncation": opts.truncation, **task_class.option_defaults, **opts.task_options}
    columns = {k: v for k, v in opts.columns.items() if v is not None}
    task = make_task(meta, tokenizer, pad_id(cfg, tokenizer))
    truncation = None if opts.truncation == "none" else opts.truncation
    train_ex = task.read(opts.train, columns)
    task.fit_labels(train_ex, stored.get("labels") if stored.get("task") == opts.task else None)
    dev_ex = task.read(opts.dev, columns) if opts.dev else None
    for examples in (train_ex, dev_ex):
        if examples is not None:
            task.check(examples)
    train = (train_ex, task.featurize(train_ex, truncation))
    dev = (dev_ex, task.featurize(dev_ex, truncation)) if dev_ex is not None else (None, None)
    meta["columns"] = {k: v for k, v in columns.items() if k not in ("format", "delimiter")}
    meta["labels"] = task.labels
    return _Prepared(ctx, tokenizer, task, meta, train, dev, assets)


# ============================================================================ the model run

def _batches(n, size, order=None):
    order = np.arange(n) if order is None else order
    for i in range(0, n, size):
        yield order[i:i + size]


def _nd(arrays, ctx):
    return {k: mx.nd.array(v, ctx=ctx, dtype="float32") for k, v in arrays.items()}


def run_model(model, task, features, batch_size, ctx):
    """Forward every feature (batched, longest first for tight padding) -> the per-feature
    outputs of ``task.collect``, in feature order."""
    outs = [None] * len(features)
    order = np.argsort([-len(f.ids) for f in features], kind="stable")
    for idx in _batches(len(features), batch_size, order):
        sub = [features[i] for i in idx]
        batch = _nd(task.arrays(sub, with_labels=False), ctx)
        for i, o in zip(idx, task.collect(task.forward(model, batch), sub, batch)):
            outs[i] = o
    return outs


def evaluate(model, task, examples, features, batch_size, ctx):
    """``(metrics, predictions)``: one prediction per example; metrics ({} when some example
    has no gold label) against the examples' labels."""
    outs = run_model(model, task, features, batch_size, ctx)
    predictions = task.predictions(examples, features, outs)
    metrics = task.metrics(examples, predictions) if task.has_labels(examples) else {}
    return metrics, predictions


def prepare_training(model, task, *, lr, weight_decay, hybridize=True):
    """``(trainer, sync, loss_fn)`` for :func:`train_step`: AdamW (no weight decay on biases
    and LayerNorm), the gradient sync over the trained parameters, the task's loss block;
    model and loss hybridized with ``hybridize``."""
    if hybridize:
        model.hybridize(static_alloc=True)
    trainer = training.make_trainer(model, optimizer="adamw", lr=lr, weight_decay=weight_decay)
    sync = training.GradientSync([p for p in model.collect_params().values()
                                  if p.grad_req != "null"])
    loss_fn = task.make_loss()
    if loss_fn is not None and hybridize:
        loss_fn.hybridize()
    return trainer, sync, loss_fn


def train_step(model, task, loss_fn, batch, trainer, sync, *, lr, clip_grad):
    """One optimizer step on ``batch`` (the task's arrays as NDArrays, see ``Task.arrays``):
    forward, the task's loss, backward, learning rate ``lr``, clipping to global norm
    ``clip_grad`` (0: off) and the update. Returns the loss as a float (reading it waits for
    the step to finish)."""
    with mx.autograd.record():
        loss = task.loss(loss_fn, task.forward(model, batch), batch)
    loss.backward()
    trainer.set_learning_rate(lr)
    training.clip_and_update(trainer, sync, 1, clip_grad)
    return float(loss.asscalar())


def _describe_data(task, train, dev, total, batch_size):
    (train_ex, train_feats), (dev_ex, _) = train, dev
    labels = task.labels
    shown = ""
    if labels:
        shown = (f"; {len(labels)} labels: {', '.join(map(str, labels[:12]))}"
                 f"{' ...' if len(labels) > 12 else ''}")
    return (f"[data] {task.name}: {len(train_ex)} training examples ({len(train_feats)} "
            f"sequences), {len(dev_ex) if dev_ex else 0} dev{shown}; {total} steps of "
            f"{batch_size}")


def _training_batches(n, batch_size, total, rng):
    """``(step, indices)`` for steps 1..total: epochs of batches in a fresh random order
    each (an epoch's last batch may be smaller)."""
    step = 0
    while True:
        for idx in _batches(n, batch_size, rng.permutation(n)):
            if step >= total:
                return
            step += 1
            yield step, idx


def finetune(opts, *, log=log_line):
    """Finetune ``opts.pretrained`` on ``opts.task``; write the run folder ``opts.output``
    (see the module docstring). Returns a :class:`FinetuneResult`."""
    t_start = time.perf_counter()
    opts = dataclasses.replace(opts)   # filled in below (lengths, a converted checkpoint)
    opts.validate()
    check_output_dir(opts.output, opts.overwrite)
    prep = _prepare(opts, log)
    task, ctx = prep.task, prep.ctx
    (train_ex, train_feats), (dev_ex, dev_feats) = prep.train, prep.dev
    steps_per_epoch = max(1, math.ceil(len(train_feats) / opts.batch_size))
    total = opts.max_steps or max(1, int(math.ceil((opts.epochs or 3.0) * steps_per_epoch)))
    warmup = opts.warmup_steps if opts.warmup_steps is not None else int(opts.warmup_ratio * total)
    eval_every = opts.eval_every or steps_per_epoch
    metric = opts.metric or task.main_metric
    log(_describe_data(task, prep.train, prep.dev, total, opts.batch_size))

    training.seed_everything(opts.seed)
    model = build_model(opts.pretrained, **task.model_kwargs(), name=opts.model,
                        overrides=opts.overrides, ctx=ctx, log=log)
    if getattr(model, "load_report", None) is not None:
        log(f"[init] {model.load_report}")
    prep.meta["family"] = model.config.family
    assets = finetuned_assets(prep.tokenizer, prep.meta, type(task), prep.pretrained_assets)
    if opts.layerwise_decay is not None and opts.layerwise_decay != 1:
        mults = training.layerwise_lr_mults(model, opts.layerwise_decay)
        log(f"[lr] layer-wise decay {opts.layerwise_decay}: lr_mult from "
            f"{min(mults.values()):.3g} (embeddings) to 1 (head)")
    trainer, sync, loss_fn = prepare_training(model, task, lr=opts.lr,
                                              weight_decay=opts.weight_decay,
                                              hybridize=opts.hybridize)

    # nothing is written before this point: every check above leaves the folder as it was
    os.makedirs(opts.output, exist_ok=True)
    if opts.overwrite:
        _clear_previous_run(opts.output, keep=opts.pretrained)
    best = _BestModel(model, metric, os.path.join(opts.output, "model" + opts.save_format),
                      assets)
    report = _Report(os.path.join(opts.output, "metrics.jsonl"), total, steps_per_epoch,
                     opts.log_every, metric, f"finetune {opts.task}" if opts.progress else None,
                     log)
    rng = np.random.RandomState(opts.seed)
    step, stopped_early = 0, False
    try:
        for step, idx in _training_batches(len(train_feats), opts.batch_size, total, rng):
            training.step_seed(opts.seed, step - 1)
            batch = _nd(task.arrays([train_feats[i] for i in idx], with_labels=True), ctx)
            lr = training.learning_rate(step, base_lr=opts.lr, warmup_steps=warmup,
                                        total_steps=total, decay=opts.decay)
            loss = train_step(model, task, loss_fn, batch, trainer, sync, lr=lr,
                              clip_grad=opts.clip_grad)
            report.train(step, loss, len(idx), trainer.learning_rate)
            if dev_ex is None or (step % eval_every and step != total):
                continue
            res, _ = evaluate(model, task, dev_ex, dev_feats, opts.eval_batch_size, ctx)
            report.dev(step, res, best.offer(res, step))
            if opts.patience and best.bad_evals >= opts.patience:
                stopped_early = True
                log(f"\n[stop] no improvement of dev {metric} in {opts.patience} "
                    f"evaluations; stopping at step {step}")
                break
    finally:
        report.close()

    res, baseline = {}, None
    if dev_ex is None:
        best.save_last(step)
    else:
        # the best model, from memory: the predictions `predict` must reproduce from the file
        best.restore()
        res, preds = evaluate(model, task, dev_ex, dev_feats, opts.eval_batch_size, ctx)
        task.write(os.path.join(opts.output, "dev_predictions" + task.output_ext), dev_ex, preds)
        baseline = task.baseline(train_ex, dev_ex)
        _write_results(os.path.join(opts.output, "results.json"), task=opts.task, metric=metric,
                       best_step=best.step, steps=step, dev=res, baseline=baseline,
                       stopped_early=stopped_early,
                       seconds=round(time.perf_counter() - t_start, 1))
        base = (f" ({task.baseline_name} {baseline[metric]:.4f})"
                if baseline and metric in baseline else "")
        log(f"[best] step {best.step}: dev " + ", ".join(f"{k} {v:.4f}" for k, v in res.items())
            + base)
    keys = ("loss", metric) + tuple(k for k in task.plot_also if k != metric and k in res)
    png = _plot(report.path, os.path.join(opts.output, "metrics.png"), keys,
                f"finetuning {opts.task}", log)
    log(f"[done] {step} steps in {time.perf_counter() - t_start:.1f} s; best model {best.path}; "
        f"metrics {report.path}; plot {png}")
    return FinetuneResult(model, best.path, best.step, step, res, baseline, stopped_early)


class _Report:
    """What a run shows and logs: the running mean of the training loss every ``log_every``
    steps (and at the first and last), dev results, into ``metrics.jsonl``; a tqdm bar on
    stderr (``bar``: its label; None: ``[eval]`` lines instead)."""

    def __init__(self, path, total, steps_per_epoch, log_every, metric, bar, log):
        self.path, self.total, self.steps_per_epoch = path, total, steps_per_epoch
        self.log_every, self.metric, self.log = log_every, metric, log
        self.metrics_log = training.MetricsLog(path)
        self.progress = None
        if bar:
            from tqdm import tqdm
            self.progress = tqdm(total=total, unit="step", dynamic_ncols=True, desc=bar)
        self.loss_sum, self.loss_n, self.seqs = 0.0, 0, 0
        self.since = time.perf_counter()
        self.last_loss = float("nan")

    def _epoch(self, step):
        return round(step / self.steps_per_epoch, 3)

    def train(self, step, loss, n_seqs, lr):
        self.loss_sum += loss
        self.loss_n += 1
        self.seqs += n_seqs
        if self.progress is not None:
            self.progress.update(1)
        if step % self.log_every and step not in (1, self.total):
            return
        seconds = time.perf_counter() - self.since
        self.last_loss = self.loss_sum / self.loss_n
        self.metrics_log.write(split="train", step=step, epoch=self._epoch(step),
                               loss=self.last_loss, lr=lr,
                               seq_per_s=self.seqs / max(seconds, 1e-9))
        if self.progress is not None:
            self.progress.set_postfix(loss=f"{self.last_loss:.3f}")
        self.loss_sum, self.loss_n, self.seqs = 0.0, 0, 0
        self.since = time.perf_counter()

    def dev(self, step, metrics, improved):
        self.metrics_log.write(split="dev", step=step, epoch=self._epoch(step), **metrics)
        if self.progress is not None:
            self.progress.set_postfix(loss=f"{self.last_loss:.3f}",
                                      **{self.metric: f"{metrics[self.metric]:.4f}"})
        else:
            self.log(f"[eval] step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in
                                                         metrics.items())
                     + (" (best)" if improved else ""))

    def close(self):
        if self.progress is not None:
            self.progress.close()


class _BestModel:
    """The best dev result so far: its step, and its parameters both in memory (restored at
    the end) and saved to ``path``."""

    def __init__(self, model, metric, path, assets):
        self.model, self.metric, self.path, self.assets = model, metric, path, assets
        self.value = self.step = self.params = None
        self.bad_evals = 0

    def _save(self):
        checkpoints.save(self.model, self.path, config=self.model.config, assets=self.assets)

    def offer(self, metrics, step):
        """Keep ``metrics`` of the model as it is at ``step`` if they are the best so far."""
        if self.value is not None and metrics[self.metric] <= self.value:
            self.bad_evals += 1
            return False
        self.value, self.step, self.bad_evals = metrics[self.metric], step, 0
        self.params = {n: p.data().copy() for n, p in self.model.collect_params().items()}
        self._save()
        return True

    def save_last(self, step):
        """Without a dev set: the model as it is at the last ``step``."""
        self.step = step
        self._save()

    def restore(self):
        for n, p in self.model.collect_params().items():
            p.set_data(self.params[n])


def _write_results(path, **results):
    with atomic_open(path, durable=False) as f:
        json.dump(results, f, indent=1)
        f.write("\n")


def _plot(metrics_path, png_path, keys, title, log):
    # an auxiliary output written after the model is saved: its failure (matplotlib missing
    # or broken) is a warning, not a failed run
    try:
        return training.plot_metrics(metrics_path, png_path, keys=keys, title=title)
    except Exception as e:  # noqa: BLE001
        log(f"[warning] no plot {png_path}: {type(e).__name__}: {e}")
        return None


# ================================================================================ prediction

def predict(model_path, input_path, output_path, *, batch_size=64, ctx="cpu", hybridize=True,
            columns=None, overwrite=False, log=log_line):
    """Predict with a checkpoint written by :func:`finetune`: the task, labels, tokenizer,
    columns and lengths all come from it; ``columns`` overrides its data options. Writes
    ``output_path`` (the task's format; tagging: CoNLL when it ends in .conll or .txt).
    Returns ``(metrics, predictions)`` (metrics {} when the input has no labels)."""
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    check_prediction_output(output_path, input_path, overwrite)
    ctx = training.parse_contexts(ctx)[0] if isinstance(ctx, str) else ctx
    info, assets = read_checkpoint(model_path, "--model")
    meta = stored_task(assets, model_path)
    if not meta:
        raise UsageError(f"{model_path}: not a finetuned checkpoint (no {TASK_ASSET}); "
                         f"finetune one first (zoo finetune --task {'|'.join(list_tasks())} ...)")
    # a checkpoint of a task this installation does not know: UsageError
    tokenizer = load_tokenizer(model_path, special_tokens=get_task(meta["task"]).special_tokens)
    cfg = model_config(info, model_path)
    task = make_task(dict(meta), tokenizer, pad_id(cfg, tokenizer))
    model = build_model(model_path, **task.model_kwargs(), name=meta.get("family"), ctx=ctx,
                        log=log)
    if model.load_report.missing:
        raise UsageError(f"{model_path}: parameters missing from the checkpoint: "
                         f"{', '.join(model.load_report.missing)}")
    if hybridize:
        model.hybridize(static_alloc=True)
    opts = dict(meta.get("columns") or {})
    opts.update({k: v for k, v in (columns or {}).items() if v is not None})
    examples = task.read(input_path, opts, require_label=False)
    if task.labels and task.has_labels(examples):
        task.check(examples)
    truncation = meta.get("truncation", "longest_first")
    features = task.featurize(examples, None if truncation == "none" else truncation)
    t0 = time.perf_counter()
    metrics, predictions = evaluate(model, task, examples, features, batch_size, ctx)
    task.write(output_path, examples, predictions)
    log(f"[predict] {len(examples)} examples in {time.perf_counter() - t0:.2f} s -> {output_path}")
    return metrics, predictions
