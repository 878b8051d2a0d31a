#!/usr/bin/env python
"""Start a distributed job from a source checkout: the same program as ``zoo launch`` (see
``zoo/cli/launch.py`` for the options and how it makes sure the whole job ends)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo.cli.launch import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
