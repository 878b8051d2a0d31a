"""Pretrain a zoo model from raw text into tie-aware checkpoints; resumable; one machine or many.

    python scripts/pretrain.py --model bert_tiny --corpus 'data/*.txt' --output runs/bert \
        --max-steps 1000 --vocab-size 8000

Objectives are the family's pretraining recipe (its folder's ``pretrain.py``): MLM + NSP for
BERT, MLM + SOP for ALBERT, MLM for RoBERTa, generator MLM + replaced token detection for
ELECTRA.
Writes ``OUTPUT/metrics.jsonl`` (one JSON object per logged step: ``step``, ``loss``, ...;
evaluation lines carry ``"split": "eval"``), ``OUTPUT/loss.png``, step checkpoints in
``OUTPUT/checkpoints/step-N/`` (model, optimizer state, data position, RNG state; the last
``--keep-last`` are kept) and the final model at ``OUTPUT/model.params``. ``--resume``
continues from the newest checkpoint that verifies and reaches the same parameters as an
uninterrupted run.

An output folder that holds a previous run is refused unless ``--resume`` (continue it) or
``--overwrite`` (replace it) says what to do with it.

Distributed data parallel uses MXNet's parameter-server kvstore (``--kvstore dist_sync``);
``zoo launch`` (or ``scripts/launch.py``) starts the scheduler, servers and workers, e.g.
on one machine::

    zoo launch -n 2 -s 1 -- python scripts/pretrain.py --kvstore dist_sync ...

(see the README for ssh / slurm / kubernetes). Data is sharded by worker rank; only rank 0
writes checkpoints and metrics. Whatever process dies, whenever, the others end within
``--dist-timeout`` seconds with one line naming it (``zoo/distributed.py``).
"""
import argparse
import dataclasses
import json
import math
import os
import queue
import shutil
import sys
import threading
import time
import traceback
import zlib

import mxnet as mx

import checkpoints
import zoo
from checkpoints import _mx_compat
from checkpoints.atomic import atomic_write
from zoo import distributed, registry, training
from zoo.data import DataError, expand_files
from zoo.recipes import RunningMetrics
from zoo.tokenizers import TokenizerError, build_vocab, get_tokenizer
from zoo.training import UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one :class:`UsageError` line, not a usage dump."""

    def error(self, message):
        raise UsageError(f"{message} (see --help)")


def parse_args(argv=None):
    ap = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_argument_group("model")
    g.add_argument("--model", default="bert_tiny", help="zoo preset or family (default: bert_tiny)")
    g.add_argument("--init-from", metavar="CKPT", help="start from this checkpoint's weights "
                   "(its config and tokenizer, unless --vocab is given)")
    g.add_argument("--max-seq-length", type=int, default=128)
    g.add_argument("--override", action="append", default=[], metavar="FIELD=VALUE",
                   help="config override, e.g. --override num_layers=2 (repeatable)")
    g = ap.add_argument_group("data and tokenizer")
    g.add_argument("--corpus", nargs="+", required=True, metavar="FILE",
                   help="text files or globs: one sentence per line, blank line between documents; .gz ok")
    g.add_argument("--eval-corpus", nargs="+", metavar="FILE", help="held-out text for periodic evaluation")
    g.add_argument("--vocab", metavar="PATH", help="vocab.txt, SentencePiece .model, HF folder or checkpoint")
    g.add_argument("--vocab-size", type=int, help="train a vocabulary of this size on --corpus")
    g.add_argument("--vocab-kind", choices=["wordpiece", "sentencepiece", "byte_bpe"],
                   help="the vocabulary --vocab-size trains (default: the family's own)")
    g.add_argument("--mask-prob", type=float, default=0.15)
    g.add_argument("--whole-word-mask", action="store_true")
    g.add_argument("--buffer-documents", type=int, default=1000, help="documents per shuffle buffer")
    g = ap.add_argument_group("optimization")
    g.add_argument("--max-steps", type=int, required=True)
    g.add_argument("--batch-size", type=int, default=32, help="sequences per step and worker")
    g.add_argument("--batch-tokens", type=int, help="instead of --batch-size: tokens per step "
                   "and worker (batch = tokens // max-seq-length)")
    g.add_argument("--accumulate", type=int, default=1, help="gradient accumulation micro-batches")
    g.add_argument("--optimizer", choices=["adamw", "lamb"], default="adamw")
    g.add_argument("--lr", type=float, default=1e-4)
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--warmup-steps", type=int, help="default: 10%% of --max-steps")
    g.add_argument("--decay", choices=["linear", "poly", "constant"], default="linear")
    g.add_argument("--poly-power", type=float, default=1.0)
    g.add_argument("--clip-grad", type=float, default=1.0, help="global gradient norm clip (0: off)")
    g = ap.add_argument_group("hardware and distribution")
    g.add_argument("--ctx", default="cpu", help="cpu or gpu:0,1")
    g.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="float16 (AMP) needs a GPU context")
    g.add_argument("--kvstore", default="device", help="device, local, dist_sync, dist_device_sync")
    g.add_argument("--dist-timeout", type=float, default=distributed.DEFAULT_DIST_TIMEOUT,
                   help="seconds a distributed process waits for its peers (start-up, no "
                        "progress) before the whole job stops with an error (default: "
                        "%(default)g); must exceed the longest phase one worker waits on "
                        "another: vocabulary training, evaluation, a checkpoint")
    g = ap.add_argument_group("checkpoints and logging")
    g.add_argument("--output", required=True, metavar="DIR")
    g.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (0: only at the end)")
    g.add_argument("--keep-last", type=int, default=3)
    g.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --output")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the previous run in --output (its checkpoints, metrics, plot and model)")
    g.add_argument("--format", choices=[".params", ".safetensors"], default=".params")
    g.add_argument("--log-every", type=int, default=10)
    g.add_argument("--eval-every", type=int, default=0, help="evaluate every N steps (default: at checkpoints)")
    g.add_argument("--eval-batches", type=int, default=20)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    args = ap.parse_args(argv)
    if args.max_steps < 1:
        ap.error("--max-steps must be at least 1")
    if args.vocab and args.vocab_size:
        ap.error("--vocab and --vocab-size are exclusive")
    if args.resume and args.overwrite:
        ap.error("--resume and --overwrite are exclusive: continue the previous run or replace it")
    if args.dist_timeout <= 0:
        ap.error("--dist-timeout must be positive")
    if args.batch_tokens:
        args.batch_size = max(1, args.batch_tokens // args.max_seq_length)
    if args.warmup_steps is None:
        args.warmup_steps = max(1, args.max_steps // 10)
    return args


# What a run writes into --output, and so what marks a folder as holding a previous run
# (vocab/ is left alone: it may be the --vocab the user passes).
RUN_OUTPUTS = ("metrics.jsonl", "loss.png", "model.params", "model.safetensors", "checkpoints")


def check_args(args):
    """Catch the mistakes that would otherwise surface late (after a vocabulary was trained,
    in every worker of a distributed job) or destroy something, before anything is written;
    then clear the previous run when ``--overwrite`` asks for it."""
    try:
        registry.get_family(args.model)
    except zoo.UnknownModelError as e:
        raise UsageError(f"--model: {e}") from None
    if args.vocab and not os.path.exists(args.vocab):
        raise UsageError(f"--vocab {args.vocab}: no such file or folder; build one first "
                         f"(zoo build-vocab --size 8000 -o {args.vocab} CORPUS) or train one "
                         f"with the run (--vocab-size 8000 instead of --vocab)")
    if args.init_from and not os.path.exists(args.init_from):
        raise UsageError(f"--init-from {args.init_from}: no such checkpoint file")
    expand_files(args.corpus)
    if args.eval_corpus:
        expand_files(args.eval_corpus)
    if args.kvstore.startswith("dist") and "DMLC_ROLE" not in os.environ:
        raise UsageError(f"--kvstore {args.kvstore} runs as one process of a distributed job: "
                         f"start it with `zoo launch -n WORKERS -- COMMAND` (or set the DMLC_* "
                         f"variables, see the README), or use --kvstore device on one machine")
    out = args.output
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--output {out}: is a file, not a folder; give a folder path (it "
                         f"is created if missing)")
    previous = _previous_run(out)
    if previous and not (args.resume or args.overwrite):
        raise UsageError(f"--output {out} holds a previous run ({', '.join(previous)}); add "
                         f"--resume to continue it or --overwrite to replace it, or choose "
                         f"another folder")
    if previous and args.overwrite:
        # Every worker of a distributed job does this before the kvstore exists, so no
        # worker can have written anything of this run yet; concurrent removal is harmless.
        for name in previous:
            path = os.path.join(out, name)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        if "DMLC_ROLE" not in os.environ:
            print(f"[overwrite] removed the previous run in {out} ({', '.join(previous)})",
                  file=sys.stderr, flush=True)


def _previous_run(out):
    """The outputs of an earlier run found in ``out`` (an empty checkpoints/ folder left by a
    start that failed is not a run)."""
    found = []
    for name in RUN_OUTPUTS:
        path = os.path.join(out, name)
        if name == "checkpoints":
            if os.path.isdir(path) and any(n.startswith("step-") for n in os.listdir(path)):
                found.append(name + "/")
        elif os.path.exists(path):
            found.append(name)
    return found


class Run:
    """Everything one pretraining run holds: model, tokenizer, data, optimizer, logs."""

    def __init__(self, args, link=None, watchdog=None):
        self.args = args
        self.watchdog = watchdog or distributed.Watchdog(0)
        self.ctxs = training.parse_contexts(args.ctx)
        # ps-lite's start-up: blocks until every process of the job has registered.
        self.kv = mx.kv.create(args.kvstore) if args.kvstore.startswith("dist") else None
        self.rank = self.kv.rank if self.kv else 0
        self.num_workers = self.kv.num_workers if self.kv else 1
        self.is_chief = self.rank == 0
        if link is not None:
            link.set_rank(self.rank)
        self.watchdog.beat()
        os.makedirs(args.output, exist_ok=True)
        self.rundir = training.RunDirectory(args.output, keep_last=args.keep_last)
        if self.is_chief and self.num_workers > 1:
            # Data positions a killed run left behind must not pass for this run's: no other
            # worker writes one before its first checkpoint, which waits on rank 0's steps.
            shutil.rmtree(os.path.join(self.rundir.dir, "ranks"), ignore_errors=True)
        self.resume_path, self.resume_state = (self.rundir.latest() if args.resume else (None, None))
        if args.resume and self.resume_path is None:
            self.log(f"[resume] no usable checkpoint in {args.output}; starting from scratch")
        self.family = self._family()
        self.recipe = self.family.recipe
        self.tokenizer = self._tokenizer()
        self.model = self._model()
        self.watchdog.beat()

    def close(self):
        """End the run's part in a distributed job: the kvstore's exit handshake, here, where
        the watchdog still watches it (left to garbage collection it ran at interpreter exit,
        unwatched, and waited forever for a dead peer)."""
        if self.kv is not None:
            _mx_compat.release_kvstore(self.kv)

    def log(self, msg):
        if self.is_chief:
            print(msg, file=sys.stderr, flush=True)

    # ---- family -------------------------------------------------------------------------
    def _family(self):
        """The family of --model, or of the checkpoint training starts or resumes from."""
        a = self.args
        start = os.path.join(self.resume_path, "model.params") if self.resume_path else a.init_from
        name = a.model
        if start:
            info = checkpoints.inspect(start)
            name = (info.config or {}).get("family")
            if not name:
                raise UsageError(f"{start}: checkpoint stores no model config; convert it first "
                                 f"with `zoo convert {start} ckpt.params --model PRESET`")
        try:
            family = registry.get_family(name)
        except registry.UnknownModelError as e:
            raise UsageError(f"--model: {e}") from None
        if family.recipe is None:
            with_recipe = [f for f in registry.list_families()
                           if registry.get_family(f).recipe is not None]
            raise UsageError(f"--model {a.model}: no pretraining recipe for family "
                             f"{family.name!r} (families with one: {', '.join(with_recipe)})")
        return family

    # ---- tokenizer ----------------------------------------------------------------------
    def _tokenizer(self):
        a = self.args
        source = None
        if self.resume_path:
            source = os.path.join(self.resume_path, "model.params")
        elif a.vocab:
            source = a.vocab
        elif a.init_from:
            source = a.init_from
        try:
            if source:
                return get_tokenizer(source)
            if not a.vocab_size:
                raise UsageError("give --vocab PATH, --vocab-size N (train one on --corpus) or --init-from CKPT")
            vocab_dir = os.path.join(a.output, "vocab")
            kind = a.vocab_kind or self.family.vocab_kind
            options = self.family.vocab_options if kind == self.family.vocab_kind else {}
            if self.is_chief:
                self.log(f"[vocab] training a {kind} vocabulary of {a.vocab_size} on the corpus")
                build_vocab(kind, a.vocab_size, a.corpus, vocab_dir, **options)
            if self.kv:
                distributed.fault_point("vocab", rank=self.rank)
                _mx_compat.kvstore_barrier(self.kv)  # the others wait for rank 0's vocabulary
            return get_tokenizer(vocab_dir)
        except (TokenizerError, DataError, OSError) as e:
            raise UsageError(str(e)) from None

    # ---- model --------------------------------------------------------------------------
    def _model(self):
        a = self.args
        overrides = training.parse_overrides(a.override)
        name = a.model
        start = os.path.join(self.resume_path, "model.params") if self.resume_path else a.init_from
        if start:
            info = checkpoints.inspect(start)
            name = self.family.name
            stored_vocab = info.config.get("vocab_size")
            if stored_vocab and stored_vocab != self.tokenizer.vocab_size:
                raise UsageError(f"the vocabulary has {self.tokenizer.vocab_size} tokens but "
                                 f"{start} was trained with {stored_vocab}; use its own "
                                 f"tokenizer (drop --vocab) or a matching vocabulary")
        else:
            overrides.setdefault("vocab_size", self.tokenizer.vocab_size)
            fields = {f.name for f in dataclasses.fields(self.family.config_class)}
            if "pad_token_id" in fields and self.tokenizer.pad_id is not None:
                # RoBERTa derives position ids from the padding id: it must be the tokenizer's.
                overrides.setdefault("pad_token_id", self.tokenizer.pad_id)
            for field, value in self.recipe.config_overrides(self.tokenizer).items():
                if field in fields:     # special-token ids (an encoder-decoder's start token)
                    overrides.setdefault(field, value)
        mx.random.seed(a.seed)
        model = zoo.get_model(name, pretrained=start, ctx=self.ctxs[0], **self.recipe.flags,
                              **overrides)
        if start:
            self.log(f"[init] {getattr(model, 'load_report', '')}")
        if model.config.max_positions < a.max_seq_length:
            raise UsageError(f"--max-seq-length {a.max_seq_length} exceeds the "
                             f"{model.config.max_positions} positions of the model")
        if len(self.ctxs) > 1:
            model.collect_params().reset_ctx(self.ctxs)
        return model

    # ---- data ---------------------------------------------------------------------------
    def pipeline(self, files, *, seed, num_epochs=None, shard=True):
        a = self.args
        return self.recipe.pipeline(
            files, self.tokenizer, batch_size=a.batch_size * len(self.ctxs),
            max_seq_length=a.max_seq_length, mask_prob=a.mask_prob,
            whole_word=a.whole_word_mask, buffer_documents=a.buffer_documents, seed=seed,
            num_epochs=num_epochs, num_shards=self.num_workers if shard else 1,
            shard_index=self.rank if shard else 0)


def _prefetch(pipe, depth=4):
    """Produce ``(batch, pipeline state after it)`` on a background thread so that data
    preparation overlaps the training step (numpy and tokenization release the GIL)."""
    q = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work():
        try:
            for batch in pipe:
                item = (batch, pipe.state_dict())
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as e:  # surfaced in the consumer, with its message
            q.put(e)

    threading.Thread(target=work, daemon=True).start()
    try:
        while True:
            item = q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _split(batch, ctxs, recipe):
    """Numpy batch -> one dict of NDArrays per context (an even split of the rows)."""
    batch = recipe.prepare(batch)
    n = len(ctxs)
    rows = batch["input_ids"].shape[0]
    if rows < n:
        raise DataError(f"a batch of {rows} rows cannot be split over {n} devices")
    parts = []
    for i, ctx in enumerate(ctxs):
        sl = slice(i * rows // n, (i + 1) * rows // n)
        parts.append({k: mx.nd.array(v[sl], ctx=ctx, dtype="float32" if k != "masked_weights" else v.dtype)
                      for k, v in batch.items()})
    return parts


def evaluate(run):
    """The recipe's metrics over --eval-batches of --eval-corpus (None without one)."""
    a = run.args
    if not a.eval_corpus:
        return None
    pipe = run.pipeline(a.eval_corpus, seed=a.seed + 7919, num_epochs=1, shard=False)
    sums = RunningMetrics()
    n = 0
    for batch in pipe:
        for part in _split(batch, run.ctxs, run.recipe):
            sums.add(run.recipe.forward(run.model, part))
        n += 1
        if n >= a.eval_batches:
            break
    if n == 0:
        return None
    res = sums.read()
    if run.recipe.perplexity_of in res:
        res["perplexity"] = math.exp(min(50.0, res[run.recipe.perplexity_of]))
    return res


def param_checksum(model):
    """crc32 over every distinct parameter, in name order: equal on every worker after a
    dist_sync run."""
    crc = 0
    seen = set()
    for name, p in sorted(checkpoints._mx_compat.structural_params(model).items()):
        if id(p) in seen:
            continue
        seen.add(id(p))
        crc = zlib.crc32(p.data().asnumpy().tobytes(), crc)
    return f"{crc & 0xFFFFFFFF:08x}"


def train(args, link=None, watchdog=None):
    """Run the pretraining; ``link``/``watchdog``: this worker's ties to a distributed job
    (see :mod:`zoo.distributed`)."""
    run = Run(args, link, watchdog)
    watchdog = run.watchdog
    model, ctxs = run.model, run.ctxs
    model.hybridize(static_alloc=True)
    if args.dtype == "float16":
        if ctxs[0].device_type != "gpu":
            raise UsageError("--dtype float16 needs a GPU context (--ctx gpu:0)")
        from mxnet.contrib import amp
        amp.init()
    trainer = training.make_trainer(model, optimizer=args.optimizer, lr=args.lr,
                                    weight_decay=args.weight_decay)
    if args.dtype == "float16":
        amp.init_trainer(trainer)
    params = [p for p in model.collect_params().values() if p.grad_req != "null"]
    sync = training.GradientSync(params, run.kv)
    if args.accumulate > 1:
        for p in params:
            p.grad_req = "add"
    pipe = run.pipeline(args.corpus, seed=args.seed)
    step, tokens_seen = 0, 0
    if run.resume_state is not None:
        st = run.resume_state
        step, tokens_seen = st["step"], st.get("tokens_seen", 0)
        rank_state = st["data"] if run.num_workers == 1 else st["data_by_rank"][str(run.rank)]
        pipe.load_state_dict(rank_state)
        trainer.load_states(os.path.join(run.resume_path, "trainer.states"))
        training.RunDirectory.restore_rng(st)
        run.log(f"[resume] continuing from {run.resume_path} at step {step}")
    metrics = training.MetricsLog(os.path.join(args.output, "metrics.jsonl"),
                                  resume_step=step if run.resume_state is not None else None) \
        if run.is_chief else None
    watchdog.beat()  # (GradientSync's start waits for every worker)

    progress = None
    if run.is_chief and not args.no_progress:
        from tqdm import tqdm
        progress = tqdm(total=args.max_steps, initial=step, unit="step", dynamic_ncols=True,
                        desc=f"pretrain {run.family.name}")
    stats = RunningMetrics()
    data_state = pipe.state_dict()
    run.start_epoch = data_state["epoch"]
    batches = _prefetch(pipe)
    micro = 0
    first_batch = True
    bare_time = 0.0
    try:
        while step < args.max_steps:
            try:
                batch, data_state = next(batches)
            except StopIteration:
                raise DataError("the corpus ran out of batches") from None
            if first_batch and data_state["epoch"] > run.start_epoch:
                # The first batch needed more than one pass: every sequence would repeat
                # within a batch, which is not training on the corpus.
                raise DataError(f"the corpus ({', '.join(pipe.files)}) is too small for one batch "
                                f"of {pipe.batch_size} sequences"
                                f"{' on this worker' if run.num_workers > 1 else ''}; add text "
                                f"or lower --batch-size")
            first_batch = False
            training.step_seed(args.seed + 131 * run.rank, step * args.accumulate + micro)
            parts = _split(batch, ctxs, run.recipe)
            t_step = time.perf_counter()
            with mx.autograd.record():
                results = [run.recipe.forward(model, part) for part in parts]
                losses = [r.loss / args.accumulate for r in results]
            if args.dtype == "float16":
                with amp.scale_loss(losses, trainer) as scaled:
                    mx.autograd.backward(scaled)
            else:
                mx.autograd.backward(losses)
            for r in results:
                stats.add(r)
            tokens_seen += int(batch["valid_length"].sum())
            stats.tokens += int(batch["valid_length"].sum())
            micro += 1
            if micro < args.accumulate:
                continue
            micro = 0
            step += 1
            trainer.set_learning_rate(training.learning_rate(
                step, base_lr=args.lr, warmup_steps=args.warmup_steps, total_steps=args.max_steps,
                decay=args.decay, power=args.poly_power))
            training.clip_and_update(trainer, sync, len(ctxs), args.clip_grad)
            if args.accumulate > 1:
                for p in params:
                    p.zero_grad()
            stats.steps += 1
            bare_time += time.perf_counter() - t_step
            watchdog.beat()
            if step == 2:
                distributed.fault_point("train", rank=run.rank)
            if progress is not None:
                progress.update(1)
            if step % args.log_every == 0 or step in (1, args.max_steps):
                mx.nd.waitall()
                res = stats.read()
                elapsed = time.perf_counter() - stats.t0
                res.update(step=step, lr=trainer.learning_rate, tokens=tokens_seen,
                           tokens_per_s=stats.tokens * run.num_workers / max(elapsed, 1e-9))
                if metrics is not None:
                    metrics.write(split="train", **res)
                if progress is not None:
                    progress.set_postfix(**{k: f"{res[k]:.3f}" for k in run.recipe.progress_keys
                                            if k in res}, tok_s=f"{res['tokens_per_s']:.0f}")
                stats.reset()
            do_save = args.save_every and step % args.save_every == 0 and step < args.max_steps
            do_eval = (args.eval_every and step % args.eval_every == 0) or (do_save and not args.eval_every)
            if do_eval and run.is_chief:
                res = evaluate(run)
                if res is not None and metrics is not None:
                    metrics.write(split="eval", step=step, **res)
            if do_save:
                save_checkpoint(run, trainer, step, tokens_seen, data_state)
                watchdog.beat()
    finally:
        if progress is not None:
            progress.close()
    mx.nd.waitall()
    if run.is_chief:
        res = evaluate(run)
        if res is not None:
            metrics.write(split="eval", step=step, **res)
    save_checkpoint(run, trainer, step, tokens_seen, data_state)
    run.rundir.close()  # the step checkpoints are written in the background: wait, raise errors
    watchdog.beat()
    checksum = param_checksum(model)
    print(f"[worker {run.rank}] final parameter checksum {checksum}", file=sys.stderr, flush=True)
    distributed.fault_point("end", rank=run.rank)
    if run.is_chief:
        final = os.path.join(args.output, "model" + args.format)
        checkpoints.save(model, final, config=model.config, assets=run.tokenizer.to_assets())
        png = _plot(run, os.path.join(args.output, "metrics.jsonl"), os.path.join(args.output, "loss.png"))
        run.log(f"[done] {step} steps; final model {final}; metrics "
                f"{os.path.join(args.output, 'metrics.jsonl')}; plot {png}")
    watchdog.beat()
    distributed.fault_point("exit", rank=run.rank)
    run.close()
    watchdog.stop()
    return model


def _plot(run, metrics_path, png_path):
    """The loss plot, an auxiliary output: once the model is saved, failing to draw it (no
    matplotlib, no fonts, a full disk) is a warning, not a failed run. -> path or None."""
    try:
        return training.plot_metrics(metrics_path, png_path, keys=("loss", "mlm_acc", "perplexity"),
                                     title=f"pretraining {run.args.model}")
    except Exception as e:  # noqa: BLE001  (whatever broke, the run's results stand)
        run.log(f"[warning] no loss plot: {type(e).__name__}: {e}; the model and "
                f"{metrics_path} are saved")
        return None


def save_checkpoint(run, trainer, step, tokens_seen, data_state):
    """Rank 0 writes the step checkpoint; in a distributed run every rank's data position
    is gathered into it through the kvstore-free side channel of per-rank files."""
    if run.num_workers > 1:
        # Each worker drops its data position beside the checkpoints; rank 0 folds them in.
        side = os.path.join(run.rundir.dir, "ranks")
        atomic_write(os.path.join(side, f"step-{step}-rank-{run.rank}.json"), json.dumps(data_state))
        distributed.fault_point("checkpoint", rank=run.rank)
        if not run.is_chief:
            return
        by_rank = {}
        for r in range(run.num_workers):
            p = os.path.join(side, f"step-{step}-rank-{r}.json")
            # No deadline of its own: a dead worker stops the job through the job monitor,
            # a stuck one through the watchdog (--dist-timeout).
            while not os.path.exists(p):
                time.sleep(0.05)
            with open(p) as f:
                by_rank[str(r)] = json.load(f)
        state = {"data_by_rank": by_rank, "tokens_seen": tokens_seen}
    else:
        state = {"data": data_state, "tokens_seen": tokens_seen}
    path = run.rundir.save(step, run.model, trainer, state, config=run.model.config,
                           assets=run.tokenizer.to_assets())
    if run.num_workers > 1:  # folded into the checkpoint now
        for r in range(run.num_workers):
            os.unlink(os.path.join(run.rundir.dir, "ranks", f"step-{step}-rank-{r}.json"))
    return path


def main(argv=None):
    """The program. In a distributed job every exit goes through :mod:`zoo.distributed`
    (os._exit after telling the job monitor): ps-lite's exit handshake would otherwise wait
    forever for a peer that is gone."""
    argv = sys.argv[1:] if argv is None else list(argv)
    link = distributed.job_link(argv)  # None unless a worker of a distributed job
    watchdog = distributed.Watchdog(distributed.dist_timeout_from(argv) if link else 0, link=link)
    try:
        args = parse_args(argv)
        check_args(args)
        train(args, link, watchdog)
    except (UsageError, DataError, TokenizerError, checkpoints.CheckpointError) as e:
        return _fail(link, str(e), distributed.EXIT_USAGE)
    except BaseException as e:
        if link is None:
            raise
        if not isinstance(e, KeyboardInterrupt):
            traceback.print_exc()  # an internal error: its traceback is the bug report
        _fail(link, f"{type(e).__name__}: {e}", distributed.EXIT_ERROR)
    if link is not None:
        link.done()
        distributed.exit_now(0)
    return 0


def _fail(link, message, status):
    if link is None:
        print(f"pretrain: error: {message}", file=sys.stderr, flush=True)
        return status
    distributed.fail_now(f"pretrain ({link.name}): error: {message}", status, link, message)


if __name__ == "__main__":
    sys.exit(main())
