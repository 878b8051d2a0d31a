"""What the framework-comparison benchmarks share: timing a callable, and running one
measurement in a fresh process (``--child FRAMEWORK``) whose last stdout line is JSON."""
import json
import os
import subprocess
import sys
import time

__all__ = ["time_calls", "run_child_process", "child_environment", "describe_environment",
           "sentence_pairs", "proc_status_kb", "reset_peak_memory"]

# On the 2-core dev machine (a VM) a BERT-small 1x128 forward takes either ~22 ms or ~27 ms,
# MXNet and PyTorch alike: the machine switches between a fast and a slow state that lasts
# seconds, whatever runs (measured: the same process, idle or busy in between, flips both
# ways). Hence best-of-N timings and --rounds, which interleave the frameworks. Separately,
# OpenMP threads that sleep between operators are always slow (OMP_WAIT_POLICY=PASSIVE:
# 29-32 ms), and GNU OpenMP's default falls into that at times; ACTIVE (spin while waiting)
# avoids it. Every child of a comparison gets the same policy; a value already set is kept.
WAIT_POLICY = "ACTIVE"


def child_environment(threads, wait_policy=WAIT_POLICY):
    """The environment every measured process runs with, whatever its framework.

    ``wait_policy=None`` leaves OpenMP's default (what a user's run gets): a benchmark with
    work on threads of its own beside MXNet's (a background writer) must not measure it
    against OpenMP workers that spin through every pause."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    if wait_policy is not None:
        env.setdefault("OMP_WAIT_POLICY", wait_policy)
    return env


def describe_environment(threads):
    """One line for a report's header: what ``child_environment`` sets."""
    env = child_environment(threads)
    return f"CPU threads {threads}, OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']}"


def proc_status_kb(field):
    """A ``/proc/self/status`` field in kB (``VmRSS``, ``VmHWM``: peak resident memory of this
    process alone; ``ru_maxrss`` would carry a parent's peak across ``exec``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_memory():
    """Make ``VmHWM`` restart from the current resident size (Linux: writing 5 to
    ``/proc/self/clear_refs``), so that a peak measured afterwards belongs to what follows."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def sentence_pairs(rng, vocab_size, batch, seq_len, padding=0):
    """Random token ids (B, L) drawn first from ``rng``, token types (second half 1) and
    valid lengths (B,); every other sequence ends ``padding`` tokens early."""
    import numpy as np
    ids = rng.randint(5, vocab_size, size=(batch, seq_len))
    types = (np.arange(seq_len)[None, :] >= seq_len // 2).astype("int64").repeat(batch, 0)
    valid = np.full(batch, seq_len, dtype="int64")
    valid[1::2] -= padding
    return ids, types, valid


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
    iterations and threads (in :func:`child_environment`) and ``iters`` timed steps; its JSON result, with ``wall_s`` added. Exits naming the run if it fails."""
    env = child_environment(args.threads)
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
