"""Pretraining throughput: the whole ``scripts/pretrain.py`` against the bare training step,
and against GluonNLP 0.10's BERT on the same config and the same batches, in one run.

* script: ``pretrain.py`` as a user runs it (data pipeline on a background thread, step,
  logging, metrics), real-token throughput from its own ``metrics.jsonl`` after warmup;
* bare step: the same model and optimizer on the same batches, prepared in memory
  beforehand: forward + backward + gradient sync + clipping + AdamW update, nothing else;
* GluonNLP 0.10: ``gluonnlp.model.BERTModel`` with decoder and classifier, BERTAdam, the
  same batches and losses.

All count real (non-padding) tokens per second. Targets: script >= 95 % of the bare step;
bare step >= 1.0x GluonNLP.

    python benchmarks/pretrain_throughput.py [--model bert_mini] [--steps 40] [--batch-size 16]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402


def make_batches(corpus, vocab, args, n):
    from zoo.data import PretrainingPipeline
    from zoo.tokenizers import get_tokenizer
    tok = get_tokenizer(vocab)
    pipe = PretrainingPipeline([corpus], tok, batch_size=args.batch_size,
                               max_seq_length=args.max_seq_length, task="nsp", seed=args.seed)
    out = []
    for batch in pipe:
        out.append({k: mx.nd.array(v, dtype="float32" if k != "masked_weights" else v.dtype)
                    for k, v in batch.items()})
        if len(out) == n:
            break
    mx.nd.waitall()
    return out, tok.vocab_size


def timed(step, batches, warmup):
    for b in batches[:warmup]:
        step(b)
    mx.nd.waitall()
    t0 = time.perf_counter()
    tokens = 0
    for b in batches[warmup:]:
        step(b)
        tokens += float(b["valid_length"].sum().asscalar())
    mx.nd.waitall()
    return tokens / (time.perf_counter() - t0)


def bare_step_tiezoo(args, vocab_size):
    import zoo
    from heads.losses import MaskedLMLoss, NSPLoss
    from zoo import training
    model = zoo.get_model(args.model, use_mlm=True, use_nsp=True, vocab_size=vocab_size)
    model.hybridize(static_alloc=True)
    trainer = training.make_trainer(model, lr=1e-4)
    params = [p for p in model.collect_params().values() if p.grad_req != "null"]
    sync = training.GradientSync(params)
    mlm_loss, nsp_loss = MaskedLMLoss(), NSPLoss()

    def step(b):
        with mx.autograd.record():
            _, _, mlm, nsp = model(b["input_ids"], b["token_types"], b["valid_length"], b["masked_positions"])
            loss = mlm_loss(mlm, b["masked_ids"], b["masked_weights"]) + nsp_loss(nsp, b["nsp_labels"]).mean()
        loss.backward()
        training.clip_and_update(trainer, sync, 1, 1.0)
    return step


def bare_step_gluonnlp(args, vocab_size):
    import gluonnlp  # noqa: F401
    from gluonnlp.model.bert import BERTEncoder, BERTModel
    import zoo
    c = zoo.get_config(args.model, vocab_size=vocab_size)
    encoder = BERTEncoder(num_layers=c.num_layers, units=c.units, hidden_size=c.hidden_size,
                          max_length=c.max_length, num_heads=c.num_heads, dropout=c.dropout,
                          output_attention=False, output_all_encodings=False,
                          activation="gelu", layer_norm_eps=c.layer_norm_eps)
    net = BERTModel(encoder, vocab_size=c.vocab_size, token_type_vocab_size=c.type_vocab_size,
                    units=c.units, embed_size=c.units,
                    use_pooler=True, use_decoder=True, use_classifier=True)
    net.initialize(mx.init.Normal(0.02))
    net.hybridize(static_alloc=True)
    trainer = mx.gluon.Trainer(net.collect_params(), "bertadam", {"learning_rate": 1e-4, "wd": 0.01})
    params = [p for p in net.collect_params().values() if p.grad_req != "null"]
    ce = mx.gluon.loss.SoftmaxCELoss()

    def step(b):
        with mx.autograd.record():
            _, _, nsp, mlm = net(b["input_ids"], b["token_types"], b["valid_length"], b["masked_positions"])
            w = b["masked_weights"]
            mlm_l = (ce(mlm.reshape((-1, c.vocab_size)), b["masked_ids"].reshape((-1,)), w.reshape((-1, 1)))).sum() / (w.sum() + 1e-8)
            loss = mlm_l + ce(nsp, b["nsp_labels"]).mean()
        loss.backward()
        trainer.allreduce_grads()
        mx.gluon.utils.clip_global_norm([p.grad() for p in params], 1.0, check_isfinite=False)
        trainer.update(1)
    return step


def script_throughput(args, corpus, vocab, out):
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "pretrain.py"), "--model", args.model,
           "--corpus", corpus, "--vocab", vocab, "--output", out, "--max-steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--max-seq-length", str(args.max_seq_length),
           "--log-every", "5", "--no-progress", "--seed", str(args.seed)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    rows = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    rows = [r for r in rows if r["split"] == "train" and r["step"] > args.warmup and r["step"] % 5 == 0]
    return float(np.mean([r["tokens_per_s"] for r in rows]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bert_mini")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from zoo.data import stdlib_corpus
    from zoo.tokenizers import build_vocab
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        stdlib_corpus(corpus, max_bytes=4 << 20)
        vocab = os.path.join(tmp, "vocab")
        build_vocab("wordpiece", args.vocab_size, [corpus], vocab)
        script = script_throughput(args, corpus, vocab, os.path.join(tmp, "run"))
        batches, vocab_size = make_batches(corpus, vocab, args, args.steps)
        mx.random.seed(args.seed)
        bare = timed(bare_step_tiezoo(args, vocab_size), batches, args.warmup)
        mx.random.seed(args.seed)
        gnlp = timed(bare_step_gluonnlp(args, vocab_size), batches, args.warmup)
    print(f"{args.model}, batch {args.batch_size} x up to {args.max_seq_length} tokens, "
          f"{args.steps} steps ({args.warmup} warmup), real tokens/s, {os.cpu_count()} cores")
    print(f"{'what':<44} {'tokens/s':>10} {'ratio':>8}")
    print(f"{'tiezoo scripts/pretrain.py (data + step)':<44} {script:>10.0f} {script / bare:>7.2f}x  of bare step")
    print(f"{'tiezoo bare training step':<44} {bare:>10.0f} {bare / gnlp:>7.2f}x  of GluonNLP")
    print(f"{'GluonNLP 0.10 BERTModel step':<44} {gnlp:>10.0f} {1.0:>7.2f}x")
    print("targets: script >= 0.95x bare step; bare step >= 1.00x GluonNLP")


if __name__ == "__main__":
    main()
