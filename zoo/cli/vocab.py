"""``zoo build-vocab``: train a WordPiece, SentencePiece or byte-level BPE vocabulary.

    zoo build-vocab --kind wordpiece --size 30522 corpus/*.txt -o vocab_dir
    zoo build-vocab --kind sentencepiece --size 30000 --cased a.txt b.txt.gz -o spm_dir
    zoo build-vocab --kind sentencepiece --layout t5 --size 32100 corpus.txt -o t5_dir
    zoo build-vocab --kind byte_bpe --layout gpt2 --size 50257 corpus.txt -o gpt2_dir

Hooked into ``zoo/cli/__init__.py`` with ``vocab.add_parser(sub)``; the parser's ``func`` is
:func:`run`, which returns the exit status (2 for a mistake in the input, with one line
saying what to do).
"""
import sys
import warnings

__all__ = ["add_parser", "run"]

_KINDS = ("wordpiece", "sentencepiece", "byte_bpe")
_LAYOUTS = ("bert", "t5", "roberta", "gpt2")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "build-vocab", help="train a WordPiece, SentencePiece or byte-level BPE vocabulary",
        description="Train a vocabulary on text files (one sentence per line, plain or .gz, "
                    "globs allowed) and write a tokenizer folder (vocab.txt, spiece.model or "
                    "vocab.json + merges.txt, plus tokenizer_config.json) that "
                    "zoo.get_tokenizer and Hugging Face load.")
    p.add_argument("corpus", nargs="+", help="text files or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--kind", choices=_KINDS, default="wordpiece")
    p.add_argument("--size", type=int, required=True,
                   help="vocabulary size, special tokens and extra ids included")
    p.add_argument("--layout", choices=_LAYOUTS,
                   help="special tokens: bert (wordpiece, sentencepiece; the default there), "
                        "t5 (sentencepiece: <pad> </s> <unk> and sentinels), roberta "
                        "(byte_bpe; the default there) or gpt2 (byte_bpe: <|endoftext|>)")
    p.add_argument("--extra-ids", type=int,
                   help="t5 layout: number of <extra_id_N> sentinels at the end (default 100)")
    case = p.add_mutually_exclusive_group()
    case.add_argument("--cased", dest="lower", action="store_false", default=None,
                      help="keep case (default for the t5, roberta and gpt2 layouts)")
    case.add_argument("--lower", dest="lower", action="store_true",
                      help="lower-case (default for the bert layout)")
    p.add_argument("--min-frequency", type=int, default=2,
                   help="wordpiece, byte_bpe: minimum pair count for a merge")
    p.add_argument("--model-type", choices=["unigram", "bpe"], default="unigram",
                   help="sentencepiece model type")
    p.add_argument("--character-coverage", type=float, default=0.9995,
                   help="sentencepiece character coverage")
    p.add_argument("--trainer", choices=["python", "tokenizers"], default="python",
                   help="wordpiece trainer: deterministic pure Python (default) or the Rust "
                        "'tokenizers' package (faster on huge corpora, not reproducible)")
    p.add_argument("--errors", choices=["strict", "replace", "skip"], default="strict",
                   help="what to do with lines that are not UTF-8")
    p.set_defaults(func=run)
    return p


def run(args):
    from checkpoints import CheckpointError
    from zoo.data import DataError
    from zoo.tokenizers import TokenizerError, build_vocab
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            tok = build_vocab(args.kind, args.size, args.corpus, args.output, lower=args.lower,
                              layout=args.layout, extra_ids=args.extra_ids,
                              min_frequency=args.min_frequency, model_type=args.model_type,
                              character_coverage=args.character_coverage, errors=args.errors,
                              trainer=args.trainer)
        except (DataError, TokenizerError, CheckpointError, ValueError) as e:
            tok, error = None, e
    for w in caught:         # one line each (an empty file skipped), not a source location
        print(f"zoo build-vocab: warning: {w.message}", file=sys.stderr)
    if tok is None:
        print(f"zoo build-vocab: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.kind} vocabulary of {tok.vocab_size} tokens to {args.output} "
          f"({'lower-cased' if tok.lower else 'cased'})")
    return 0


def main(argv=None):
    """Stand-alone entry: ``python -m zoo.cli.vocab ...`` (same options as ``zoo build-vocab``)."""
    import argparse
    ap = argparse.ArgumentParser(prog="zoo")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(["build-vocab"] + list(sys.argv[1:] if argv is None else argv))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
