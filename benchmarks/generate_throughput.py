"""GPT-2 generation and causal-LM training speed on CPU: tiezoo against Hugging Face
transformers, each measured in a fresh process, all in this one run.

On a 124M-shaped GPT-2 (``gpt2_small``: 12 layers, 768 wide, 50257-token vocabulary) with
random weights, the same config on both sides (dropout 0.1 in training, none in generation):

* generation: new tokens per second of ``zoo.generate`` and of transformers' ``generate``
  (its key/value cache on, ``early_stopping=False``, no end-of-text token so that every
  sequence gets all its tokens), greedy and 4-beam search, batch 1 and 8, 128 new tokens
  after a 16-token prompt; tiezoo's decoder is the hybridized step graph with the
  preallocated cache, transformers' the model's ``DynamicCache`` in eager PyTorch;
* training: one causal-LM step (forward, loss over every position, backward, Adam update)
  of the LM model on a batch of 4 x 128 tokens, tokens per second; tiezoo hybridized
  (static_alloc/static_shape), transformers eager.

The encoder-decoders have lines of their own (``bart-*`` on ``bart_base``, ``t5-*`` on
``t5_small``, random weights): generation of 128 new tokens from a 64-token source (the
encoder runs once, the decoder with its caches), and one training step (teacher forcing,
cross-entropy over the target, Adam) on 4 sources and 4 targets of 128 tokens, target
tokens per second; see :func:`seq2seq_lines`.

Each number is the best of its timed runs after a warmup one (the least disturbed on a
shared machine). Ratios are tiezoo / transformers: above 1.00x means tiezoo is faster. Every
process uses the same number of threads (default: all cores) and ``OMP_WAIT_POLICY=ACTIVE``
(see ``benchmarks/_common.py``); on a shared machine use ``--rounds 2`` or more, which
interleaves the frameworks and keeps each best.

    python benchmarks/generate_throughput.py [--lines greedy-1,beam4-8,train] [--quick]
        [--threads N] [--rounds N] [--json OUT]
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks._common import describe_environment, run_child_process  # noqa: E402
from benchmarks._common import time_calls as _time  # noqa: E402

FRAMEWORKS = ("tiezoo", "transformers")
PRESET = "gpt2_small"
PROMPT_LEN, NEW_TOKENS = 16, 128
TRAIN_BATCH, TRAIN_LEN = 4, 128
# line name -> (num_beams, batch) for generation; "train" is the training step
LINES = {"greedy-1": (1, 1), "greedy-8": (1, 8), "beam4-1": (4, 1), "beam4-8": (4, 8),
         "train": None}


def seq2seq_lines():
    """The encoder-decoder lines: ``{"bart-greedy-1": (1, 1), ..., "t5-train": None}``, the
    same searches and batches as GPT-2's, for each family's preset in SEQ2SEQ_PRESETS."""
    return {f"{family}-{line}": spec for family in SEQ2SEQ_PRESETS for line, spec in
            (("greedy-1", (1, 1)), ("greedy-8", (1, 8)), ("beam4-1", (4, 1)),
             ("beam4-8", (4, 8)), ("train", None))}


SEQ2SEQ_PRESETS = {"bart": "bart_base", "t5": "t5_small"}
SOURCE_LEN = 64
LINES.update(seq2seq_lines())


def _prompts(vocab_size, batch, seed=0):
    import numpy as np
    rng = np.random.RandomState(seed)
    return rng.randint(0, vocab_size, size=(batch, PROMPT_LEN))


def _train_batch(vocab_size, seed=1):
    import numpy as np
    return np.random.RandomState(seed).randint(0, vocab_size, size=(TRAIN_BATCH, TRAIN_LEN + 1))


# --------------------------------------------------------------------------- tiezoo

def child_tiezoo(line, config, warmup, iters, new_tokens):
    import mxnet as mx
    import numpy as np
    import zoo
    mx.random.seed(0)
    if LINES[line] is None:
        from mxnet import autograd, gluon
        from zoo.recipes import CausalLMRecipe
        model = zoo.get_model(PRESET, use_lm=True)
        model.hybridize(static_alloc=True, static_shape=True)
        trainer = gluon.Trainer(model.collect_params(), "adam", {"learning_rate": 1e-4})
        data = _train_batch(config.vocab_size)
        part = {"input_ids": mx.nd.array(data[:, :-1]), "labels": mx.nd.array(data[:, 1:]),
                "label_weights": mx.nd.ones((TRAIN_BATCH, TRAIN_LEN)),
                "valid_length": mx.nd.full((TRAIN_BATCH,), TRAIN_LEN)}
        recipe = CausalLMRecipe({"use_lm": True})

        def step():
            with autograd.record():
                loss = recipe.forward(model, part).loss
            loss.backward()
            trainer.step(1)
            loss.wait_to_read()
            mx.nd.waitall()
        return _time(step, warmup, iters), TRAIN_BATCH * TRAIN_LEN
    num_beams, batch = LINES[line]
    model = zoo.get_model(PRESET, use_lm=True, dropout=0.0, embed_dropout=0.0,
                          attention_dropout=0.0)
    prompts = [list(map(int, p)) for p in _prompts(config.vocab_size, batch)]

    def run():
        out = zoo.generate(model, prompts, max_new_tokens=new_tokens, num_beams=num_beams)
        assert all(len(o) == new_tokens for o in out)
    return _time(run, warmup, iters), batch * new_tokens


# --------------------------------------------------------------------------- transformers

def child_transformers(line, config, warmup, iters, new_tokens, threads):
    import torch
    import transformers
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dropout = 0.1 if LINES[line] is None else 0.0
    hf_config = transformers.GPT2Config(
        vocab_size=config.vocab_size, n_embd=config.units, n_layer=config.num_layers,
        n_head=config.num_heads, n_inner=config.hidden_size, n_positions=config.max_length,
        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
        bos_token_id=None, eos_token_id=None)
    model = transformers.GPT2LMHeadModel(hf_config)
    if LINES[line] is None:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        data = torch.tensor(_train_batch(config.vocab_size))
        inputs = data[:, :-1]

        def step():
            # labels = inputs: transformers shifts them inside (TRAIN_LEN - 1 targets)
            loss = model(input_ids=inputs, labels=inputs).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return _time(step, warmup, iters), TRAIN_BATCH * TRAIN_LEN
    model.eval()
    num_beams, batch = LINES[line]
    ids = torch.tensor(_prompts(config.vocab_size, batch))
    mask = torch.ones_like(ids)

    def run():
        out = model.generate(ids, attention_mask=mask, max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, num_beams=num_beams, do_sample=False,
                             early_stopping=False, pad_token_id=0, use_cache=True)
        assert out.shape[1] == PROMPT_LEN + new_tokens
    return _time(run, warmup, iters), batch * new_tokens


# --------------------------------------------------------------------------- encoder-decoders

def _seq2seq_data(vocab_size, batch, source_len, target_len=None, seed=2):
    """Random sources (batch, source_len) and, with target_len, targets (batch, target_len)."""
    import numpy as np
    rng = np.random.RandomState(seed)
    src = rng.randint(3, vocab_size, size=(batch, source_len))
    return src if target_len is None else (src, rng.randint(3, vocab_size,
                                                             size=(batch, target_len)))


def _hf_seq2seq(family, config, dropout):
    """The transformers model of the same config (random weights)."""
    import transformers
    c = config
    if family == "bart":
        hf = transformers.BartConfig(
            vocab_size=c.vocab_size, d_model=c.units, encoder_layers=c.num_layers,
            decoder_layers=c.decoder_layers, encoder_attention_heads=c.num_heads,
            decoder_attention_heads=c.num_heads, encoder_ffn_dim=c.hidden_size,
            decoder_ffn_dim=c.hidden_size, max_position_embeddings=c.max_length,
            dropout=dropout, attention_dropout=dropout, activation_dropout=dropout,
            forced_eos_token_id=None)
        return transformers.BartForConditionalGeneration(hf)
    hf = transformers.T5Config(
        vocab_size=c.vocab_size, d_model=c.units, d_kv=c.head_dim, d_ff=c.hidden_size,
        num_layers=c.num_layers, num_heads=c.num_heads, dropout_rate=dropout,
        decoder_start_token_id=c.decoder_start_token_id)
    return transformers.T5ForConditionalGeneration(hf)


def child_seq2seq(framework, line, warmup, iters, new_tokens, threads):
    """One encoder-decoder line (see the module docstring): ``(times, tokens per call)``."""
    import zoo
    family, _, what = line.partition("-")
    preset = SEQ2SEQ_PRESETS[family]
    config = zoo.get_config(preset)
    train = LINES[line] is None
    if framework == "transformers":
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = _hf_seq2seq(family, config, 0.1 if train else 0.0)
        if train:
            model.train()
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            src, tgt = (torch.tensor(a) for a in _seq2seq_data(config.vocab_size, TRAIN_BATCH,
                                                                TRAIN_LEN, TRAIN_LEN))

            def step():
                loss = model(input_ids=src, labels=tgt).loss   # shifted right inside
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return _time(step, warmup, iters), TRAIN_BATCH * TRAIN_LEN
        model.eval()
        num_beams, batch = LINES[line]
        src = torch.tensor(_seq2seq_data(config.vocab_size, batch, SOURCE_LEN))

        def run():
            out = model.generate(src, attention_mask=torch.ones_like(src),
                                 max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                 num_beams=num_beams, do_sample=False, early_stopping=False,
                                 eos_token_id=None, forced_eos_token_id=None, use_cache=True)
            assert out.shape[1] == 1 + new_tokens
        return _time(run, warmup, iters), batch * new_tokens
    import mxnet as mx
    mx.random.seed(0)
    if train:
        from mxnet import autograd, gluon
        from zoo.recipes import DenoisingRecipe
        model = zoo.get_model(preset, use_lm=True)
        model.hybridize(static_alloc=True, static_shape=True)
        trainer = gluon.Trainer(model.collect_params(), "adam", {"learning_rate": 1e-4})
        src, tgt = _seq2seq_data(config.vocab_size, TRAIN_BATCH, TRAIN_LEN, TRAIN_LEN)
        part = {"input_ids": mx.nd.array(src), "valid_length": mx.nd.full((TRAIN_BATCH,), TRAIN_LEN),
                "labels": mx.nd.array(tgt), "label_weights": mx.nd.ones((TRAIN_BATCH, TRAIN_LEN)),
                "decoder_valid_length": mx.nd.full((TRAIN_BATCH,), TRAIN_LEN)}
        recipe = zoo.get_family(family).recipe
        assert isinstance(recipe, DenoisingRecipe)

        def step():
            with autograd.record():
                loss = recipe.forward(model, part).loss
            loss.backward()
            trainer.step(1)
            mx.nd.waitall()
        return _time(step, warmup, iters), TRAIN_BATCH * TRAIN_LEN
    num_beams, batch = LINES[line]
    quiet = {k: 0.0 for k in ("dropout", "attention_dropout", "activation_dropout")
             if hasattr(config, k)}
    model = zoo.get_model(preset, use_lm=True, **quiet)
    sources = [list(map(int, s)) for s in _seq2seq_data(config.vocab_size, batch, SOURCE_LEN)]

    def run():
        out = zoo.generate(model, sources, max_new_tokens=new_tokens, num_beams=num_beams)
        assert all(len(o) == new_tokens for o in out)
    return _time(run, warmup, iters), batch * new_tokens


# --------------------------------------------------------------------------- driver

def child(args):
    import zoo
    config = zoo.get_config(PRESET)
    line, _, new_tokens = args.preset.partition("@")
    if line.split("-")[0] in SEQ2SEQ_PRESETS:
        times, tokens = child_seq2seq(args.child, line, args.warmup, args.iters,
                                      int(new_tokens), args.threads)
    elif args.child == "transformers":
        times, tokens = child_transformers(line, config, args.warmup, args.iters,
                                           int(new_tokens), args.threads)
    else:
        times, tokens = child_tiezoo(line, config, args.warmup, args.iters, int(new_tokens))
    best = min(times)
    print(json.dumps({"seconds": best, "seconds_median": statistics.median(times),
                      "tokens_per_s": tokens / best}))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", default=",".join(LINES),
                    help=f"comma-separated, from {', '.join(LINES)}")
    ap.add_argument("--quick", action="store_true", help="16 new tokens, one timed run")
    ap.add_argument("--new-tokens", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iters", type=int, default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the whole set, interleaved, and keep each best number")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--child", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    ap.add_argument("--preset", help=argparse.SUPPRESS)        # a child's "LINE@NEW_TOKENS"
    ap.add_argument("--lat-iters", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.new_tokens is None:
        args.new_tokens = 16 if args.quick else NEW_TOKENS
    if args.iters is None:
        args.iters = 1 if args.quick else 2
    if args.child:
        return child(args)
    lines = args.lines.split(",")
    unknown = [l for l in lines if l not in LINES]
    if unknown:
        ap.error(f"unknown line(s) {unknown}; known: {', '.join(LINES)}")
    import mxnet
    import torch
    import transformers
    import zoo
    print(f"{describe_environment(args.threads)}, MXNet oneDNN ISA "
          f"{zoo.ONEDNN_ISA or 'default'}; {PRESET} random weights; generation: prompt "
          f"{PROMPT_LEN}, {args.new_tokens} new tokens; training: {TRAIN_BATCH} x {TRAIN_LEN}; "
          f"warmup {args.warmup}, best of {args.iters}; mxnet {mxnet.__version__}, torch "
          f"{torch.__version__}, transformers {transformers.__version__}", flush=True)
    results = {}
    t_start = time.perf_counter()
    for _round in range(args.rounds):
        for line in lines:
            for fw in FRAMEWORKS:
                r = run_child_process(__file__, fw, f"{line}@{args.new_tokens}", args,
                                      args.iters)
                print(f"  {line:<13} {fw:<13} {r['tokens_per_s']:9.1f} tok/s  "
                      f"[{r['wall_s']:.0f} s]", flush=True)
                best = results.setdefault((line, fw), r)
                best["tokens_per_s"] = max(best["tokens_per_s"], r["tokens_per_s"])
    print()
    header = f"{'line':<13} {'what':<34} {'tiezoo tok/s':>12} {'transformers':>12} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for line in lines:
        ours, theirs = results[(line, "tiezoo")], results[(line, "transformers")]
        if LINES[line] is None:
            what = f"train step {TRAIN_BATCH}x{TRAIN_LEN}"
            if line.split("-")[0] in SEQ2SEQ_PRESETS:
                what += f" -> {TRAIN_BATCH}x{TRAIN_LEN}"
        else:
            beams, batch = LINES[line]
            what = (f"{'greedy' if beams == 1 else f'{beams}-beam'}, batch {batch}, "
                    f"{args.new_tokens} new")
        print(f"{line:<13} {what:<34} {ours['tokens_per_s']:12.1f} "
              f"{theirs['tokens_per_s']:12.1f} "
              f"{ours['tokens_per_s'] / theirs['tokens_per_s']:5.2f}x")
    print(f"\nratio = tiezoo tokens/s / transformers tokens/s; > 1.00x: tiezoo faster. "
          f"Total {time.perf_counter() - t_start:.0f} s.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{line}/{fw}": r for (line, fw), r in results.items()}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
