"""Checkpoint I/O: tiezoo against MXNet 1.9.1's own save/load, side by side in one run.

For a BERT-base-sized pretraining model with its tied MLM head and NSP head (about 110M
parameters, 440 MB), every measurement in a fresh process:

- durable save: tiezoo ``save()`` (fsync of file and directory) against MXNet
  ``save_parameters`` followed by one fsync of the file it wrote (MXNet itself never
  fsyncs: the target is MXNet's save plus that one fsync);
- non-durable save: tiezoo ``save(durable=False)`` against MXNet ``save_parameters``;
- step-checkpoint stall of a training loop (model, optimizer states, data position):
  tiezoo ``RunDirectory.save`` (host copies, then a background writer) against MXNet
  ``save_parameters`` + ``Trainer.save_states``. "stall" is the time the training loop is
  blocked by the checkpoint; "+steps" is how much longer the training steps that ran while
  the background write was in flight took than plain steps (the writer's share of the CPU);
- fresh load (a model constructed but not initialized) and warm reload (into a model that
  already holds parameters: resuming, reloading the best model), with the file in the page
  cache, against the floor: one read of the file from the page cache;
- peak resident memory during a load above the process's memory before it (VmHWM - VmRSS),
  per parameter byte, with gradient buffers off (``grad_req='null'``).

    python benchmarks/checkpoint_io.py [--model bert_base] [--repeat 3] [--steps-batch 2]

Times are the best of ``--repeat`` rounds (the machine is shared and a VM), and the rounds
of the two libraries alternate, so that a slow phase of the machine hits both.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (child_environment, proc_status_kb, reset_peak_memory,  # noqa: E402
                     sentence_pairs)

BOOKKEEPING_BYTES = 1 << 20   # the index, checksums, Python objects of a load
TARGETS = {  # ratio to MXNet in the same run (issue 14)
    "durable save": 1.0, "non-durable save": 1.0, "step-checkpoint stall": 0.3,
    "fresh load": 0.5, "warm reload": 1.0,
}


def _build(model_name, initialized):
    """The pretraining model (MLM + NSP heads, the MLM decoder tied to the embedding)."""
    import mxnet as mx
    from zoo import registry
    family, config = registry.resolve(model_name)
    model = family.build(config, use_mlm=True, use_nsp=True)
    if initialized:
        model.initialize(mx.init.Normal(0.02))
        _forward(model, batch=1, length=8)
        mx.nd.waitall()
    return model


def _forward(model, batch, length, seed=0):
    import mxnet as mx
    import numpy as np
    vocab = model.config.vocab_size
    ids, types, valid = sentence_pairs(np.random.RandomState(seed), vocab, batch, length)
    positions = np.tile(np.arange(0, length, 7)[:20], (batch, 1))
    return model(mx.nd.array(ids), mx.nd.array(types), mx.nd.array(valid), mx.nd.array(positions))


def _unique_bytes(model):
    return sum(p.data().size * p.data().dtype(0).itemsize for p in model.collect_params().values())


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def child_save(model_name, library, path, durable):
    import mxnet as mx
    import checkpoints
    mx.random.seed(0)
    model = _build(model_name, initialized=True)
    os.sync()                          # start from a clean page cache: no other dirty data
    t0 = time.perf_counter()
    if library == "mxnet":
        model.save_parameters(path, deduplicate=True)
        if durable:
            _fsync(path)
    else:
        checkpoints.save(model, path, durable=durable)
    return {"s": time.perf_counter() - t0, "file_bytes": os.path.getsize(path),
            "unique_bytes": _unique_bytes(model)}


def child_load(model_name, library, path, warm):
    import mxnet as mx
    import checkpoints
    model = _build(model_name, initialized=warm)
    model.collect_params().setattr("grad_req", "null")
    mx.nd.waitall()
    reset_peak_memory()
    base = proc_status_kb("VmRSS")
    t0 = time.perf_counter()
    if library == "mxnet":
        model.load_parameters(path)
    else:
        checkpoints.load(model, path)
    mx.nd.waitall()
    elapsed = time.perf_counter() - t0
    return {"s": elapsed, "peak_above_base": (proc_status_kb("VmHWM") - base) * 1024,
            "unique_bytes": _unique_bytes(model)}


def child_stall(model_name, library, directory, batch, length):
    """A training loop that writes one step checkpoint per round."""
    import mxnet as mx
    from zoo import training
    mx.random.seed(0)
    model = _build(model_name, initialized=True)
    model.hybridize(static_alloc=True)
    trainer = training.make_trainer(model, lr=1e-5)

    def step():
        t0 = time.perf_counter()
        with mx.autograd.record():
            outs = _forward(model, batch, length)
            loss = outs[2].mean() + outs[3].mean()
        loss.backward()
        trainer.step(batch)
        mx.nd.waitall()
        return time.perf_counter() - t0

    for _ in range(3):                  # optimizer states exist from the first update on
        step()
    plain = sorted(step() for _ in range(4))[1]      # a typical step, not the luckiest
    run = training.RunDirectory(directory, keep_last=1)
    out = []
    for round_ in range(2):
        t0 = time.perf_counter()
        if library == "mxnet":
            model.save_parameters(os.path.join(directory, "model.params"), deduplicate=True)
            trainer.save_states(os.path.join(directory, "trainer.states"))
            mx.nd.waitall()
        else:
            run.save(round_ + 1, model, trainer, {"data": {"epoch": 0, "offset": round_}})
        stall = time.perf_counter() - t0
        during = []
        while run.writing():
            during.append(step())
        written = time.perf_counter() - t0
        run.close()
        out.append({"stall": stall, "extra_steps": sum(during) - len(during) * plain,
                    "steps_during": len(during), "written": written})
        step()
    best = min(out, key=lambda r: r["stall"])
    return dict(best, step_s=plain, write_cpu=_write_cpu_seconds(model, trainer, directory))


def _write_cpu_seconds(model, trainer, directory):
    """CPU seconds (all threads of this process) that writing one step checkpoint costs
    beyond the host copies: what a background write takes from the cores training runs on,
    a number that other load on the machine does not inflate the way it does wall time."""
    import checkpoints
    model_copy = checkpoints.snapshot(model)
    trainer_copy = checkpoints.snapshot_trainer(trainer)
    t0 = time.process_time()
    for name, copy in (("model.params", model_copy), ("trainer.states", trainer_copy)):
        copy.write_file(os.path.join(directory, name))
        _fsync(os.path.join(directory, name))
    return time.process_time() - t0


def run_child(*args):
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(args)],
                          capture_output=True, text=True,
                          env=child_environment(os.cpu_count(), wait_policy=None))
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"child {args[0]} {args[2]} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def page_cache_read_s(path, repeat):
    """The floor of a load: one read of the file (already in the page cache)."""
    import numpy as np
    buf = np.empty(os.path.getsize(path), dtype=np.uint8)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        with open(path, "rb", buffering=0) as f:
            f.readinto(memoryview(buf))
        best = min(best, time.perf_counter() - t0)
    return best


def measure(args, tmp):
    paths = {"mxnet": os.path.join(tmp, "mxnet.params"), "tiezoo": os.path.join(tmp, "tiezoo.params"),
             "tiezoo_st": os.path.join(tmp, "tiezoo.safetensors")}
    libs = [("mxnet", paths["mxnet"]), ("tiezoo", paths["tiezoo"]), ("tiezoo", paths["tiezoo_st"])]
    cols = ["mxnet", "tiezoo", "tiezoo_st"]
    best = {}

    def keep(row, col, value, key="s"):
        cur = best.setdefault(row, {}).get(col)
        if cur is None or value[key] < cur[key]:
            best[row][col] = value

    for _ in range(args.repeat):
        for col, (lib, path) in zip(cols, libs):
            keep("durable save", col, run_child("save", args.model, lib, path, True))
            keep("non-durable save", col, run_child("save", args.model, lib, path, False))
            keep("fresh load", col, run_child("load", args.model, lib, path, False))
            keep("warm reload", col, run_child("load", args.model, lib, path, True))
    for _ in range(max(1, args.repeat - 1)):
        for col, lib in (("mxnet", "mxnet"), ("tiezoo", "tiezoo")):
            d = tempfile.mkdtemp(dir=tmp)
            keep("step-checkpoint stall", col,
                 run_child("stall", args.model, lib, d, args.steps_batch, args.steps_length),
                 key="stall")
    floor = page_cache_read_s(paths["tiezoo"], 3)
    return best, floor


def report(args, best, floor):
    unique = best["fresh load"]["mxnet"]["unique_bytes"]
    print(f"model {args.model} + MLM (tied) + NSP heads: {unique / 1e6:.1f} MB of unique "
          f"parameters; best of {args.repeat}, every measurement in a fresh process; "
          f"{os.cpu_count()} CPUs, OpenMP wait policy left at its default")
    hdr = (f"{'':<24}{'MXNet':>9}{'tiezoo':>9}{'x MX':>7}{'.safetensors':>13}{'x MX':>7}"
           f"{'target':>8}  ok")
    print(hdr)
    print("-" * len(hdr))
    for row in ("durable save", "non-durable save", "step-checkpoint stall", "fresh load",
                "warm reload"):
        key = "stall" if row == "step-checkpoint stall" else "s"
        mx_s = best[row]["mxnet"][key]
        tz_s = best[row]["tiezoo"][key]
        st = best[row].get("tiezoo_st")
        st_txt = f"{st[key]:13.3f}{st[key] / mx_s:7.2f}" if st else f"{'':>13}{'':>7}"
        target = TARGETS[row]
        ok = "yes" if tz_s / mx_s <= target and (not st or st[key] / mx_s <= target) else "NO"
        print(f"{row + ' s':<24}{mx_s:9.3f}{tz_s:9.3f}{tz_s / mx_s:7.2f}{st_txt}{target:7.1f}x  {ok}")
    for row in ("fresh load", "warm reload"):
        peaks = [best[row][c]["peak_above_base"] for c in ("mxnet", "tiezoo", "tiezoo_st")]
        ok = "yes" if max(peaks[1:]) <= unique + BOOKKEEPING_BYTES else "NO"
        print(f"{'peak, ' + row:<24}{peaks[0] / unique:8.3f}x{peaks[1] / unique:8.3f}x{'':>7}"
              f"{peaks[2] / unique:12.3f}x{'':>7}{'1.0':>7}x  {ok}")
    print(f"  peak: VmHWM above the resident size before the load, per parameter byte; ok: at "
          f"most one copy of the parameters plus {BOOKKEEPING_BYTES >> 20} MB of index and "
          f"bookkeeping")
    tz = best["step-checkpoint stall"]["tiezoo"]
    mxs = best["step-checkpoint stall"]["mxnet"]
    print(f"page-cache floor (one read of the file): {floor:.3f} s; tiezoo fresh load "
          f"{best['fresh load']['tiezoo']['s'] / floor:.2f}x it, warm reload "
          f"{best['warm reload']['tiezoo']['s'] / floor:.2f}x it")
    print(f"step checkpoint: training step {mxs['step_s']:.2f} s (batch {args.steps_batch} x "
          f"{args.steps_length}); tiezoo's background write took {tz['written']:.2f} s during "
          f"which {tz['steps_during']} steps ran {tz['extra_steps']:+.2f} s slower in total "
          f"than plain steps; the write itself costs {tz['write_cpu']:.2f} CPU-seconds (all "
          f"threads); MXNet blocked {mxs['stall']:.2f} s")
    print("durable save target: MXNet's save_parameters plus one fsync of its file "
          "(MXNet column of that row)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bert_base")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--steps-batch", type=int, default=2, help="training batch of the stall test")
    ap.add_argument("--steps-length", type=int, default=128, help="sequence length of the stall test")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = json.loads(args.child)
        fn = {"save": child_save, "load": child_load, "stall": child_stall}[kind]
        print(json.dumps(fn(*rest)))
        return
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        best, floor = measure(args, tmp)
    report(args, best, floor)
    print(f"machine load average (1 min) {load_before:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (other work on the machine slows both libraries)")


if __name__ == "__main__":
    main()
