"""Tokenization and pretraining-pipeline throughput, against GluonNLP 0.10's BERTTokenizer
(WordPiece) and the tokenizers library / transformers (WordPiece and byte-level BPE).

    python benchmarks/data_pipeline.py                     # stdlib-docstring corpus, 1 core
    python benchmarks/data_pipeline.py --corpus my.txt --vocab vocab.txt
    python benchmarks/data_pipeline.py --train-tokens-per-s 40000   # compare with training
    python benchmarks/data_pipeline.py --train-step-time 0.35 --train-batch-size 32 --seq-len 128

The corpus defaults to the Python standard library's docstrings (``zoo.data.stdlib_corpus``),
built at run time in a temporary folder; the WordPiece vocabulary defaults to one trained on it
(``zoo.tokenizers.build_vocab``). Everything runs on ``--cores`` CPU cores (default 1: the
process is pinned and the Rust tokenizer runs one thread); rates are per second of the
process's CPU time, so that other load on a shared machine does not skew them. Tokens are
WordPiece tokens; pipeline tokens are the non-padding tokens of the batches it yields.

The training consumption rate is measured here by default: a hybridized ``bert_base``
pretraining step (batch ``--train-batch-size`` x ``--seq-len``, forward + backward + AdamW)
on all cores; ``--train-tokens-per-s`` or ``--train-step-time`` give it instead (for
another machine). The script prints how many times faster the one-core pipeline is than
training consumes (the target is at least 10x).
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _pin(cores):
    os.environ["RAYON_NUM_THREADS"] = str(cores)
    os.environ["RAYON_RS_NUM_CPUS"] = str(cores)
    if cores == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("OMP_NUM_THREADS", str(cores))
    if hasattr(os, "sched_setaffinity"):
        avail = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(avail[:cores]))


def _clock():
    # CPU time of this process (all its threads): on a shared machine other processes' load
    # does not count; with --cores 1 it equals wall time on an idle core.
    return time.process_time()


def _timed(fn, min_seconds):
    """(units per second, units of one pass, passes) for fn() -> units, repeated >= min_seconds."""
    fn()  # warm up (caches, lazy tables)
    t0, n, passes = _clock(), 0, 0
    while True:
        n += fn()
        passes += 1
        dt = _clock() - t0
        if dt >= min_seconds:
            return n / dt, n // passes, passes


def _gluonnlp_tokenizer(tokens):
    import warnings
    warnings.simplefilter("ignore")
    import gluonnlp as nlp
    specials = {"unknown_token": "[UNK]"}
    ident = {"cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]",
             "padding_token": "[PAD]", "bos_token": None, "eos_token": None}
    vocab = nlp.vocab.BERTVocab.from_json(json.dumps({
        "idx_to_token": tokens, "token_to_idx": {t: i for i, t in enumerate(tokens)},
        "reserved_tokens": ["[CLS]", "[SEP]", "[MASK]", "[PAD]"],
        "identifiers_to_tokens": ident, **specials}))
    return nlp.data.BERTTokenizer(vocab, lower=True), vocab


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", nargs="*", help="text files (default: stdlib docstrings)")
    ap.add_argument("--max-bytes", type=int, default=8 << 20, help="stdlib corpus size cap")
    ap.add_argument("--vocab", help="vocab.txt (default: train one on the corpus)")
    ap.add_argument("--vocab-size", type=int, default=30522)
    ap.add_argument("--bpe-vocab-size", type=int, default=50257,
                    help="byte-level BPE vocabulary to train and tokenize with")
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum time per measurement")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--train-tokens-per-s", type=float,
                    help="bert_base training consumption rate (tokens/s) to compare against")
    ap.add_argument("--train-step-time", type=float,
                    help="seconds per bert_base training step (with --train-batch-size, --seq-len)")
    ap.add_argument("--train-batch-size", type=int, default=8)
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    _pin(args.cores)

    from zoo.data import PretrainingPipeline, stdlib_corpus
    from zoo.tokenizers import WordPieceTokenizer, build_vocab

    tmp = tempfile.mkdtemp(prefix="tiezoo_bench_")
    if args.corpus:
        files = args.corpus
    else:
        files = [os.path.join(tmp, "stdlib.txt")]
        t0 = time.perf_counter()
        info = stdlib_corpus(files[0], max_bytes=args.max_bytes)
        print(f"corpus: stdlib docstrings of Python {info['python']}: {info['documents']} documents, "
              f"{info['sentences']} sentences, {info['bytes'] / 1e6:.2f} MB "
              f"(built in {time.perf_counter() - t0:.1f} s)")
    if args.vocab:
        vocab_path = args.vocab
    else:
        tok = build_vocab("wordpiece", args.vocab_size, files, os.path.join(tmp, "vocab"))
        vocab_path = os.path.join(tmp, "vocab", "vocab.txt")
    py = WordPieceTokenizer(vocab_path, backend="python")
    try:
        rust = WordPieceTokenizer(vocab_path, backend="tokenizers")
    except Exception as e:
        rust = None
        print(f"tokenizers backend unavailable: {e}")
    print(f"vocabulary: {py.vocab_size} WordPiece tokens, {'uncased' if py.lower else 'cased'}; "
          f"cores: {args.cores}")

    sentences = []
    for path in files:
        from zoo.data import iter_lines
        sentences += [t.strip() for _, t in iter_lines(path) if t.strip()]
    results = {"cores": args.cores, "vocab_size": py.vocab_size, "sentences": len(sentences)}

    def report(kind, name, rate, note=""):
        results[f"{kind}: {name}"] = rate
        print(f"  {name:<48} {rate / 1e3:8.0f} k tokens/s   {note}")
        return rate

    def tok_rate(name, fn):
        rate, per_pass, passes = _timed(fn, args.seconds)
        return report("tokenize", name, rate, f"({per_pass} tokens/pass, {passes} passes)")

    print("tokenization (text -> ids, no special tokens):")
    ref_ids = [py.encode(s) for s in sentences]
    cold = WordPieceTokenizer(vocab_path, backend="python")
    t0 = _clock()
    n = sum(len(cold.encode(s)) for s in sentences)
    report("tokenize", "tiezoo WordPiece, pure Python, first pass", n / (_clock() - t0),
           "(cold word cache)")
    tok_rate("tiezoo WordPiece, pure Python (default)",
             lambda: sum(len(py.encode(s)) for s in sentences))
    if rust is not None:
        tok_rate("tiezoo WordPiece, tokenizers backend, batch",
                 lambda: sum(map(len, rust.encode_batch(sentences))))
        tok_rate("tiezoo WordPiece, tokenizers backend, 1 by 1",
                 lambda: sum(len(rust.encode(s)) for s in sentences))
        mismatch = sum(rust.encode(s) != r for s, r in zip(sentences, ref_ids))
        print(f"    pure Python vs tokenizers backend: {mismatch} of {len(sentences)} sentences differ")
        results["python_vs_tokenizers_mismatches"] = mismatch
    gluon = None
    try:
        gtok, gvocab = _gluonnlp_tokenizer(py.vocab)
    except ImportError as e:
        print(f"  GluonNLP 0.10 BERTTokenizer: not installed ({e})")
    else:
        tok_rate("GluonNLP 0.10 BERTTokenizer (+ vocab lookup)",
                 lambda: sum(len(gvocab[gtok(s)]) for s in sentences))
        diff = sum(gvocab[gtok(s)] != r for s, r in zip(sentences, ref_ids))
        print(f"    GluonNLP vs tiezoo (= Hugging Face): {diff} of {len(sentences)} sentences differ")
        results["gluonnlp_mismatches"] = diff

        class GluonWordPiece(WordPieceTokenizer):
            """The pipeline with GluonNLP's tokenizer inside, for the same-run comparison."""
            def encode(self, text):
                return gvocab[gtok(text)]

            def encode_batch(self, texts):
                return [gvocab[gtok(t)] for t in texts]

        gluon = GluonWordPiece(vocab_path)
    try:
        import logging
        logging.getLogger("transformers").setLevel(logging.ERROR)
        from transformers import BertTokenizerFast
        hf = BertTokenizerFast.from_pretrained(os.path.dirname(vocab_path), do_lower_case=py.lower)
    except Exception as e:  # optional reference
        print(f"  transformers BertTokenizerFast: unavailable ({type(e).__name__})")
    else:
        tok_rate("transformers BertTokenizerFast, batch",
                 lambda: sum(map(len, hf(sentences, add_special_tokens=False)["input_ids"])))

    _byte_bpe_rates(files, sentences, tmp, args, results, tok_rate)

    print(f"pipeline (files -> masked batches, B={args.batch_size}, L<={args.seq_len}; "
          f"tokens = non-padding tokens yielded):")

    def pipe_rate(name, tokenizer, **kw):
        def run():
            p = PretrainingPipeline(files, tokenizer, batch_size=args.batch_size,
                                    max_seq_length=args.seq_len, num_epochs=1, seed=0, **kw)
            return sum(int(b["valid_length"].sum()) for b in p)
        rate, per_pass, passes = _timed(run, args.seconds)
        return report("pipeline", name, rate, f"({per_pass} tokens/pass)")

    best = pipe_rate("NSP, tiezoo (pure Python)", py, task="nsp")
    pipe_rate("NSP + whole-word masking", py, task="nsp", whole_word=True)
    pipe_rate("SOP", py, task="sop")
    pipe_rate("MLM only (task=None)", py, task=None)
    if rust is not None:
        pipe_rate("NSP, tokenizers backend", rust, task="nsp")
    if gluon is not None:
        pipe_rate("NSP, GluonNLP 0.10 BERTTokenizer inside", gluon, task="nsp")

    train = args.train_tokens_per_s
    if train is None and args.train_step_time:
        train = args.train_batch_size * args.seq_len / args.train_step_time
    if train is None:
        step_time = _bert_base_step_time(args.train_batch_size, args.seq_len)
        print(f"bert_base training step (batch {args.train_batch_size} x {args.seq_len}, "
              f"measured here): {step_time:.2f} s")
        train = args.train_batch_size * args.seq_len / step_time
    if train:
        ratio = best / train
        results["train_tokens_per_s"] = train
        results["pipeline_over_training"] = ratio
        print(f"training consumes {train / 1e3:.1f} k tokens/s: the pipeline (NSP, "
              f"{args.cores} core) is {ratio:.1f}x that ({'meets' if ratio >= 10 else 'MISSES'} "
              f"the 10x target)")
    else:
        print("training rate: not given (pass --train-tokens-per-s or --train-step-time); "
              f"the pipeline must exceed 10x it: <= {best / 10 / 1e3:.1f} k tokens/s of training "
              f"is covered by one core")
    if args.json:
        from checkpoints.atomic import atomic_write
        atomic_write(args.json, json.dumps(results, indent=2))
    return 0


def _byte_bpe_rates(files, sentences, tmp, args, results, tok_rate):
    """GPT-2-style byte-level BPE: training (tiezoo's pure Python against the tokenizers
    library's trainer) and tokenization (pure Python, the tokenizers backend, transformers)."""
    from zoo.tokenizers import build_vocab, get_tokenizer
    print(f"byte-level BPE, GPT-2 layout, {args.bpe_vocab_size} tokens asked for:")
    folder = os.path.join(tmp, "bpe")
    t0 = _clock()
    py = build_vocab("byte_bpe", args.bpe_vocab_size, files, folder, layout="gpt2")
    ours = _clock() - t0
    results["byte_bpe_train_s"] = ours
    line = f"  train: tiezoo pure Python {ours:.2f} s ({py.vocab_size} tokens)"
    try:
        from tokenizers import ByteLevelBPETokenizer
    except ImportError:
        print(line + "; tokenizers trainer: not installed")
        rust = None
    else:
        t0 = _clock()
        ByteLevelBPETokenizer().train(files, vocab_size=py.vocab_size, min_frequency=2,
                                      show_progress=False, special_tokens=["<|endoftext|>"])
        theirs = _clock() - t0
        results["byte_bpe_train_tokenizers_s"] = theirs
        print(line + f"; tokenizers trainer {theirs:.2f} s (tiezoo at {theirs / ours:.2f}x "
                     f"its speed)")
        rust = get_tokenizer(folder, backend="tokenizers")
    tok_rate("tiezoo byte-level BPE, pure Python (default)",
             lambda: sum(len(py.encode(s)) for s in sentences))
    if rust is not None:
        tok_rate("tiezoo byte-level BPE, tokenizers backend, batch",
                 lambda: sum(map(len, rust.encode_batch(sentences))))
        mismatch = sum(rust.encode(s) != py.encode(s) for s in sentences)
        print(f"    pure Python vs tokenizers backend: {mismatch} of {len(sentences)} differ")
        results["byte_bpe_python_vs_tokenizers_mismatches"] = mismatch
    try:
        from transformers import GPT2TokenizerFast
        hf = GPT2TokenizerFast.from_pretrained(folder)
    except Exception as e:  # optional reference
        print(f"  transformers GPT2TokenizerFast: unavailable ({type(e).__name__})")
    else:
        tok_rate("transformers GPT2TokenizerFast, batch",
                 lambda: sum(map(len, hf(sentences, add_special_tokens=False)["input_ids"])))


def _bert_base_step_time(batch, seq_len, steps=2):
    """Seconds per hybridized bert_base pretraining step (forward, backward, AdamW) here."""
    import mxnet as mx
    import zoo
    from heads.losses import MaskedLMLoss, NSPLoss
    from zoo import training
    model = zoo.get_model("bert_base", use_mlm=True, use_nsp=True)
    model.hybridize(static_alloc=True)
    trainer = training.make_trainer(model)
    sync = training.GradientSync([p for p in model.collect_params().values() if p.grad_req != "null"])
    rng = np.random.RandomState(0)
    ids = mx.nd.array(rng.randint(5, 30000, size=(batch, seq_len)))
    types, valid = mx.nd.zeros((batch, seq_len)), mx.nd.full((batch,), seq_len)
    positions = mx.nd.array(rng.randint(1, seq_len, size=(batch, 20)))
    labels, weights = mx.nd.array(rng.randint(5, 30000, size=(batch, 20))), mx.nd.ones((batch, 20))
    mlm_loss, nsp_loss = MaskedLMLoss(), NSPLoss()

    def step():
        with mx.autograd.record():
            _, _, mlm, nsp = model(ids, types, valid, positions)
            loss = mlm_loss(mlm, labels, weights) + nsp_loss(nsp, mx.nd.zeros((batch,))).mean()
        loss.backward()
        training.clip_and_update(trainer, sync, 1, 1.0)
        mx.nd.waitall()

    step()  # warmup: graph build and allocation
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


if __name__ == "__main__":
    sys.exit(main())
