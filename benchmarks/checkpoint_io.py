"""Checkpoint I/O: tiezoo save/load against MXNet's save_parameters/load_parameters.

For a BERT-base-sized pretraining model with its tied MLM head (about 110M parameters),
prints save time, load time (tiezoo verifies every tensor's crc32), file size and peak
resident memory during load above the process baseline, each measured in a fresh process,
all in the same run, with ratios against MXNet.

    python benchmarks/checkpoint_io.py [--model bert_base] [--repeat 3]

Peak memory is VmHWM - VmRSS(before load) in a process that has built the model but not
initialized it (what ``zoo.get_model(..., pretrained=...)`` does). It is reported with
gradient buffers off (``grad_req='null'``, inference or a frozen backbone) and on (the
gradient buffer is one more copy of the parameters, for both libraries alike).
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


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def _build(model_name):
    """The pretraining model, constructed but not initialized (no parameter memory yet)."""
    from zoo import registry
    family, config = registry.resolve(model_name)
    return family.build(config, use_mlm=True)


def child_save(model_name, method, path, repeat):
    import mxnet as mx
    import checkpoints
    mx.random.seed(0)
    model = _build(model_name)
    model.initialize(mx.init.Normal(0.02))
    x = mx.nd.ones((1, 8))
    model(x, mx.nd.zeros((1, 8)), mx.nd.array([8]), mx.nd.zeros((1, 1)))
    mx.nd.waitall()
    unique = sum(p.data().size * p.data().dtype(0).itemsize for p in model.collect_params().values())
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        if method == "mxnet":
            model.save_parameters(path, deduplicate=True)
        else:
            checkpoints.save(model, path)
        times.append(time.perf_counter() - t0)
    return {"save_s": min(times), "file_bytes": os.path.getsize(path), "unique_bytes": unique}


def child_load(model_name, method, path, grads):
    import mxnet as mx
    import checkpoints
    model = _build(model_name)
    if not grads:
        model.collect_params().setattr("grad_req", "null")
    mx.nd.waitall()
    base = _status_kb("VmRSS")
    t0 = time.perf_counter()
    if method == "mxnet":
        model.load_parameters(path)
    else:
        checkpoints.load(model, path)
    mx.nd.waitall()
    elapsed = time.perf_counter() - t0
    peak = _status_kb("VmHWM")
    return {"load_s": elapsed, "peak_above_base_bytes": (peak - base) * 1024}


def run_child(*args):
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bert_base")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = json.loads(args.child)
        fn = child_save if kind == "save" else child_load
        print(json.dumps(fn(*rest)))
        return
    methods = [("mxnet", ".params", "MXNet save/load_parameters"),
               ("tiezoo", ".params", "tiezoo .params"),
               ("tiezoo", ".safetensors", "tiezoo .safetensors")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method, ext, label in methods:
            path = os.path.join(tmp, method + ext)
            s = run_child("save", args.model, method, path, args.repeat)
            loads = [run_child("load", args.model, method, path, False) for _ in range(args.repeat)]
            grads = run_child("load", args.model, method, path, True)
            rows.append(dict(label=label, **s, load_s=min(r["load_s"] for r in loads),
                             peak=min(r["peak_above_base_bytes"] for r in loads),
                             peak_grads=grads["peak_above_base_bytes"]))
    base = rows[0]
    unique = base["unique_bytes"]
    print(f"model {args.model} with tied MLM head: {unique / 1e6:.1f} MB of unique parameters "
          f"({unique // 4:,} float32 values); best of {args.repeat}, each in a fresh process")
    hdr = (f"{'method':<28} {'save s':>7} {'x MX':>5} {'load s':>7} {'x MX':>5} {'file MB':>8} "
           f"{'over uniq':>9} {'peak/params':>11} {'+grads':>7}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['label']:<28} {r['save_s']:7.3f} {r['save_s'] / base['save_s']:5.2f} "
              f"{r['load_s']:7.3f} {r['load_s'] / base['load_s']:5.2f} {r['file_bytes'] / 1e6:8.1f} "
              f"{(r['file_bytes'] - unique) / unique * 100:8.3f}% {r['peak'] / unique:11.2f} "
              f"{r['peak_grads'] / unique:7.2f}")
    print("targets: file = unique bytes + <0.1%; save and load <= 1.00x MXNet; "
          "peak during load <= 1.10x parameter bytes (grad_req='null' column)")


if __name__ == "__main__":
    main()
