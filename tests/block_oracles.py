"""A pytest plugin that hides the optional test oracles (torch, transformers), as on a
machine without them: ``pytest -p block_oracles``. Used by tests/test_oracles_optional.py."""
import sys

for _name in ("torch", "transformers"):
    sys.modules[_name] = None          # "import torch" now raises ImportError
