"""What the framework-comparison benchmarks share: timing a callable, and running one
measurement in a fresh process (``--child FRAMEWORK``) whose last stdout line is JSON."""
import json
import os
import subprocess
import sys
import time

__all__ = ["time_calls", "run_child_process"]


def time_calls(fn, warmup, iters):
    """Seconds of each of ``iters`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def run_child_process(script, framework, preset, args, iters):
    """Run ``script --child framework --preset preset`` with ``args``' warmup, latency
    iterations and threads (the thread-count variables set to match) and ``iters`` timed
    steps; its JSON result, with ``wall_s`` added. Exits naming the run if it fails."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false",
               PYTHONWARNINGS="ignore")
    cmd = [sys.executable, os.path.abspath(script), "--child", framework, "--preset", preset,
           "--warmup", str(args.warmup), "--iters", str(iters),
           "--lat-iters", str(args.lat_iters), "--threads", str(args.threads)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"{framework} / {preset} failed (exit {proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - t0
    return out
