"""No fault hangs a distributed pretraining job (zoo/distributed.py, zoo/cli/launch.py).

Each test runs a job of four processes on loopback (the scheduler, a server, two workers),
started by hand as the README's Kubernetes recipe does or by ``scripts/launch.py``, and
injects one fault: a process killed from outside, or the ``TIEZOO_FAULT`` hook making a
role die at a named phase. It asserts that every process ended (none left running, looked
up by a marker in the environment, so that a grandchild would count too), with which status
and line, and how long the slowest survivor took after the fault; that time is printed
(``pytest -s``) for the record.
"""
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from zoo.cli.launch import free_port_pair
from zoo.distributed import EXIT_ERROR, EXIT_PEER_FAILED, EXIT_TIMEOUT, EXIT_USAGE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAIN = os.path.join(ROOT, "scripts", "pretrain.py")
LAUNCH = os.path.join(ROOT, "scripts", "launch.py")
MODEL = ["--model", "bert_test", "--max-seq-length", "32", "--batch-size", "4", "--no-progress"]
TINY = ["--kvstore", "dist_sync", *MODEL]
MARK = "TIEZOO_TEST_JOB"
# Seconds a survivor may take beyond what the design promises (loaded 2-core machines).
MARGIN = 5.0


def processes_of(mark):
    """pids of live processes whose environment holds ``MARK=mark``."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != "Z":
            found.append((int(pid), env))
    return found


def role_pids(mark, role):
    return [pid for pid, env in processes_of(mark) if f"DMLC_ROLE={role}".encode() in env]


def wait_for_steps(out, n, alive, timeout=120):
    """Until rank 0 has logged ``n`` steps; ``alive()`` must hold meanwhile."""
    path = os.path.join(out, "metrics.jsonl")
    deadline = time.monotonic() + timeout
    while not (os.path.exists(path) and len(open(path).read().splitlines()) >= n):
        assert alive(), "the job ended before training got going"
        assert time.monotonic() < deadline, "the job never started stepping"
        time.sleep(0.05)


class Job:
    """Scheduler, server and two workers started by hand, each with its own log."""

    NAMES = ("scheduler", "server", "worker-a", "worker-b")

    def __init__(self, tmp_path, args, *, env=None, env_of=None, names=NAMES):
        self.mark, self.tmp = uuid.uuid4().hex, tmp_path
        port = free_port_pair()
        base = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(port),
                    DMLC_NUM_SERVER="1", DMLC_NUM_WORKER="2", DMLC_INTERFACE="lo",
                    **{MARK: self.mark}, **(env or {}))
        self.procs, self.ended = {}, {}
        for name in names:
            e = dict(base, DMLC_ROLE=name.split("-")[0], **(env_of or {}).get(name, {}))
            with open(tmp_path / f"{name}.log", "w") as log:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, PRETRAIN, *map(str, args)], env=e, stdout=log,
                    stderr=subprocess.STDOUT, cwd=ROOT)

    def poll(self):
        for name, p in self.procs.items():
            if name not in self.ended and p.poll() is not None:
                self.ended[name] = time.monotonic()
        return len(self.ended) < len(self.procs)

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.poll() and time.monotonic() < deadline:
            time.sleep(0.02)
        return {n: p.returncode for n, p in self.procs.items()}

    def log(self, name):
        return (self.tmp / f"{name}.log").read_text()

    def kill_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
            p.wait()


@pytest.fixture
def job_factory(tmp_path):
    jobs = []

    def make(*args, **kw):
        jobs.append(Job(tmp_path, *args, **kw))
        return jobs[-1]
    yield make
    for job in jobs:
        job.kill_all()


def finished(job, timeout, what):
    """Wait for the job; assert nothing of it runs any more; -> exit statuses by name."""
    status = job.wait(timeout)
    left = processes_of(job.mark)
    assert not left, f"{what}: still running after {timeout} s: {[pid for pid, _ in left]}"
    return status


def record(what, seconds):
    print(f"\n[fault] {what}: the slowest survivor ended {seconds:.2f} s after the fault")


def assert_stopped_by(job, survivors, culprit_words):
    """Each survivor ended with EXIT_PEER_FAILED and one line naming the failed process."""
    for name in survivors:
        assert job.procs[name].returncode == EXIT_PEER_FAILED, (name, job.log(name))
        lines = [l for l in job.log(name).splitlines() if "error:" in l]
        assert len(lines) == 1 and culprit_words in lines[0], (name, job.log(name))
        assert "Traceback" not in job.log(name)


# -- faults injected by the hook, jobs started by hand ------------------------------------

# phase -> (TIEZOO_FAULT, extra arguments); the victim dies by SIGKILL at that phase.
PHASES = {
    "startup": ("worker:startup", []),             # set in one worker only: no rank yet
    "vocab": ("worker1:vocab", ["--vocab-size", 300]),   # rank 0 is training the vocabulary
    "train": ("worker1:train", []),
    "checkpoint": ("worker0:checkpoint", ["--save-every", 3]),  # rank 1 wrote its position
    "exit": ("worker0:exit", []),                  # all saved: the kvstore exit handshake
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_a_worker_dies_at_each_phase_and_every_other_process_ends(
        phase, job_factory, tmp_path, text_corpus, wordpiece_vocab):
    spec, extra = PHASES[phase]
    vocab = [] if "--vocab-size" in extra else ["--vocab", wordpiece_vocab]
    args = [*TINY, "--corpus", text_corpus, *vocab, "--output", tmp_path / "out",
            "--max-steps", 6, "--dist-timeout", 60, *extra]
    fault = {"TIEZOO_FAULT": spec}
    if phase == "startup":
        job = job_factory(args, env_of={"worker-b": fault})
    else:
        job = job_factory(args, env=fault)
    finished(job, 120, phase)
    victims = [n for n, p in job.procs.items() if p.returncode == -signal.SIGKILL]
    assert len(victims) == 1 and victims[0].startswith("worker"), job.wait(0)
    assert f"[fault] TIEZOO_FAULT={spec}" in job.log(victims[0])
    survivors = [n for n in job.procs if n not in victims]
    assert_stopped_by(job, survivors, "died without a word")
    who = "worker (pid" if phase == "startup" else f"worker {spec[6]} (pid"
    assert who in job.log("scheduler")
    slowest = max(job.ended[n] for n in survivors) - job.ended[victims[0]]
    record(f"worker killed at {phase}", slowest)
    assert slowest < 60, slowest   # far below --dist-timeout: the monitor tells at once
    if phase == "exit":            # everything was saved before the handshake
        assert (tmp_path / "out" / "model.params").exists()


def test_an_internal_error_after_the_last_step_is_named_by_every_survivor(
        job_factory, tmp_path, text_corpus, wordpiece_vocab):
    args = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output",
            tmp_path / "out", "--max-steps", 4, "--dist-timeout", 60]
    job = job_factory(args, env={"TIEZOO_FAULT": "worker0:end:error"})
    finished(job, 120, "end:error")
    [victim] = [n for n, p in job.procs.items() if p.returncode == EXIT_ERROR]
    assert "RuntimeError: injected fault at end" in job.log(victim)  # its traceback, the bug report
    survivors = [n for n in job.procs if n != victim]
    assert_stopped_by(job, survivors, "worker 0 (pid")
    for name in survivors:
        assert "failed: RuntimeError: injected fault at end" in job.log(name)
    record("worker raises at end", max(job.ended[n] for n in survivors) - job.ended[victim])


@pytest.mark.parametrize("role", ["server", "scheduler"])
def test_a_server_or_scheduler_dies_at_startup(role, job_factory, tmp_path, text_corpus,
                                               wordpiece_vocab):
    timeout = 6
    args = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output",
            tmp_path / "out", "--max-steps", 6, "--dist-timeout", timeout]
    job = job_factory(args, env_of={role: {"TIEZOO_FAULT": f"{role}:startup"}})
    finished(job, timeout + 60, f"{role}:startup")
    assert job.procs[role].returncode == -signal.SIGKILL
    survivors = [n for n in job.procs if n != role]
    slowest = max(job.ended[n] for n in survivors) - job.ended[role]
    record(f"{role} killed at startup", slowest)
    assert slowest < timeout + MARGIN
    for name in survivors:
        log = job.log(name)
        assert job.procs[name].returncode in (EXIT_PEER_FAILED, EXIT_TIMEOUT), (name, log)
        assert len([l for l in log.splitlines() if "error:" in l]) == 1, log
        if role == "scheduler":   # those who had not reached it wait --dist-timeout for it
            assert "no scheduler answered" in log or "the scheduler (127.0.0.1" in log, log
        else:
            assert "server (pid" in log, log


def test_a_worker_that_never_starts_stops_the_job_after_dist_timeout(
        job_factory, tmp_path, text_corpus, wordpiece_vocab):
    timeout = 6
    args = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output",
            tmp_path / "out", "--max-steps", 6, "--dist-timeout", timeout]
    job = job_factory(args, names=("scheduler", "server", "worker-a"))   # one of two workers
    t0 = time.monotonic()
    finished(job, timeout + 60, "a worker missing")
    record("a worker never started", max(job.ended.values()) - t0)
    assert job.procs["scheduler"].returncode == EXIT_TIMEOUT
    assert job.log("scheduler").strip() == (
        f"pretrain (scheduler): error: only 1 of 2 workers and 1 of 1 servers reached the "
        f"scheduler within {timeout} s (--dist-timeout): start every role with the same "
        f"command and DMLC_* settings")
    assert_stopped_by(job, ["server", "worker-a"], "only 1 of 2 workers")
    assert timeout - 1 < max(job.ended.values()) - t0 < timeout + MARGIN


def test_the_scheduler_killed_mid_training_ends_the_job(job_factory, tmp_path, text_corpus,
                                                        wordpiece_vocab):
    out = tmp_path / "out"
    args = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output", out,
            "--max-steps", 100000, "--log-every", 1, "--dist-timeout", 60]
    job = job_factory(args)
    wait_for_steps(out, 2, job.poll)
    job.procs["scheduler"].send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    finished(job, 120, "scheduler killed")
    survivors = ["server", "worker-a", "worker-b"]
    assert_stopped_by(job, survivors, "the scheduler (127.0.0.1")
    record("scheduler killed mid-training", max(job.ended[n] for n in survivors) - t0)


# -- under the launcher -------------------------------------------------------------------

def launch(tmp_path, args, *, env=None, grace=5):
    mark = uuid.uuid4().hex
    e = dict(os.environ, **{MARK: mark}, **(env or {}))
    proc = subprocess.Popen([sys.executable, LAUNCH, "-n", "2", "-s", "1", "--grace", str(grace),
                             "--", sys.executable, PRETRAIN, *map(str, args)],
                            env=e, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, mark


def launch_finished(proc, mark, timeout):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    left = processes_of(mark)
    for pid, _ in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after the launcher ended: {[pid for pid, _ in left]}"
    return out, err


def test_launch_server_killed_mid_training(tmp_path, text_corpus, wordpiece_vocab):
    out = tmp_path / "out"
    args = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output", out,
            "--max-steps", 100000, "--log-every", 1, "--dist-timeout", 60]
    proc, mark = launch(tmp_path, args)
    wait_for_steps(out, 2, lambda: proc.poll() is None)
    [server] = role_pids(mark, "server")
    os.kill(server, signal.SIGKILL)
    t0 = time.monotonic()
    _, err = launch_finished(proc, mark, 60)
    record("server killed mid-training (launcher)", time.monotonic() - t0)
    assert proc.returncode == 128 + signal.SIGKILL
    # one line: the launcher's; the stopped processes stay quiet under it
    assert err.strip().splitlines() == [
        f"launch: a server (pid {server}) was killed by SIGKILL; the job's other 3 processes ended"], err


@pytest.mark.slow
def test_launch_a_frozen_worker_stops_the_job_after_dist_timeout(tmp_path, text_corpus,
                                                                 wordpiece_vocab):
    timeout, grace = 8, 3
    out = tmp_path / "out"
    args = [*TINY, "--corpus", text_corpus, "--vocab", wordpiece_vocab, "--output", out,
            "--max-steps", 100000, "--log-every", 1, "--dist-timeout", timeout]
    proc, mark = launch(tmp_path, args, grace=grace)
    wait_for_steps(out, 2, lambda: proc.poll() is None)
    frozen = role_pids(mark, "worker")[0]
    os.kill(frozen, signal.SIGSTOP)  # alive but stuck: no monitor sees it die
    t0 = time.monotonic()
    _, err = launch_finished(proc, mark, timeout + grace + 60)
    elapsed = time.monotonic() - t0
    record("worker frozen (SIGSTOP) mid-training (launcher)", elapsed)
    assert proc.returncode == EXIT_TIMEOUT, err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "no progress for" in lines[0] and "--dist-timeout" in lines[0], err
    assert lines[1].startswith("launch: a worker (pid") and "1 of them killed after 3 s" in lines[1], err
    assert timeout <= elapsed < timeout + grace + MARGIN, elapsed


def test_launch_readme_example_with_a_missing_vocabulary(tmp_path, text_corpus):
    """The README's launch example run before its vocabulary exists: one line, status 2."""
    args = [*TINY, "--corpus", text_corpus, "--vocab", "vocab", "--output", "runs/dist",
            "--max-steps", 6, "--dist-timeout", 60]
    proc, mark = launch(tmp_path, args)
    t0 = time.monotonic()
    _, err = launch_finished(proc, mark, 120)
    print(f"\n[fault] a worker refuses its command line (launcher): the whole job ended "
          f"{time.monotonic() - t0:.2f} s after the launch")
    assert proc.returncode == EXIT_USAGE, err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("pretrain (worker): error: --vocab vocab: no such file or folder")
    assert lines[1].startswith("launch: a worker (pid") and "exited with status 2" in lines[1]
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing written


# -- an auxiliary output --------------------------------------------------------------------

def test_a_broken_loss_plot_after_the_model_is_saved_is_a_warning(tmp_path, text_corpus,
                                                                  wordpiece_vocab):
    """Plotting broke in one environment (matplotlib missing): the run still succeeds."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "matplotlib.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, PRETRAIN, *MODEL, "--corpus", str(text_corpus),
                           "--vocab", str(wordpiece_vocab), "--output", str(out), "--max-steps", "2"],
                          env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[warning] no loss plot: ImportError: No module named 'matplotlib'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "model.params").exists() and (out / "metrics.jsonl").exists()
    assert not (out / "loss.png").exists()


# -- the launcher's own plumbing --------------------------------------------------------------

def test_launch_refuses_its_own_mistakes_in_one_line(capsys):
    from zoo.cli import launch as launcher
    assert launcher.main(["-n", "2"]) == 2
    assert capsys.readouterr().err == "launch: error: give the command to run after -- (see --help)\n"
    assert launcher.main(["-n", "2", "--", "/nonexistent/python"]) == 2
    assert capsys.readouterr().err == (
        "launch: error: cannot run '/nonexistent/python': No such file or directory\n")


def test_launch_output_shows_an_error_line_once_and_keeps_progress_bars_live():
    import io
    import threading
    from zoo.cli.launch import _Output
    output, sink = _Output(), io.BytesIO()
    error = b"pretrain (worker): error: --vocab v: no such file or folder\n"
    pipes = [os.pipe() for _ in range(2)]
    threads = [threading.Thread(target=output.pump, args=(os.fdopen(r, "rb"), sink)) for r, _ in pipes]
    for t in threads:
        t.start()
    os.write(pipes[0][1], b"step 1\rstep 2\r")           # a progress bar: no newline yet
    deadline = time.monotonic() + 10
    while sink.getvalue() != b"step 1\rstep 2\r":        # passed through before any newline
        assert time.monotonic() < deadline, sink.getvalue()
        time.sleep(0.01)
    for _, w in pipes:
        os.write(w, error)                                # every worker found the same mistake
        os.close(w)
    for t in threads:
        t.join(10)
    assert sink.getvalue() == b"step 1\rstep 2\r" + error
