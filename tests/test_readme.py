"""The README runs as written: its examples, in order, in one empty folder.

Every ```python block runs as a script, and every ```console block's commands (the lines
after ``$ ``, with ``\\`` continuations) run in bash, with the environment's ``zoo`` and
``python`` first on PATH, as after ``source .venv/bin/activate``. Files one example writes
are there for the next, as for a reader who follows the README from the top. A block that
must not run here (the two long commands that set up and test everything, for instance)
says why in an HTML comment just above it: ``<!-- not run by the suite: REASON -->``.
Outputs are not compared (timings and random draws differ); every command must succeed.
"""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
SKIP = "not run by the suite:"
_FENCE = re.compile(r"(?:<!--(?P<note>[^>]*)-->\s*\n)?```(?P<lang>python|console)\n(?P<body>.*?)```",
                    re.S)


def readme_examples(text):
    """``[(line, kind, code)]`` of the runnable examples, in order; kind is "python" or
    "console" (code: the commands, one per string)."""
    out = []
    for m in _FENCE.finditer(text):
        if m.group("note") and SKIP in m.group("note"):
            continue
        line = text.count("\n", 0, m.start("body")) + 1
        body = m.group("body")
        if m.group("lang") == "python":
            out.append((line, "python", body))
            continue
        commands, current = [], None
        for row in body.splitlines():
            if current is not None:
                current += "\n" + row
            elif row.startswith("$ "):
                current = row[2:]
            else:
                continue                      # output shown in the README
            if not current.endswith("\\"):
                commands.append(current)
                current = None
        out.extend((line, "console", c) for c in commands)
    return out


def test_examples_are_found():
    with open(README, encoding="utf-8") as f:
        examples = readme_examples(f.read())
    kinds = {kind for _, kind, _ in examples}
    assert kinds == {"python", "console"} and len(examples) >= 10


@pytest.mark.slow
def test_readme_runs_as_written(tmp_path):
    with open(README, encoding="utf-8") as f:
        examples = readme_examples(f.read())
    bindir = tmp_path / "bin"                   # `python` and `zoo` as in an activated venv
    bindir.mkdir()
    (bindir / "python").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    (bindir / "python").chmod(0o755)
    (bindir / "zoo").write_text(f"#!/bin/sh\nexec {sys.executable} -m zoo \"$@\"\n")
    (bindir / "zoo").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=ROOT, MPLBACKEND="Agg", TQDM_DISABLE="1")
    for line, kind, code in examples:
        if kind == "python":
            cmd = [sys.executable, "-c", code]
        else:
            cmd = ["bash", "-c", "set -o pipefail\n" + code]
        proc = subprocess.run(cmd, cwd=str(work), env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, (f"README.md line {line}: {code}\n--- exit status "
                                      f"{proc.returncode}\n{proc.stdout[-2000:]}\n"
                                      f"{proc.stderr[-3000:]}")
