#!/usr/bin/env python
"""Predict with a checkpoint written by scripts/finetune.py (same as ``finetune.py predict``):

    python scripts/predict.py --model runs/sst/model.params --input test.tsv --output preds.jsonl
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from finetune import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
