#!/usr/bin/env python
"""Finetuning from a source checkout: the same program as ``zoo finetune`` (see
``zoo/cli/finetune.py`` for the tasks, data formats and what it writes)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo.cli.finetune import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
