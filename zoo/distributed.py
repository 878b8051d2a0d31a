"""No fault hangs a distributed job: a job monitor, a progress watchdog, and a fault hook.

MXNet's parameter-server kvstore (ps-lite) ends cleanly only when every worker reaches its
exit handshake: once a peer is gone, the scheduler, the servers and any worker waiting on
it wait forever. Two mechanisms of our own end them, whatever dies and whenever:

* The **job monitor**. The scheduler process hosts a small TCP service beside ps-lite's own
  port (``DMLC_PS_ROOT_PORT + 1``, or ``TIEZOO_MONITOR_PORT``). Every server and worker
  holds one connection to it for its whole life: it says hello at start-up, names itself
  once it knows its rank, reports a failure in one line before it exits, and says ``done``
  once it has passed the exit handshake. A connection that closes without ``done`` is a
  process that died (killed, out of memory, machine gone). On the first failure the
  monitor tells every other process, each prints one line naming the role that failed and
  ends with :data:`EXIT_PEER_FAILED`; the scheduler ends too. When the scheduler dies, every
  connection closes, and the others end the same way. Processes that do not all arrive
  within ``--dist-timeout`` of the scheduler's start are a failed start.
* The **watchdog** (:class:`Watchdog`): a worker that makes no progress for
  ``--dist-timeout`` seconds (a peer alive but stuck, a network that drops packets) reports
  it and ends with :data:`EXIT_TIMEOUT`. It is armed from start-up to the exit handshake.

A server or scheduler spends its whole life inside ``import mxnet`` (MXNet turns the
process into a ps-lite loop at import), so every process joins the job from
``zoo/__init__.py`` before MXNet is imported (:func:`join_at_import`; a worker so also
joins before its slow imports); this module imports the standard library only. It acts
only for the pretraining program (a command line with ``--kvstore dist...``), never for
other programs that import ``zoo``.

Every exit path here is ``os._exit`` after writing one line straight to file descriptor 2:
nothing waits on a lock, a thread or a peer on the way out.

Test hook: ``TIEZOO_FAULT=ROLE[RANK]:PHASE[:error]`` makes the matching process kill itself
with SIGKILL (or, with ``:error``, raise an internal error) when it reaches ``PHASE``.
ROLE is ``worker``, ``server`` or ``scheduler``; RANK (workers only) narrows it to one
worker once the rank is known. Phases: ``startup`` (every role; before the kvstore exists,
so before a worker knows its rank), and for workers ``vocab`` (at the vocabulary barrier),
``train`` (after step 2), ``checkpoint`` (inside a step checkpoint, after this worker wrote
its data position), ``end`` (after the last step, before the final model is saved) and
``exit`` (everything saved, before the kvstore's exit handshake).

``TIEZOO_LAUNCHED=1`` (set by ``zoo launch``): the launcher reports a failed job in one
line, so the processes that stop because another one failed stay silent.
"""
import atexit
import json
import os
import signal
import socket
import sys
import threading
import time

__all__ = ["DEFAULT_DIST_TIMEOUT", "EXIT_ERROR", "EXIT_USAGE", "EXIT_TIMEOUT", "EXIT_PEER_FAILED",
           "JobMonitor", "JobLink", "Watchdog", "join_at_import", "job_link", "fail_now", "exit_now",
           "fault_point", "monitor_address", "is_distributed_command",
           "dist_timeout_from"]

DEFAULT_DIST_TIMEOUT = 600.0
EXIT_ERROR = 1          # an internal error in this process
EXIT_USAGE = 2          # a mistake in the command line or its inputs
EXIT_TIMEOUT = 3        # this process gave up waiting: no progress, no scheduler, no peers
EXIT_PEER_FAILED = 4    # another process of the job failed; this one stopped because of it

_RESTART = "start the job again once that is fixed (--resume continues from the newest checkpoint)"


def _flush_python_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001  (a closed or broken stream must not stop an exit)
            pass


def _write_line(line):
    """One line to stderr, straight to the file descriptor (after what Python buffered)."""
    _flush_python_streams()
    try:
        os.write(2, (line.rstrip("\n") + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def exit_now(status):
    """End this process with ``status`` once its output is flushed; nothing else runs (no
    atexit handler, no garbage collection that could start a kvstore handshake)."""
    _flush_python_streams()
    os._exit(status)


def fail_now(line, status, link=None, reason=None):
    """Print ``line``, tell the job monitor (``reason``: the line's message without its
    prefix), and end this process at once with ``status``."""
    _write_line(line)
    if link is not None:
        link.fail(reason or line)
    os._exit(status)


def _quiet():
    return os.environ.get("TIEZOO_LAUNCHED") == "1"


def _argv_option(argv, name):
    """The value of ``--name VALUE`` / ``--name=VALUE`` in ``argv`` (the last one), or None.
    Lenient on purpose: servers and the scheduler read the workers' command line before
    anything can parse it properly."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1:]
    return value


def is_distributed_command(argv):
    return (_argv_option(argv, "--kvstore") or "").startswith("dist")


def dist_timeout_from(argv):
    try:
        return float(_argv_option(argv, "--dist-timeout") or DEFAULT_DIST_TIMEOUT)
    except ValueError:
        return DEFAULT_DIST_TIMEOUT


def monitor_address(environ=None):
    """``(host, port)`` of the job monitor: the scheduler's address, the port after
    ps-lite's (``TIEZOO_MONITOR_PORT`` overrides it)."""
    env = os.environ if environ is None else environ
    host = env.get("DMLC_PS_ROOT_URI", "127.0.0.1")
    port = env.get("TIEZOO_MONITOR_PORT") or int(env.get("DMLC_PS_ROOT_PORT", "9091")) + 1
    return host, int(port)


def _send(sock, lock, message):
    data = (json.dumps(message) + "\n").encode("utf-8")
    with lock:
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False


class _Member:
    """One connected process, as the monitor sees it."""

    def __init__(self, sock):
        self.sock, self.lock = sock, threading.Lock()
        self.role, self.name, self.where = None, "a process", ""
        self.done = False

    @property
    def full_name(self):
        return f"{self.name} ({self.where})" if self.where else self.name


class JobMonitor:
    """The scheduler's side: knows every process of the job and stops them all on the first
    failure (see the module docstring)."""

    def __init__(self, *, num_workers, num_servers, timeout, port, host=""):
        self.num_workers, self.num_servers, self.timeout = num_workers, num_servers, timeout
        self.members = []
        self.lock = threading.Lock()
        self.failed = None      # why the job stopped, once it did
        self.arrived = threading.Condition(self.lock)
        self.all_done = threading.Event()
        self.started = time.monotonic()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(64)

    def start(self):
        threading.Thread(target=self._accept, name="job-monitor", daemon=True).start()
        threading.Thread(target=self._startup_deadline, name="job-monitor-start", daemon=True).start()
        # ps-lite lets the scheduler leave as soon as the exit handshake is over, possibly
        # before the workers' "done" reached this monitor: the workers would take the
        # closed connection for a dead scheduler. So the scheduler waits for them.
        atexit.register(self.all_done.wait, self.timeout)
        return self

    def _count(self, role):
        return sum(1 for m in self.members if m.role == role)

    def _everyone_arrived(self):
        return (self._count("worker") >= self.num_workers
                and self._count("server") >= self.num_servers)

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            member = _Member(sock)
            threading.Thread(target=self._serve, args=(member,), daemon=True).start()

    def _serve(self, member):
        try:
            for raw in member.sock.makefile("rb"):
                msg = json.loads(raw)
                if "hello" in msg:
                    hello = msg["hello"]
                    member.role, member.name = hello["role"], hello["name"]
                    member.where = f"pid {hello['pid']} on {hello['host']}"
                    with self.lock:
                        self.members.append(member)
                        self.arrived.notify_all()
                        late = self.failed
                    if late:  # the job stopped before this process arrived
                        _send(member.sock, member.lock, {"abort": late})
                        return
                elif "name" in msg:
                    member.name = msg["name"]
                elif "fail" in msg:
                    self._stop(f"{member.full_name} failed: {msg['fail']}", member)
                elif "done" in msg:
                    member.done = True
                    self._check_all_done()
        except (OSError, ValueError, KeyError):
            pass
        # (a connection that never said hello is no process of this job)
        if (member.role is not None and not member.done and not self.all_done.is_set()
                and not self.failed):
            self._stop(f"{member.full_name} died without a word (killed, out of memory, or "
                       f"its machine went down; see its log)", member)

    def _check_all_done(self):
        with self.lock:
            workers = [m for m in self.members if m.role == "worker"]
            if len(workers) >= self.num_workers and all(m.done for m in workers):
                self.all_done.set()

    def _startup_deadline(self):
        time.sleep(max(0.0, self.started + self.timeout - time.monotonic()))
        with self.lock:
            workers, servers = self._count("worker"), self._count("server")
        if not (self.failed or self.all_done.is_set()) and (
                workers < self.num_workers or servers < self.num_servers):
            why = (f"only {workers} of {self.num_workers} workers and {servers} of "
                   f"{self.num_servers} servers reached the scheduler within "
                   f"{self.timeout:g} s (--dist-timeout): start every role with the same "
                   f"command and DMLC_* settings")
            self._stop(why, None, detector=True)

    def _stop(self, why, culprit, detector=False):
        """Tell every other process why the job stops, print it here, end the scheduler:
        at once when every process had arrived, else once the rest arrived (each is told
        on arrival) or the start-up deadline passed."""
        with self.lock:
            if self.failed or self.all_done.is_set():
                return
            self.failed = why
            others = [m for m in self.members if m is not culprit]
        for m in others:
            _send(m.sock, m.lock, {"abort": why})
        if detector:
            _write_line(f"pretrain (scheduler): error: {why}")
        elif not _quiet():
            _write_line(f"pretrain (scheduler): error: stopping the job: {why}; {_RESTART}")
        with self.lock:
            self.arrived.wait_for(self._everyone_arrived,
                                  max(0.0, self.started + self.timeout - time.monotonic()))
        time.sleep(0.2)  # (the last arrival's abort on its way)
        os._exit(EXIT_TIMEOUT if detector else EXIT_PEER_FAILED)


class JobLink:
    """A server's or worker's connection to the job monitor (see the module docstring)."""

    def __init__(self, role, *, timeout, address=None):
        self.role, self.name, self.timeout = role, role, timeout
        self.address = address or monitor_address()
        self.sock, self.lock = None, threading.Lock()
        self.finished = False

    def connect(self):
        """Block until connected (or end this process after ``timeout`` seconds)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.sock = socket.create_connection(self.address, timeout=2.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    host, port = self.address
                    fail_now(f"pretrain ({self.name}): error: no scheduler answered at "
                             f"{host}:{port} within {self.timeout:g} s (--dist-timeout): start "
                             f"one (DMLC_ROLE=scheduler, same command) or check "
                             f"DMLC_PS_ROOT_URI and DMLC_PS_ROOT_PORT", EXIT_TIMEOUT)
                time.sleep(0.2)
        self.sock.settimeout(None)
        _send(self.sock, self.lock, {"hello": {"role": self.role, "name": self.name,
                                               "pid": os.getpid(), "host": socket.gethostname()}})
        threading.Thread(target=self._listen, name="job-link", daemon=True).start()
        return self

    def set_rank(self, rank):
        self.name = f"{self.role} {rank}"
        _send(self.sock, self.lock, {"name": self.name})

    def fail(self, reason):
        self.finished = True
        _send(self.sock, self.lock, {"fail": reason})

    def done(self):
        self.finished = True
        _send(self.sock, self.lock, {"done": True})

    def _listen(self):
        why = None
        try:
            for raw in self.sock.makefile("rb"):
                msg = json.loads(raw)
                if "abort" in msg:
                    why = msg["abort"]
                    break
        except (OSError, ValueError):
            pass
        if why is None:
            if self.finished:
                return
            host, port = self.address
            why = (f"the scheduler ({host}:{port}) is gone (killed, or its machine went down; "
                   f"see its log)")
        if not _quiet():
            _write_line(f"pretrain ({self.name}): error: stopping: {why}; {_RESTART}")
        os._exit(EXIT_PEER_FAILED)


class Watchdog:
    """End the process with a clear line when no progress is reported for ``timeout``
    seconds (0: off): a worker blocked on a stuck peer would otherwise wait forever."""

    def __init__(self, timeout, *, link=None, what="training"):
        self.timeout, self.link, self.what = timeout, link, what
        self._last = time.monotonic()
        self._stop = threading.Event()
        if timeout:
            threading.Thread(target=self._run, name="watchdog", daemon=True).start()

    def beat(self):
        self._last = time.monotonic()

    def stop(self):
        self._stop.set()

    def _run(self):
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            idle = time.monotonic() - self._last
            if idle > self.timeout:
                name = self.link.name if self.link is not None else self.what
                reason = (f"no progress for {idle:.0f} s (--dist-timeout {self.timeout:g}): a "
                          f"peer is stuck or unreachable; raise --dist-timeout if a phase "
                          f"legitimately takes longer (vocabulary training, evaluation, "
                          f"checkpoints)")
                fail_now(f"pretrain ({name}): error: {reason}", EXIT_TIMEOUT, self.link, reason)


_LINK = None


def join_at_import(argv=None, environ=None):
    """Every process of a distributed pretraining job, from ``zoo/__init__.py`` before MXNet
    is imported: the scheduler starts the job monitor, a server or worker joins it (blocking
    until the scheduler answers, or ending the process after --dist-timeout). Anything else:
    a no-op. Returns the monitor or link (see :func:`job_link`)."""
    global _LINK
    env = os.environ if environ is None else environ
    argv = sys.argv[1:] if argv is None else argv
    role = env.get("DMLC_ROLE")
    if role not in ("scheduler", "server", "worker") or not is_distributed_command(argv):
        return None
    timeout = dist_timeout_from(argv)
    host, port = monitor_address(env)
    if role == "scheduler":
        try:
            guard = JobMonitor(num_workers=int(env.get("DMLC_NUM_WORKER", "1")),
                               num_servers=int(env.get("DMLC_NUM_SERVER", "1")),
                               timeout=timeout, port=port).start()
        except OSError as e:
            fail_now(f"pretrain (scheduler): error: cannot open the job monitor's port {port} "
                     f"({e.strerror or e}); is another job using DMLC_PS_ROOT_PORT "
                     f"{port - 1}? choose a free pair of ports (or set TIEZOO_MONITOR_PORT)",
                     EXIT_USAGE)
    else:
        guard = _LINK = JobLink(role, timeout=timeout, address=(host, port)).connect()
    if role == "server":
        # A server leaves through sys.exit() once its ps-lite loop is over; an uncaught
        # exception (sys.last_value) is no clean end.
        atexit.register(lambda: getattr(sys, "last_value", None) is None and guard.done())
    fault_point("startup", role=role)
    return guard


def job_link(argv, environ=None):
    """This worker's :class:`JobLink` when it is a worker of a distributed pretraining job
    (joined at import, or now), else None."""
    env = os.environ if environ is None else environ
    if _LINK is None and env.get("DMLC_ROLE") == "worker" and is_distributed_command(argv):
        join_at_import(argv, env)
    return _LINK if env.get("DMLC_ROLE") == "worker" else None


def fault_point(phase, *, role="worker", rank=None):
    """The test hook (see the module docstring): act when ``TIEZOO_FAULT`` names this
    process and ``phase``."""
    spec = os.environ.get("TIEZOO_FAULT")
    if not spec:
        return
    who, _, rest = spec.partition(":")
    at, _, kind = rest.partition(":")
    if at != phase or not who.startswith(role):
        return
    want_rank = who[len(role):]
    if want_rank and (rank is None or int(want_rank) != rank):
        return
    if kind == "error":
        raise RuntimeError(f"injected fault at {phase} (TIEZOO_FAULT={spec})")
    _write_line(f"[fault] TIEZOO_FAULT={spec}: killing {role}{'' if rank is None else ' ' + str(rank)} "
                f"(pid {os.getpid()}) at {phase}")
    os.kill(os.getpid(), signal.SIGKILL)
