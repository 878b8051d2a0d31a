"""``zoo build-vocab``: train a WordPiece or SentencePiece vocabulary from text files.

    zoo build-vocab --kind wordpiece --size 30522 corpus/*.txt -o vocab_dir
    zoo build-vocab --kind sentencepiece --size 30000 --cased a.txt b.txt.gz -o spm_dir

Hooked into ``zoo/cli/__init__.py`` with ``vocab.add_parser(sub)``; the parser's ``func`` is
:func:`run`, which returns the exit status.
"""
import sys

__all__ = ["add_parser", "run"]


def add_parser(subparsers):
    p = subparsers.add_parser(
        "build-vocab", help="train a WordPiece or SentencePiece vocabulary from text files",
        description="Train a vocabulary on text files (one sentence per line, plain or .gz, "
                    "globs allowed) and write a tokenizer folder (vocab.txt or spiece.model, "
                    "plus tokenizer_config.json) that zoo.get_tokenizer and Hugging Face load.")
    p.add_argument("corpus", nargs="+", help="text files or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--kind", choices=["wordpiece", "sentencepiece"], default="wordpiece")
    p.add_argument("--size", type=int, required=True, help="vocabulary size")
    p.add_argument("--cased", action="store_true", help="keep case (default: lower-case)")
    p.add_argument("--min-frequency", type=int, default=2, help="wordpiece: minimum pair count")
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
    from zoo.data import DataError
    from zoo.tokenizers import TokenizerError, build_vocab
    try:
        tok = build_vocab(args.kind, args.size, args.corpus, args.output, lower=not args.cased,
                          min_frequency=args.min_frequency, model_type=args.model_type,
                          character_coverage=args.character_coverage, errors=args.errors,
                          trainer=args.trainer)
    except (DataError, TokenizerError, ValueError) as e:
        print(f"zoo build-vocab: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.kind} vocabulary of {tok.vocab_size} tokens to {args.output} "
          f"({'cased' if args.cased else 'lower-cased'})")
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
