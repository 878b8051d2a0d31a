"""Shared fixtures: a small real-English corpus (Python standard library docstrings, built
at run time; nothing is downloaded or copied into the repo) and a vocabulary trained on it."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(scope="session")
def text_corpus(tmp_path_factory):
    from zoo.data import stdlib_corpus
    path = tmp_path_factory.mktemp("corpus") / "stdlib.txt"
    stdlib_corpus(str(path), max_bytes=400_000)
    return path


@pytest.fixture(scope="session")
def wordpiece_vocab(tmp_path_factory, text_corpus):
    from zoo.tokenizers import build_vocab
    out = tmp_path_factory.mktemp("vocab")
    build_vocab("wordpiece", 1000, [str(text_corpus)], str(out))
    return out
