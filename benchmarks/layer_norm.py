"""The native LayerNorm as it is built for users (portable: baseline ISA + AVX-512/AVX2
clones, -mtune=native) against a -march=native build of the same source and MXNet 1.9.1's
own LayerNorm, forward + backward, in fresh processes of one run.

    python benchmarks/layer_norm.py [--rows 4096] [--cols 512] [--rounds 3]

Times are CPU seconds of the measuring thread (one OpenMP thread, MXNet's NaiveEngine), the
best of ``--reps`` blocks: CPU time hardly moves when other processes share the machine,
where wall time does. Ratios > 1: the portable build is faster.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(args):
    sys.path.insert(0, ROOT)
    import mxnet as mx
    import numpy as np
    import zoo  # noqa: F401  (loads or builds the native library)
    from zoo import _native
    rng = np.random.RandomState(0)
    x = mx.nd.array(rng.randn(args.rows, args.cols))
    dy = mx.nd.array(rng.randn(args.rows, args.cols))
    gamma, beta = mx.nd.ones(args.cols), mx.nd.zeros(args.cols)
    for v in (x, gamma, beta):
        v.attach_grad()
    if args.child == "mxnet":
        def op(a, g, b):
            return mx.nd.LayerNorm(a, g, b, axis=-1, eps=1e-12)
    else:
        if not _native.AVAILABLE:
            raise SystemExit(f"native library unavailable: {_native.STATUS}")

        def op(a, g, b):
            return mx.nd.tiezoo_layer_norm(a, g, b, eps=1e-12)

    def step():
        with mx.autograd.record():
            y = op(x, gamma, beta)
        y.backward(dy)
        mx.nd.waitall()

    for _ in range(5):
        step()
    best = float("inf")
    for _ in range(args.reps):
        t0 = time.thread_time()
        for _ in range(5):
            step()
        best = min(best, (time.thread_time() - t0) / 5)
    print(json.dumps({"ms": best * 1e3, "library": _native.STATUS}))


def measure(kind, args, cache):
    env = dict(os.environ, OMP_NUM_THREADS="1", MXNET_ENGINE_TYPE="NaiveEngine")
    if kind == "march-native":
        env.update(TIEZOO_NATIVE_DIR=cache, TIEZOO_NATIVE_FLAGS="-march=native")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "mxnet" if kind == "mxnet"
           else "native", "--rows", str(args.rows), "--cols", str(args.cols),
           "--reps", str(args.reps)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-2000:])
        raise SystemExit(f"{kind} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])["ms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=512)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=["native", "mxnet"])
    args = ap.parse_args()
    if args.child:
        return child(args)
    kinds = ("portable", "march-native", "mxnet")
    best = {k: float("inf") for k in kinds}
    with tempfile.TemporaryDirectory() as cache:
        for _ in range(args.rounds):                  # interleaved: drift hits all alike
            for kind in kinds:
                best[kind] = min(best[kind], measure(kind, args, cache))
    print(f"LayerNorm forward + backward, {args.rows} x {args.cols} float32, 1 thread, "
          f"CPU ms (best of {args.rounds} rounds)")
    print(f"{'build':<14} {'ms':>8} {'portable is':>14}")
    for kind in kinds:
        ratio = best[kind] / best["portable"]
        print(f"{kind:<14} {best[kind]:>8.2f} {ratio:>13.2f}x")


if __name__ == "__main__":
    main()
