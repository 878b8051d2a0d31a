"""``zoo launch``: start a distributed (parameter-server) job, and make sure all of it ends.

    # one machine: 2 workers + 1 server (+ the scheduler) over loopback
    zoo launch -n 2 -s 1 -- python scripts/pretrain.py --kvstore dist_sync ...
    # a cluster over ssh (hosts file: one host per line; a shared --output folder)
    zoo launch -n 8 -s 8 --launcher ssh -H hosts -- python scripts/pretrain.py ...
    # SLURM / SGE / YARN / MPI: --launcher slurm|sge|yarn|mpi

Every process runs the same command; ``DMLC_ROLE`` tells it whether it is a worker, a
server or the scheduler (MXNet turns servers and the scheduler into ps-lite loops at import).

``--launcher local`` (the default) starts the processes itself, each in a process group of
its own, and watches them. Their output passes through whole lines at a time (an error
line that several processes print alike, as every worker finds the same mistake, is shown
once). When one fails, the others stop by themselves through the job monitor
(``zoo/distributed.py``), quietly, since this launcher says in one line which process
failed; whatever still runs ``--grace`` seconds later is killed with its process group, and
so is everything on Ctrl-C. Exit status: 0 when every process ended well, else that of the
process that failed first (2: a mistake in the command line or its inputs).

The other launchers hand the job to the tracker in the mxnet wheel (``dmlc_tracker``);
their processes still end one another through the job monitor.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

__all__ = ["main", "parse_args", "free_port_pair"]

EXIT_PEER_FAILED = 4  # zoo.distributed.EXIT_PEER_FAILED (not imported: it would load MXNet)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(f"{message} (see --help)")


class _UsageError(Exception):
    pass


def parse_args(argv=None):
    ap = _Parser(prog="zoo launch", description=__doc__,
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--num-workers", type=int, required=True)
    ap.add_argument("-s", "--num-servers", type=int, help="default: as many as workers")
    ap.add_argument("--launcher", default="local", choices=["local", "ssh", "mpi", "sge", "yarn", "slurm"])
    ap.add_argument("-H", "--hostfile", help="hosts, one per line (ssh, mpi)")
    ap.add_argument("--host-ip", default=None, help="address of the scheduler (local default: "
                    "127.0.0.1; others: from the host name)")
    ap.add_argument("--port", type=int, help="the scheduler's port (local default: a free one; "
                    "the job monitor takes the next one)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for every process (repeatable)")
    ap.add_argument("--grace", type=float, default=5.0,
                    help="local: seconds the other processes get to end by themselves after "
                         "one failed, before they are killed (default: %(default)g)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the program every process runs")
    args = ap.parse_args(argv)
    args.command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.command:
        ap.error("give the command to run after --")
    if args.num_workers < 1:
        ap.error("-n/--num-workers must be at least 1")
    if args.num_servers is None:
        args.num_servers = args.num_workers
    for item in args.env:
        if "=" not in item:
            ap.error(f"--env {item!r}: expected NAME=VALUE")
    return args


def main(argv=None):
    try:
        args = parse_args(argv)
        if args.launcher == "local":
            return _launch_local(args)
        return _launch_tracker(args)
    except _UsageError as e:
        print(f"launch: error: {e}", file=sys.stderr, flush=True)
        return 2


def free_port_pair(host=""):
    """A port ``p`` such that ``p`` (ps-lite's scheduler) and ``p + 1`` (the job monitor)
    are both free."""
    for _ in range(100):
        with socket.socket() as a:
            a.bind((host, 0))
            port = a.getsockname()[1]
            try:
                with socket.socket() as b:
                    b.bind((host, port + 1))
                    return port
            except OSError:
                continue
    raise OSError("no free pair of ports")


class _Child:
    def __init__(self, role, index, proc):
        self.role, self.index, self.proc = role, index, proc
        self.status = None      # exit status once ended (negative: killed by that signal)
        self.killed = False     # ended by this launcher

    @property
    def label(self):
        return f"the {self.role}" if self.role == "scheduler" else f"a {self.role} (pid {self.proc.pid})"


class _Output:
    """The children's output, passed through whole lines at a time so that processes do not
    cut into each other's lines; an error line already shown for another process is
    dropped. A progress bar's carriage-return updates go out as they come."""

    def __init__(self):
        self.lock = threading.Lock()
        self.errors_seen = set()
        self.mid_line = set()   # streams whose last write did not end a line (a progress bar)

    def pump(self, src, dst):
        rest = b""
        while True:
            try:
                chunk = os.read(src.fileno(), 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            *lines, rest = (rest + chunk).split(b"\n")
            out = []
            for line in lines:
                if b"error:" in line:
                    with self.lock:
                        if line.strip() in self.errors_seen:
                            continue
                        self.errors_seen.add(line.strip())
                out.append(line + b"\n")
            cut = rest.rfind(b"\r")
            if cut >= 0:
                out.append(rest[:cut + 1])
                rest = rest[cut + 1:]
            self._write(dst, b"".join(out))
        self._write(dst, rest)

    def _write(self, dst, data):
        if data:
            with self.lock:
                try:
                    dst.write(data)
                    dst.flush()
                except (OSError, ValueError):
                    pass
                (self.mid_line.discard if data.endswith(b"\n") else self.mid_line.add)(dst)

    def say(self, line):
        """A line of the launcher's own, on a line of its own."""
        self._write(sys.stderr.buffer, (b"\n" if sys.stderr.buffer in self.mid_line else b"")
                    + f"launch: {line}\n".encode())


def _launch_local(args):
    host = args.host_ip or "127.0.0.1"
    try:
        port = args.port or free_port_pair()
    except OSError as e:
        raise _UsageError(f"cannot find a free port pair ({e}); give --port") from None
    env = dict(os.environ, DMLC_PS_ROOT_URI=host, DMLC_PS_ROOT_PORT=str(port),
               DMLC_NUM_WORKER=str(args.num_workers), DMLC_NUM_SERVER=str(args.num_servers),
               TIEZOO_LAUNCHED="1")
    if host.startswith("127."):
        env.setdefault("DMLC_INTERFACE", "lo")  # ps-lite binds to this interface
    env.update(item.split("=", 1) for item in args.env)
    roles = (["scheduler"] + ["server"] * args.num_servers + ["worker"] * args.num_workers)
    output, children, pumps = _Output(), [], []
    stop = _StopRequest()
    try:
        for i, role in enumerate(roles):
            try:
                proc = subprocess.Popen(args.command, env=dict(env, DMLC_ROLE=role),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        start_new_session=True)
            except OSError as e:
                raise _UsageError(f"cannot run {args.command[0]!r}: {e.strerror or e}") from None
            children.append(_Child(role, i, proc))
            for src, dst in ((proc.stdout, sys.stdout.buffer), (proc.stderr, sys.stderr.buffer)):
                t = threading.Thread(target=output.pump, args=(src, dst), daemon=True)
                t.start()
                pumps.append(t)
        status, summary = _supervise(children, args.grace, stop)
    finally:
        _kill_all(children)   # (no-op for processes that ended; pipes close with them)
        stop.restore()
    for t in pumps:
        t.join(timeout=2.0)   # a grandchild holding a pipe open must not hold us
    if summary:
        output.say(summary)
    return status


class _StopRequest:
    """Ctrl-C or SIGTERM to the launcher: noted, acted on by the supervision loop (which
    ends every process of the job)."""

    def __init__(self):
        self.signum = None
        self.previous = {s: signal.signal(s, self._note) for s in (signal.SIGINT, signal.SIGTERM)}

    def _note(self, signum, _frame):
        self.signum = signum

    def restore(self):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def _supervise(children, grace, stop):
    """Wait for the job; -> (exit status, one summary line or None)."""
    failures, deadline = [], None   # in the order seen
    while True:
        now = time.monotonic()
        for c in children:
            if c.status is None and c.proc.poll() is not None:
                c.status = c.proc.returncode
                if c.status != 0 and not c.killed:
                    failures.append(c)
                    if deadline is None:
                        deadline = now + grace
        workers = [c for c in children if c.role == "worker"]
        if deadline is None and all(c.status == 0 for c in workers):
            deadline = now + grace   # the work is done: servers and scheduler follow
        alive = [c for c in children if c.status is None]
        if not alive:
            break
        if stop.signum is not None or (deadline is not None and now > deadline):
            for c in alive:
                c.killed = True
                _kill_group(c.proc.pid, signal.SIGKILL)
            for c in alive:
                c.proc.wait()
            continue
        time.sleep(0.05)
    killed = sum(c.killed for c in children)
    if stop.signum is not None:
        name = signal.Signals(stop.signum).name
        return 128 + stop.signum, f"stopped by {name}: ended all {len(children)} processes of the job"
    # The cause, not the processes it stopped (which may be seen ending first).
    first_failure = min(failures, key=lambda c: c.status == EXIT_PEER_FAILED, default=None)
    if first_failure is None:
        note = (f"the workers finished; ended {killed} process(es) that did not exit by "
                f"themselves within {grace:g} s" if killed else None)
        return 0, note
    c = first_failure
    how = (f"exited with status {c.status}" if c.status > 0
           else f"was killed by {signal.Signals(-c.status).name}")
    others = len(children) - 1
    forced = f", {killed} of them killed after {grace:g} s" if killed else ""
    status = c.status if c.status > 0 else 128 - c.status
    hint = "; its error is above" if c.status in (1, 2, 3) else ""
    return status, (f"{c.label} {how}{hint}; the job's other {others} processes ended{forced}")


def _kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_all(children):
    for c in children:
        if c.proc.poll() is None:
            c.killed = True
            _kill_group(c.proc.pid, signal.SIGKILL)
            c.proc.wait()


def _launch_tracker(args):
    """Hand the job to ``dmlc_tracker`` (ssh, mpi, sge, yarn, slurm)."""
    import logging
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    if not hasattr(threading.Thread, "isAlive"):
        # The tracker in the mxnet 1.9.1 wheel predates Python 3.9, which removed isAlive.
        threading.Thread.isAlive = threading.Thread.is_alive
    from dmlc_tracker import opts
    dmlc = ["--num-workers", str(args.num_workers), "--num-servers", str(args.num_servers),
            "--cluster", args.launcher]
    if args.hostfile:
        dmlc += ["--host-file", args.hostfile]
    if args.host_ip:
        dmlc += ["--host-ip", args.host_ip]
    for e in args.env:
        dmlc += ["--env", e]
    parsed = opts.get_opts(dmlc + args.command)
    module = __import__(f"dmlc_tracker.{args.launcher}", fromlist=["submit"])
    module.submit(parsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
