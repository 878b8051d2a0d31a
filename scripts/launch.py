#!/usr/bin/env python
"""Start a distributed (parameter-server) job with the tracker that ships in the mxnet wheel.

A thin front end to ``dmlc_tracker`` (what ``mxnet/tools/launch.py`` drives) that also takes
``--host-ip``: the wheel's ``launch.py`` derives the scheduler address from the host name,
which on a single machine is often not reachable (use ``--host-ip 127.0.0.1``), and its
tracker calls ``Thread.isAlive``, which Python 3.9 removed (patched here).

    # one machine, 2 workers + 1 server over loopback
    python scripts/launch.py -n 2 -s 1 --launcher local --host-ip 127.0.0.1 -- \\
        python scripts/pretrain.py --kvstore dist_sync ...
    # a cluster over ssh (hosts file: one host per line; shared --output directory)
    python scripts/launch.py -n 8 -s 8 --launcher ssh -H hosts -- python scripts/pretrain.py ...
    # SLURM / SGE / YARN / MPI: --launcher slurm|sge|yarn|mpi

Every process runs the same command; ``DMLC_ROLE`` tells it whether it is a worker, a server
or the scheduler (MXNet turns servers and the scheduler into parameter-server loops at import).
"""
import argparse
import logging
import os
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--num-workers", type=int, required=True)
    ap.add_argument("-s", "--num-servers", type=int, help="default: as many as workers")
    ap.add_argument("--launcher", default="local", choices=["local", "ssh", "mpi", "sge", "yarn", "slurm"])
    ap.add_argument("-H", "--hostfile", help="hosts, one per line (ssh, mpi)")
    ap.add_argument("--host-ip", default=None, help="address of the scheduler (default: from the host name)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for every process")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="the program every process runs")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to run after --")
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO)
    import threading
    if not hasattr(threading.Thread, "isAlive"):
        # The tracker in the mxnet 1.9.1 wheel predates Python 3.9, which removed isAlive.
        threading.Thread.isAlive = threading.Thread.is_alive
    from dmlc_tracker import opts
    dmlc = ["--num-workers", str(args.num_workers),
            "--num-servers", str(args.num_servers if args.num_servers is not None else args.num_workers),
            "--cluster", args.launcher]
    if args.hostfile:
        dmlc += ["--host-file", args.hostfile]
    if args.host_ip:
        dmlc += ["--host-ip", args.host_ip]
    for e in args.env:
        dmlc += ["--env", e]
    parsed = opts.get_opts(dmlc + command)
    if args.host_ip and args.host_ip.startswith("127."):
        os.environ.setdefault("DMLC_INTERFACE", "lo")  # ps-lite binds to this interface
    if args.launcher == "local" and args.host_ip:
        _submit_local(parsed, args.host_ip)
    else:
        module = __import__(f"dmlc_tracker.{args.launcher}", fromlist=["submit"])
        module.submit(parsed)


def _submit_local(parsed, host_ip):
    """dmlc_tracker.local.submit, but with the scheduler on ``host_ip``: the tracker's own
    local launcher always takes the address from the host name."""
    from threading import Thread

    from dmlc_tracker import local, tracker

    def start(nworker, nserver, envs):
        for i in range(nworker + nserver):
            role = "worker" if i < nworker else "server"
            t = Thread(target=local.exec_cmd, args=(parsed.command, parsed.local_num_attempt, role, i, envs),
                       daemon=True)
            t.start()

    tracker.submit(parsed.num_workers, parsed.num_servers, fun_submit=start,
                   pscmd=" ".join(parsed.command), hostIP=host_ip)


if __name__ == "__main__":
    sys.exit(main())
