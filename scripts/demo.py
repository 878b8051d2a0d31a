#!/usr/bin/env python
"""The main job end to end on embedded defaults (``./dev demo``).

1. real English text that every machine has: the Python standard library's docstrings;
2. a WordPiece vocabulary trained on it;
3. a tiny BERT pretrained with its tied MLM head (MLM + NSP), saved tie-aware;
4. the checkpoint reloaded head-less, with no alias arguments: the load report shows the
   head tensors left behind;
5. that backbone finetuned on a labelled task derived from the same docstrings (which
   standard-library package a sentence documents) and the held-out accuracy printed
   beside the majority baseline.

Everything goes under ``--output`` (default ``runs/demo``); nothing is downloaded.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _say(msg):
    print(msg, flush=True)


def _run(script, *args):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", script), *map(str, args)]
    proc = subprocess.run(cmd, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"demo: {script} failed with status {proc.returncode}")


def _split_documents(corpus, train_path, eval_path, every=20):
    """Every ``every``-th document goes to the held-out file."""
    with open(corpus, encoding="utf-8") as f:
        docs = f.read().split("\n\n")
    docs = [d.strip("\n") for d in docs if d.strip()]
    with open(train_path, "w", encoding="utf-8") as tr, open(eval_path, "w", encoding="utf-8") as ev:
        for i, d in enumerate(docs):
            (ev if i % every == 0 else tr).write(d + "\n\n")
    return len(docs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", default=os.path.join(ROOT, "runs", "demo"))
    ap.add_argument("--model", default="bert_tiny")
    ap.add_argument("--pretrain-steps", type=int, default=600)
    ap.add_argument("--finetune-epochs", type=int, default=5)
    ap.add_argument("--vocab-size", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    t_start = time.time()

    from zoo.data import stdlib_corpus, stdlib_topic_task
    _say("[1/5] corpus: docstrings of the Python standard library")
    corpus = os.path.join(out, "corpus.txt")
    stats = stdlib_corpus(corpus, max_bytes=8 << 20)
    train_txt, eval_txt = os.path.join(out, "corpus.train.txt"), os.path.join(out, "corpus.eval.txt")
    _split_documents(corpus, train_txt, eval_txt)
    _say(f"      {stats['documents']} documents, {stats['sentences']} sentences, "
         f"{stats['bytes'] / 1e6:.1f} MB (Python {stats['python']}); every 20th document held out")

    from zoo.tokenizers import build_vocab
    _say(f"[2/5] vocabulary: WordPiece, {args.vocab_size} tokens, trained on the corpus")
    vocab_dir = os.path.join(out, "vocab")
    tok = build_vocab("wordpiece", args.vocab_size, [train_txt], vocab_dir)
    sample = "Return the number of bytes written to the socket."
    _say(f"      {sample!r} -> {tok.tokenize(sample)}")

    pre_dir = os.path.join(out, "pretrain")
    _say(f"[3/5] pretraining {args.model} with its tied MLM head (MLM + NSP), "
         f"{args.pretrain_steps} steps")
    _run("pretrain.py", "--model", args.model, "--corpus", train_txt, "--eval-corpus", eval_txt,
         "--vocab", vocab_dir, "--output", pre_dir, "--max-steps", args.pretrain_steps,
         "--batch-size", 32, "--max-seq-length", 64, "--lr", "2e-4", "--save-every",
         max(1, args.pretrain_steps // 3), "--log-every", 25, "--seed", args.seed,
         "--overwrite")  # the demo's own folder: a rerun replaces it
    rows = [json.loads(l) for l in open(os.path.join(pre_dir, "metrics.jsonl"))]
    train_rows = [r for r in rows if r["split"] == "train"]
    evals = [r for r in rows if r["split"] == "eval"]
    _say(f"      MLM loss {train_rows[0]['mlm_loss']:.2f} -> {train_rows[-1]['mlm_loss']:.2f}; "
         f"held-out MLM accuracy {evals[-1]['mlm_acc']:.3f}, perplexity {evals[-1]['perplexity']:.1f}")

    import checkpoints
    import zoo
    ckpt = os.path.join(pre_dir, "model.params")
    _say("[4/5] reloading the pretraining checkpoint head-less: "
         "zoo.get_model('bert', use_mlm=False, pretrained=...)")
    info = checkpoints.inspect(ckpt)
    _say(f"      file ties: {info.ties}")
    backbone = zoo.get_model("bert", use_mlm=False, pretrained=ckpt)
    for line in str(backbone.load_report).splitlines():
        _say("      " + line)

    task_dir = os.path.join(out, "topic_task")
    task = stdlib_topic_task(task_dir, seed=args.seed)
    labels = [l.rstrip("\n").split("\t")[1] for l in open(os.path.join(task_dir, "dev.tsv"))][1:]
    majority = collections.Counter(labels).most_common(1)[0][1] / len(labels)
    _say(f"[5/5] finetuning on 'which stdlib package does this sentence document?' "
         f"({', '.join(task['labels'])}): {task['train']} train / {task['dev']} dev sentences")
    ft_dir = os.path.join(out, "finetune")
    _run("finetune.py", "--task", "classification", "--pretrained", ckpt,
         "--train", os.path.join(task_dir, "train.tsv"), "--dev", os.path.join(task_dir, "dev.tsv"),
         "--output", ft_dir, "--epochs", args.finetune_epochs, "--seed", args.seed,
         "--max-seq-length", 64, "--lr", "5e-4", "--no-progress", "--overwrite")
    evals = [json.loads(l) for l in open(os.path.join(ft_dir, "metrics.jsonl"))]
    best = max((r for r in evals if "accuracy" in r), key=lambda r: r["accuracy"])
    _say(f"\nheld-out accuracy {best['accuracy']:.3f} (macro F1 {best.get('macro_f1', float('nan')):.3f}) "
         f"vs majority baseline {majority:.3f}; total {time.time() - t_start:.0f} s")
    _say(f"artifacts: {pre_dir}/loss.png, {ft_dir}/model.params, {ft_dir}/metrics.jsonl")


if __name__ == "__main__":
    main()
