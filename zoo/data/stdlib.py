"""A real-English corpus available offline, and a labelled task from it: the Python standard
library's docstrings. Used by the demo, the tests and the benchmarks (nothing is downloaded).

    stdlib_corpus("corpus.txt")            # one sentence per line, a blank line between docs
    stdlib_topic_task("task_dir")          # train.tsv / dev.tsv: which package a sentence documents
"""
import ast
import inspect as _inspect
import os
import re
import sys
import sysconfig

import numpy as np

from checkpoints.atomic import atomic_open

from .text import DataError

__all__ = ["stdlib_corpus", "stdlib_topic_task", "STDLIB_TOPICS"]


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_CODE_LINE = re.compile(r"^\s*(>>>|\.\.\.|\$ |[-=~^*]{3,}$|[{}\[\]]|\w+\s*=\s*\S)")


def _doc_sentences(doc):
    sentences = []
    for para in re.split(r"\n\s*\n", _inspect.cleandoc(doc)):
        lines = para.split("\n")
        if any(_CODE_LINE.match(x) for x in lines) or any(x.startswith("    ") for x in lines):
            continue
        text = " ".join(x.strip() for x in lines).strip()
        if not text:
            continue
        for s in _SENT_SPLIT.split(text):
            s = s.strip()
            if len(s) >= 12 and sum(c.isalpha() for c in s) >= len(s) // 2:
                sentences.append(s)
    return sentences


def _stdlib_documents():
    """Yield ``(module name, sentences)`` for every docstring of the standard library, in a
    fixed order; each distinct docstring once. Sources are parsed with ``ast``."""
    root = sysconfig.get_paths()["stdlib"]
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in ("site-packages", "dist-packages", "__pycache__", "test", "tests",
                                           "idle_test")
                             and not d.startswith("."))
        files.extend(os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))
    seen = set()
    for path in files:
        try:
            with open(path, "rb") as f:
                tree = ast.parse(f.read(), filename=path)
        except (SyntaxError, ValueError, OSError, RecursionError):
            continue
        module = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                     ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node, clean=False)
            if not doc or doc in seen:
                continue
            seen.add(doc)
            sents = _doc_sentences(doc)
            if sents:
                yield module, sents


def stdlib_corpus(out_path, max_bytes=8 << 20):
    """Write the Python standard library's docstrings (module, class, function) as a corpus:
    one sentence per line, a blank line between documents (one docstring = one document),
    deterministic for a given Python installation. Sources are parsed with ``ast`` (nothing is
    imported); site-packages is skipped. Returns ``{"documents", "sentences", "bytes"}``."""
    n_docs, n_sent, size = 0, 0, 0
    # not fsync'ed: a lost file is rebuilt from the installation in seconds
    with atomic_open(out_path, "wb", durable=False) as out:
        for _module, sents in _stdlib_documents():
            data = ("\n".join(sents) + "\n\n").encode("utf-8")
            if size + len(data) > max_bytes:
                break
            out.write(data)
            n_docs, n_sent, size = n_docs + 1, n_sent + len(sents), size + len(data)
    return {"documents": n_docs, "sentences": n_sent, "bytes": size, "python": sys.version.split()[0]}


# Topics of the labelled demo task: standard-library packages with plenty of prose.
STDLIB_TOPICS = ("asyncio", "email", "tkinter", "unittest")


def stdlib_topic_task(out_dir, *, topics=STDLIB_TOPICS, dev_fraction=0.2, max_per_topic=1500,
                      seed=0):
    """A sentence classification task with a real signal, from the same docstrings: which
    standard-library package (``topics``) a sentence documents. Writes ``train.tsv`` and
    ``dev.tsv`` (header ``sentence<TAB>label``) under ``out_dir``; whole docstrings go to one
    side so no document is split across train and dev. Balanced: at most ``max_per_topic``
    sentences per topic. Returns ``{"train": n, "dev": n, "labels": [...]}``."""
    rng = np.random.RandomState(seed)
    docs = {t: [] for t in topics}
    for module, sents in _stdlib_documents():
        top = module.split(".")[0]
        if top in docs:
            docs[top].append([" ".join(s.split()) for s in sents])  # no tabs or newlines
    rows = {"train": [], "dev": []}
    for topic, doc_list in docs.items():
        if not doc_list:
            raise DataError(f"no docstrings found for standard-library package {topic!r}")
        order = rng.permutation(len(doc_list))
        taken = 0
        for rank, i in enumerate(order):
            split = "dev" if rank % int(round(1 / dev_fraction)) == 0 else "train"
            for sent in doc_list[i]:
                if taken >= max_per_topic:
                    break
                rows[split].append((sent, topic))
                taken += 1
    os.makedirs(out_dir, exist_ok=True)
    for split, items in rows.items():
        rng.shuffle(items)
        with atomic_open(os.path.join(out_dir, f"{split}.tsv"), durable=False) as f:
            f.write("sentence\tlabel\n")
            f.writelines(f"{s}\t{t}\n" for s, t in items)
    return {"train": len(rows["train"]), "dev": len(rows["dev"]), "labels": list(topics)}
