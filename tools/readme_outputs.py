#!/usr/bin/env python
"""Run the README's examples in order in an empty folder and write their real output back
into README.md, so that what the README shows is what the commands print.

    .venv/bin/python tools/readme_outputs.py [--keep DIR]

Runs exactly what tests/test_readme.py runs (same parsing, same environment). Each
```console block's commands are followed by their output (stdout and stderr, as a terminal
shows them); a comment just above a block can trim it: ``<!-- output: tail N -->`` keeps
each command's last N lines, ``<!-- output: head N -->`` the first N, ``<!-- output: none
-->`` none. Blocks marked ``<!-- not run by the suite: ... -->`` are left as they are.
A failing command stops the run and leaves README.md unchanged.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from test_readme import README, SKIP, _FENCE  # noqa: E402


def _environment(tmp):
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir)
    with open(os.path.join(bindir, "python"), "w") as f:   # a symlink would lose the venv
        f.write(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    os.chmod(os.path.join(bindir, "python"), 0o755)
    with open(os.path.join(bindir, "zoo"), "w") as f:
        f.write(f"#!/bin/sh\nexec {sys.executable} -m zoo \"$@\"\n")
    os.chmod(os.path.join(bindir, "zoo"), 0o755)
    return dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=ROOT,
                MPLBACKEND="Agg", TQDM_DISABLE="1")


def _trim(output, note):
    lines = output.rstrip("\n").splitlines()
    m = re.search(r"output:\s*(head|tail|none)\s*(\d*)", note or "")
    if m:
        if m.group(1) == "none":
            return []
        n = int(m.group(2))
        lines = lines[:n] if m.group(1) == "head" else lines[-n:]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="run in this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    with open(README, encoding="utf-8") as f:
        text = f.read()
    tmp = tempfile.mkdtemp(prefix="readme-")
    work = args.keep or os.path.join(tmp, "work")
    os.makedirs(work, exist_ok=True)
    env = _environment(tmp)
    pieces, last = [], 0
    try:
        for m in _FENCE.finditer(text):
            note = m.group("note") or ""
            if SKIP in note:
                continue
            body = m.group("body")
            if m.group("lang") == "python":
                proc = subprocess.run([sys.executable, "-c", body], cwd=work, env=env,
                                      capture_output=True, text=True)
                if proc.returncode:
                    raise SystemExit(f"README python block failed:\n{body}\n{proc.stderr}")
                continue
            rows, commands, current = [], [], None
            for row in body.splitlines():
                if current is not None:
                    current += "\n" + row
                elif row.startswith("$ "):
                    current = row[2:]
                else:
                    continue
                if not current.endswith("\\"):
                    commands.append(current)
                    current = None
            for command in commands:
                print(f"$ {command}", file=sys.stderr, flush=True)
                proc = subprocess.run(["bash", "-c", "set -o pipefail\n" + command], cwd=work,
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True)
                if proc.returncode:
                    raise SystemExit(f"README command failed ({proc.returncode}): {command}\n"
                                     f"{proc.stdout[-3000:]}")
                rows.append("$ " + command)
                # paths inside the example folder read as the reader's own, relative ones
                shown = proc.stdout.replace(os.path.realpath(work) + os.sep, "")
                shown = shown.replace(work + os.sep, "").replace(tmp + os.sep, "")
                rows.extend(_trim(shown, note))
            pieces.append(text[last:m.start("body")])
            pieces.append("\n".join(rows) + "\n")
            last = m.end("body")
        pieces.append(text[last:])
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    new = "".join(pieces)
    from checkpoints.atomic import atomic_write
    atomic_write(README, new)
    print("README.md: outputs of every example rewritten", file=sys.stderr)


if __name__ == "__main__":
    main()
