"""Running the zoo's programs from tests: ``zoo_program`` (``python -m zoo ...`` in a
subprocess), the metrics a run wrote, and the kill-and-resume check every pretraining
recipe must pass."""
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def zoo_program(*args, check=True, timeout=600, env=None):
    """``python -m zoo ARGS`` from the checkout; raises with its stderr's tail on failure
    unless ``check=False``."""
    proc = subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"zoo {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def metrics(out):
    """The JSON lines of ``out/metrics.jsonl``."""
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def final_checksum(stderr):
    """The parameter checksum the pretraining program prints at its end."""
    return [l for l in stderr.splitlines() if "final parameter checksum" in l][-1].split()[-1]


def assert_kill_and_resume_exact(common, tmp_path, kill_after_checkpoint=20, timeout=300):
    """``zoo pretrain COMMON`` run straight, and run again, killed with SIGKILL once step
    checkpoint ``kill_after_checkpoint`` exists and resumed: the resumed run ends with
    bitwise the same parameters and the same metrics (throughput aside)."""
    straight = zoo_program("pretrain", *common, "--output", tmp_path / "a")
    b = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "pretrain", *map(str, common),
                             "--output", str(b)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    marker = b / "checkpoints" / f"step-{kill_after_checkpoint:08d}"
    try:
        deadline = time.time() + timeout
        while not marker.exists():
            assert proc.poll() is None and time.time() < deadline, \
                f"run ended before step {kill_after_checkpoint}"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    resumed = zoo_program("pretrain", *common, "--output", b, "--resume")
    assert "[resume] continuing from" in resumed.stderr
    assert final_checksum(resumed.stderr) == final_checksum(straight.stderr)   # bitwise on CPU
    strip = lambda rows: [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in rows]
    assert strip(metrics(b)) == strip(metrics(tmp_path / "a"))
