"""Test helpers for causal language models: a GPT-2-style byte-level BPE vocabulary (no
special tokens but ``<|endoftext|>``) trained with the ``tokenizers`` package on a corpus."""
import os

__all__ = ["write_gpt2_style_bpe", "EOS"]

EOS = "<|endoftext|>"


def write_gpt2_style_bpe(folder, corpus, vocab_size=400):
    """Train a byte-level BPE on the text file ``corpus`` and save vocab.json + merges.txt
    in ``folder``; ``<|endoftext|>`` is its one special token. Returns the folder."""
    from tokenizers import ByteLevelBPETokenizer
    os.makedirs(folder, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train([str(corpus)], vocab_size=vocab_size, min_frequency=2, show_progress=False,
              special_tokens=[EOS])
    bpe.save_model(str(folder))
    return folder
