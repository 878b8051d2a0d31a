"""Training plumbing shared by ``scripts/pretrain.py`` and ``scripts/finetune.py``.

Learning-rate schedules, the optimizer/Trainer setup, resumable run directories (atomic
step checkpoints holding model, optimizer state, data position and RNG state), JSON-lines
metrics with a PNG plot. (What keeps a distributed job from hanging is in
``zoo/distributed.py``.)
"""
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile

import mxnet as mx
import numpy as np

import checkpoints
from checkpoints._mx_compat import structural_params
from checkpoints.atomic import atomic_open, atomic_path, atomic_write

__all__ = ["UsageError", "parse_contexts", "parse_overrides", "learning_rate", "make_trainer", "clip_and_update", "GradientSync", "RunDirectory", "MetricsLog", "plot_metrics",
           "seed_everything", "step_seed", "layerwise_lr_mults"]


class UsageError(Exception):
    """Bad command-line input detected before training: the scripts print it as one clear
    line and exit with status 2."""


def parse_contexts(spec):
    """``--ctx``: ``cpu`` or ``gpu:0,1`` -> a list of MXNet contexts."""
    if spec == "cpu":
        return [mx.cpu()]
    if spec.startswith("gpu"):
        ids = spec.partition(":")[2] or "0"
        return [mx.gpu(int(i)) for i in ids.split(",")]
    raise UsageError(f"--ctx {spec!r}: expected cpu or gpu:0,1,...")


def parse_overrides(items):
    """``--override FIELD=VALUE`` (repeatable) -> config overrides; values parse as JSON
    where they can (numbers, booleans), else stay strings."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--override {item!r}: expected FIELD=VALUE")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def learning_rate(step, *, base_lr, warmup_steps, total_steps, decay="linear", power=1.0):
    """Linear warmup to ``base_lr`` then linear / polynomial decay to 0 at ``total_steps``.

    ``step`` counts from 1 (the step about to be taken).
    """
    if warmup_steps and step <= warmup_steps:
        return base_lr * step / warmup_steps
    if decay == "constant" or total_steps <= warmup_steps:
        return base_lr
    frac = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    p = 1.0 if decay == "linear" else power
    return base_lr * (1.0 - frac) ** p


def _no_decay(name):
    # Biases and LayerNorm scales/shifts are not weight-decayed (as in BERT's recipe).
    return name.endswith(("bias", "gamma", "beta"))


def make_trainer(model, *, optimizer="adamw", lr=1e-4, weight_decay=0.01):
    """A ``gluon.Trainer`` over the model's distinct parameters (tied ones counted once).

    ``adamw`` is GluonNLP's BERTAdam (Adam with decoupled weight decay, BERT's optimizer);
    ``lamb`` is MXNet's LAMB. The optimizer runs in this process; across devices and
    workers gradients are summed by :class:`GradientSync`, so every worker applies the same
    update to the same weights and the optimizer state can be checkpointed and resumed like
    a single-machine run.
    """
    import gluonnlp  # noqa: F401  (registers "bertadam")
    params = model.collect_params()
    for name, p in structural_params(model).items():
        if _no_decay(name):
            p.wd_mult = 0.0
    opt_name = {"adamw": "bertadam", "lamb": "lamb", "adam": "adam", "sgd": "sgd"}[optimizer]
    return mx.gluon.Trainer(params, opt_name, {"learning_rate": lr, "wd": weight_decay},
                            kvstore=None)


class GradientSync:
    """Sum gradients over this process's devices and over the workers of a kvstore.

    MXNet's dist_sync ``pushpull`` let a pull overtake the merge under load here (workers
    then summed different steps' gradients and drifted apart), so each step pushes every
    gradient, waits for the servers to acknowledge the merged sums, then pulls them.
    Keys are the parameters' structural order, identical on every worker.
    """

    def __init__(self, params, kv=None):
        self.params, self.kv = params, kv
        if kv is not None:
            for i, p in enumerate(params):       # rank 0's initial weights win everywhere
                kv.init(i, p.list_data()[0])
            for i, p in enumerate(params):
                kv.pull(i, p.list_data(), priority=-i)
            mx.nd.waitall()

    @property
    def num_workers(self):
        return self.kv.num_workers if self.kv is not None else 1

    def __call__(self):
        for p in self.params:                     # across this process's devices
            grads = p.list_grad()
            if len(grads) > 1:
                total = mx.nd.add_n(*[g.as_in_context(grads[0].context) for g in grads])
                for g in grads:
                    total.copyto(g)
        if self.kv is None:
            return
        for i, p in enumerate(self.params):
            self.kv.push(i, p.list_grad()[0], priority=-i)
        mx.nd.waitall()
        for i, p in enumerate(self.params):
            self.kv.pull(i, p.list_grad(), priority=-i)


def layerwise_lr_mults(model, decay):
    """Layer-wise lr decay: set ``lr_mult`` by depth, the layer index parsed from structural
    names (``encoder.layers.{i}.``): encoder layer i (of N) -> decay^(N-i), everything else of
    the backbone (embeddings) -> decay^(N+1), head and pooler -> 1. Returns {name: mult}."""
    params = structural_params(model)
    layer_re = re.compile(r"(?:^|\.)layers\.(\d+)\.")
    depth = {}
    for name in params:
        m = layer_re.search(name)
        if m:
            depth[name] = int(m.group(1)) + 1
    n = max(depth.values(), default=0)
    mults, shared = {}, {}
    for name, p in params.items():
        d = n + 1 if name.startswith(("head.", "pooler.")) else depth.get(name, 0)
        mults[name] = decay ** (n + 1 - d)
        # a parameter shared by several layers (ALBERT) takes its largest multiplier
        shared[id(p)] = (p, max(mults[name], shared.get(id(p), (None, 0.0))[1]))
    for p, mult in shared.values():
        p.lr_mult = mult
    return mults


def clip_and_update(trainer, sync, num_devices, max_norm):
    """Sum gradients across devices and workers, clip them by global norm, update."""
    sync()
    if max_norm:
        grads = [p.list_grad()[0] for p in sync.params]
        mx.gluon.utils.clip_global_norm(grads, max_norm, check_isfinite=False)
        if num_devices > 1:
            for p in sync.params:
                for g in p.list_grad()[1:]:
                    p.list_grad()[0].copyto(g)
    trainer.update(num_devices * sync.num_workers, ignore_stale_grad=True)


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    mx.random.seed(seed)


def step_seed(seed, step):
    """Reseed MXNet's RNG (dropout) per step: its state cannot be saved, so a resumed run
    reaches the same dropout masks by reseeding from (seed, step)."""
    mx.random.seed((seed * 1_000_003 + step) % (2 ** 31))


class RunDirectory:
    """Step checkpoints under ``DIR/checkpoints/step-NNNNNNNN/``, written atomically.

    Each holds ``model.params`` (tie-aware, with config and tokenizer assets),
    ``trainer.states`` and ``state.json`` (step, data position, RNG state, anything else
    the script needs). A checkpoint directory is assembled under a temporary name and
    renamed into place, so a kill at any moment leaves only complete checkpoints; the
    newest one whose files verify is the one ``--resume`` takes.
    """

    def __init__(self, root, keep_last=3):
        self.root = os.path.abspath(root)
        self.dir = os.path.join(self.root, "checkpoints")
        self.keep_last = keep_last
        os.makedirs(self.dir, exist_ok=True)

    def save(self, step, model, trainer, state, *, config=None, assets=None):
        final = os.path.join(self.dir, f"step-{step:08d}")
        tmp = tempfile.mkdtemp(prefix=f".step-{step:08d}.", dir=self.dir)
        try:
            checkpoints.save(model, os.path.join(tmp, "model.params"), config=config, assets=assets)
            if trainer is not None:
                trainer.save_states(os.path.join(tmp, "trainer.states"))
            state = dict(state, step=step, python_random=_py_state(), numpy_random=_np_state())
            with open(os.path.join(tmp, "state.json"), "w") as f:
                json.dump(state, f)
                f.flush()
                os.fsync(f.fileno())
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(tmp, final)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise checkpoints.CheckpointError(
                f"{final}: could not write checkpoint ({e.strerror or e}); earlier "
                f"checkpoints are intact") from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._prune()
        return final

    def _steps(self):
        out = []
        for name in os.listdir(self.dir):
            if name.startswith("step-") and name[5:].isdigit():
                out.append((int(name[5:]), os.path.join(self.dir, name)))
        return sorted(out)

    def _prune(self):
        for _, path in self._steps()[:-self.keep_last] if self.keep_last else []:
            shutil.rmtree(path, ignore_errors=True)
        for name in os.listdir(self.dir):  # leftovers of killed saves
            if name.startswith(".step-"):
                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)

    def latest(self):
        """``(path, state)`` of the newest checkpoint that verifies, or ``(None, None)``."""
        for _step, path in reversed(self._steps()):
            try:
                with open(os.path.join(path, "state.json")) as f:
                    state = json.load(f)
                checkpoints.inspect(os.path.join(path, "model.params"), verify=True)
                return path, state
            except (OSError, ValueError, checkpoints.CheckpointError) as e:
                print(f"[resume] skipping unusable checkpoint {path}: {e}", file=sys.stderr)
        return None, None

    @staticmethod
    def restore_rng(state):
        random.setstate(_py_state_from(state["python_random"]))
        np.random.set_state(_np_state_from(state["numpy_random"]))


def _py_state():
    v, internal, gauss = random.getstate()
    return [v, list(internal), gauss]


def _py_state_from(s):
    return (s[0], tuple(s[1]), s[2])


def _np_state():
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _np_state_from(s):
    return (s[0], np.array(s[1], dtype=np.uint32), s[2], s[3], s[4])


class MetricsLog:
    """Append-only JSON lines; on resume, lines past the resumed step are dropped so the
    file reads as one uninterrupted run."""

    def __init__(self, path, resume_step=None):
        self.path = path
        if resume_step is not None and os.path.exists(path):
            keep = []
            with open(path) as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue  # a line cut by a kill
                    if rec.get("step", 0) <= resume_step:
                        keep.append(line if line.endswith("\n") else line + "\n")
            with atomic_open(path, durable=False) as f:
                f.writelines(keep)
        elif resume_step is None:
            atomic_write(path, "", durable=False)   # a fresh log replaces an old one whole

    def write(self, **record):
        with open(self.path, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")


def plot_metrics(metrics_path, png_path, keys=("loss",), title=None):
    """Plot the given metric keys against ``step`` into a PNG (one panel per key)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = []
    with open(metrics_path) as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    keys = [k for k in keys if any(k in r for r in rows)]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for split in sorted({r.get("split", "train") for r in rows if key in r}):
            pts = [(r["step"], r[key]) for r in rows if key in r and r.get("split", "train") == split
                   and isinstance(r[key], (int, float)) and math.isfinite(r[key])]
            if pts:
                ax.plot(*zip(*pts), label=split, marker="." if len(pts) < 30 else None)
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_path(png_path, durable=False) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return png_path
