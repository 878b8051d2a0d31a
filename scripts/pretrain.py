#!/usr/bin/env python
"""Pretraining from a source checkout: the same program as ``zoo pretrain`` (see
``zoo/cli/pretrain.py`` for the options and what it writes)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo.cli.pretrain import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
