"""``zoo generate CKPT --prompt TEXT``: continue a text with a checkpoint's model and tokenizer,
printing the continuation as it is produced.

    zoo generate runs/gpt2/model.params --prompt "The module" --max-new-tokens 40
    zoo generate model.params --prompt "Return the" --do-sample --top-p 0.9 --seed 1
    zoo generate model.params --prompt "Return the" --num-beams 4

Greedy search and sampling print each token's text as soon as it is decoded (a byte-level
token that ends inside a UTF-8 character waits for the next one); beam search prints its
best sequence at the end. Generation stops at the tokenizer's end-of-text token
(``<|endoftext|>``) unless ``--eos-id`` names another or ``--no-eos`` is given.
"""
import argparse
import os
import sys

__all__ = ["main", "parse_args"]

def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="zoo generate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a tiezoo checkpoint of a decoder-only or "
                                       "encoder-decoder model, with its tokenizer")
    ap.add_argument("--prompt", required=True, help="the text to continue")
    ap.add_argument("--max-new-tokens", type=int, default=50)
    ap.add_argument("--num-beams", type=int, default=1, help="beam search with this many beams")
    ap.add_argument("--length-penalty", type=float, default=1.0,
                    help="beam search: hypothesis score = log-probability / length ** this")
    ap.add_argument("--do-sample", action="store_true", help="sample instead of searching")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0, help="sample among the k best (0: all)")
    ap.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass")
    ap.add_argument("--seed", type=int, help="makes sampling reproducible")
    eos = ap.add_mutually_exclusive_group()
    eos.add_argument("--eos-id", type=int, help="stop at this token id (default: the "
                                                "tokenizer's end-of-text token)")
    eos.add_argument("--no-eos", action="store_true", help="always produce --max-new-tokens")
    ap.add_argument("--echo", action="store_true", help="print the prompt before the "
                                                        "continuation")
    ap.add_argument("--ctx", default="cpu", help="cpu or gpu:N")
    return ap.parse_args(argv)


def load_generator(path, ctx):
    """``(model, tokenizer)`` of a checkpoint, the model with its LM head; UsageError when
    the checkpoint holds an encoder, lacks a tensor generation needs, or has no tokenizer."""
    import checkpoints
    import zoo
    from zoo import registry
    from zoo.training import UsageError
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such checkpoint")
    config = checkpoints.inspect(path).config or {}
    try:
        family = registry.family_of(config)
    except registry.UnknownModelError:
        raise UsageError(f"{path}: stores no model config of a registered family (a plain "
                         f"MXNet file?); convert it with zoo convert first") from None
    if family.kind == registry.ENCODER:
        raise UsageError(f"{path} holds a {family.name} model, an encoder; zoo generate needs "
                         f"a decoder-only or encoder-decoder model")
    flags = {"use_lm": True} if "use_lm" in family.flags else {}
    model = zoo.get_model(family.name, pretrained=path, ctx=ctx, **flags)
    missing = model.load_report.missing
    if missing:
        raise UsageError(f"{path}: lacks {', '.join(missing)}, which generation reads "
                         f"(a checkpoint saved without its untied LM head?)")
    return model, zoo.get_tokenizer(path)


class _TextStream:
    """Prints decoded text as tokens arrive: the whole continuation is decoded each time and
    only what is new (and not an unfinished UTF-8 character) is written."""

    def __init__(self, tokenizer, out):
        self.tokenizer, self.out = tokenizer, out
        self.ids, self.shown = [], ""

    def add(self, token, final=False):
        if token is not None:
            self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd") and not final:
            return
        if text.startswith(self.shown):
            self.out.write(text[len(self.shown):])
            self.out.flush()
            self.shown = text


def run(args):
    from zoo.generation import GenerationError, generate, stream
    from zoo.lm_data import end_of_text_id
    from zoo.tokenizers import TokenizerError
    from zoo.training import UsageError, parse_contexts
    ctx = parse_contexts(args.ctx)[0]
    try:
        model, tokenizer = load_generator(args.checkpoint, ctx)
    except TokenizerError as e:
        raise UsageError(f"{args.checkpoint}: no usable tokenizer ({e})") from None
    from zoo import registry
    if registry.family_of(model.config).kind == registry.ENCODER_DECODER:
        # the prompt is the encoder's source, with the special tokens the tokenizer adds
        prompt = tokenizer.encode_pair(args.prompt).ids
    else:
        prompt = tokenizer.encode(args.prompt)
    eos = None if args.no_eos else (args.eos_id if args.eos_id is not None
                                    else end_of_text_id(tokenizer))
    options = dict(max_new_tokens=args.max_new_tokens, do_sample=args.do_sample,
                   temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                   eos_id=eos, seed=args.seed, ctx=ctx)
    if args.echo:
        sys.stdout.write(args.prompt)
    shown = _TextStream(tokenizer, sys.stdout)
    try:
        if args.num_beams == 1:
            for token in stream(model, prompt, **options):
                if token != eos:
                    shown.add(token)
        else:
            options.update(num_beams=args.num_beams, length_penalty=args.length_penalty)
            shown.ids = [t for t in generate(model, [prompt], **options)[0] if t != eos]
    except GenerationError as e:
        raise UsageError(str(e)) from None
    shown.add(None, final=True)
    sys.stdout.write("\n")
    return 0


def main(argv=None):
    import checkpoints
    from zoo.training import UsageError
    args = parse_args(argv)
    try:
        return run(args)
    except (UsageError, checkpoints.CheckpointError) as e:
        print(f"zoo generate: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
