"""Every family's pretraining recipe learns on real text: the masked-LM loss of RoBERTa,
ALBERT and ELECTRA (BERT's is in tests/test_pretrain.py) falls well below its start on the
standard library's docstrings, through the pretraining program and its family recipe."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["roberta_tiny", "albert_tiny", "electra_tiny"])
def test_family_recipe_learns(tmp_path, text_corpus, wordpiece_vocab, preset):
    out = tmp_path / preset
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "pretrain.py"), "--model", preset,
         "--corpus", str(text_corpus), "--vocab", str(wordpiece_vocab), "--output", str(out),
         "--max-seq-length", "64", "--batch-size", "16", "--max-steps", "150", "--lr", "2e-3",
         "--warmup-steps", "10", "--log-every", "10", "--no-progress", "--seed", "1"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "metrics.jsonl") as f:
        rows = [json.loads(line) for line in f if '"train"' in line]
    first, last = rows[0]["mlm_loss"], np.mean([r["mlm_loss"] for r in rows[-3:]])
    assert first > 6.0                     # about ln(1000): an untrained model guesses
    assert last < first - 0.8, (first, last)          # perplexity more than halved
    assert rows[-1]["mlm_acc"] > rows[0]["mlm_acc"]
