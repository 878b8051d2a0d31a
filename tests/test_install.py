"""``pip install .`` gives a package that works without the checkout: the ``zoo`` command
with its programs (pretrain, finetune, predict), run from another folder, and an import that
never writes into the installed package (the native LayerNorm builds into a per-user cache).

The package is installed with ``--target`` into a temporary folder (its dependencies are
this environment's), so nothing outside the test's folder changes.
"""
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow       # a wheel build, a compile and a short pretraining run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _listing(folder):
    out = {}
    for base, _dirs, files in os.walk(folder):
        if "__pycache__" in base:
            continue
        for name in files:
            path = os.path.join(base, name)
            out[os.path.relpath(path, folder)] = os.path.getmtime(path)
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    site = tmp / "site"
    # a copy of the checkout's tracked files: the build writes build/ and *.egg-info beside
    # setup.py, which must not land in the checkout
    source = tmp / "source"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if name.startswith(("zoo/", "heads/", "checkpoints/")) or name in ("setup.py",
                                                                          "README.md"):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), source / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-compile", "--quiet", "--target", str(site), str(source)],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, site


def _run(tmp, site, *argv, **extra_env):
    env = dict(os.environ, PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp / "cache"),
               PYTHONDONTWRITEBYTECODE="1", **extra_env)
    env.pop("TIEZOO_NATIVE_DIR", None)
    work = tmp / "elsewhere"
    work.mkdir(exist_ok=True)
    return subprocess.run(list(argv), cwd=str(work), env=env, capture_output=True, text=True,
                          timeout=300)


def test_installed_package_is_complete_and_imports_from_site(installed):
    tmp, site = installed
    for pkg in ("zoo/models/bert", "zoo/convert", "zoo/cli", "checkpoints/formats", "heads"):
        assert (site / pkg / "__init__.py").is_file(), pkg
    assert (site / "zoo" / "native" / "layer_norm.cc").is_file()
    before = _listing(site)
    proc = _run(tmp, site, sys.executable, "-c",
                "import zoo, zoo._native as n; print(zoo.__file__); print(n.STATUS)")
    assert proc.returncode == 0, proc.stderr
    where, status = proc.stdout.strip().splitlines()[-2:]
    assert where == str(site / "zoo" / "__init__.py")
    assert status.startswith(f"loaded {tmp / 'cache' / 'tiezoo' / 'native'}"), status
    assert _listing(site) == before                  # importing wrote nothing into the package


def test_zoo_command_and_its_programs_run_without_a_checkout(installed):
    tmp, site = installed
    zoo_bin = site / "bin" / "zoo"
    assert zoo_bin.is_file()
    listed = _run(tmp, site, str(zoo_bin), "list")
    assert listed.returncode == 0, listed.stderr
    assert "bert_base" in listed.stdout
    for program in ("pretrain", "finetune", "predict"):
        proc = _run(tmp, site, str(zoo_bin), program, "--help")
        assert proc.returncode == 0, (program, proc.stderr[-2000:])
        assert "usage:" in proc.stdout


def test_installed_pretraining_runs_end_to_end(installed):
    tmp, site = installed
    corpus = tmp / "corpus.txt"
    sentences = [f"The {w} function returns the value of the {v} argument."
                 for w in ("first", "second", "third", "last", "next", "other")
                 for v in ("given", "named", "default", "keyword")]
    corpus.write_text("\n\n".join("\n".join(sentences[i:i + 4])
                                  for i in range(0, len(sentences), 4)) + "\n")
    out = tmp / "run"
    proc = _run(tmp, site, str(site / "bin" / "zoo"), "pretrain", "--model", "bert_test",
                "--corpus", str(corpus), "--vocab-size", "60", "--max-steps", "3",
                "--batch-size", "4", "--max-seq-length", "32", "--output", str(out),
                "--no-progress", "--override", "max_length=32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "model.params").is_file() and (out / "metrics.jsonl").is_file()
