#!/usr/bin/env python
"""Prediction from a source checkout: the same program as ``zoo predict``
(``python scripts/predict.py --model runs/sst/model.params --input test.tsv --output preds.jsonl``)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo.cli.finetune import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
