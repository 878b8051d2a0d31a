"""The ``zoo`` command line: ``zoo list``, ``zoo inspect CKPT``, ``zoo convert SRC DST``,
``zoo build-vocab``, and the programs ``zoo pretrain``, ``zoo finetune``, ``zoo predict``,
``zoo launch`` (each its own module here; ``scripts/*.py`` are thin wrappers for a source checkout)."""
import argparse
import sys


def _count(block):
    """Distinct parameter values of an uninitialized block (shapes are known; tied ones once)."""
    from checkpoints import _mx_compat as mxc
    seen, total = set(), 0
    for p in mxc.structural_params(block).values():
        if id(p) not in seen:
            seen.add(id(p))
            n = 1
            for d in p.shape:
                n *= d
            total += n
    return total


def _sharing(block):
    """The model's own tie declarations that tie something, as ``alias = canonical``."""
    from checkpoints.ties import active_declarations
    decls = [d for path, d in active_declarations(block) if path == ""]
    return "; ".join(f"{d.alias} = {d.canonical}" for d in decls) or "none"


def _cmd_list(args):
    import zoo
    from zoo import registry
    print(f"{'preset':<15} {'family':<8} {'layers':>6} {'units':>5} {'heads':>5} {'vocab':>6} "
          f"{'backbone':>10} {'pretrain':>10}  ties (pretraining model)")
    for name in zoo.list_models():
        family, cfg = registry.resolve(name)
        backbone = family.build(cfg)                                # not initialized
        pretrain = family.build(cfg, **family.pretraining_flags)
        size = [getattr(cfg, k, "-") for k in ("num_layers", "units", "num_heads", "vocab_size")]
        print(f"{name:<15} {family.name:<8} {size[0]:>6} {size[1]:>5} {size[2]:>5} {size[3]:>6} "
              f"{_count(backbone) / 1e6:>9.2f}M {_count(pretrain) / 1e6:>9.2f}M  "
              f"{_sharing(pretrain)}")
    return 0


def _cmd_inspect(args):
    from checkpoints import inspect
    info = inspect(args.checkpoint, verify=not args.no_verify)
    print(info)
    if info.format_version and not args.no_verify:
        print(f"  checksums: all {len(info.tensors)} tensors verified (crc32)")
    return 0


def _cmd_convert(args):
    from zoo import convert
    return convert.main(args)


def build_parser():
    ap = argparse.ArgumentParser(prog="zoo", description="tiezoo model zoo and checkpoint tools")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, (_module, what) in PROGRAMS.items():
        sub.add_parser(name, help=f"{what} (zoo {name} --help)", add_help=False)
    p = sub.add_parser("list", help="list the registered model presets")
    p.set_defaults(func=_cmd_list)
    p = sub.add_parser("inspect", help="show a checkpoint's tensors, ties and config; verify checksums")
    p.add_argument("checkpoint")
    p.add_argument("--no-verify", action="store_true", help="skip reading tensor data for crc32 checks")
    p.set_defaults(func=_cmd_inspect)
    p = sub.add_parser("convert", help="convert between Hugging Face, GluonNLP 0.10, MXNet and tiezoo files")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--from", dest="src_kind", choices=["hf", "gluonnlp", "mxnet", "tiezoo"])
    p.add_argument("--to", dest="dst_kind", choices=["tiezoo", "hf"])
    p.add_argument("--model", help="preset name, for files that store no config")
    p.add_argument("--architecture", metavar="ARCH",
                   help="with --to hf: the Hugging Face architecture to write (default: the "
                        "one the checkpoint's heads call for), e.g. ElectraModel, "
                        "ElectraForMaskedLM, AlbertModel")
    p.add_argument("--generator", metavar="FOLDER",
                   help="ELECTRA: the generator's Hugging Face folder (ElectraForMaskedLM). "
                        "With a Hugging Face SRC (the ElectraForPreTraining discriminator) "
                        "both are read into one pretraining checkpoint; with --to hf the "
                        "generator is also written to FOLDER")
    p.add_argument("--max-shard-size", metavar="SIZE",
                   help="with --to hf: write weights larger than SIZE (e.g. 200MB, 5GB, "
                        "2GiB) as model-0000k-of-0000n.safetensors shards plus "
                        "model.safetensors.index.json")
    p.set_defaults(func=_cmd_convert)
    from zoo.cli import vocab as vocab_cli
    vocab_cli.add_parser(sub)
    return ap


# Programs with option sets of their own: ``zoo NAME ARGS...`` runs ``module.main(ARGS)``.
PROGRAMS = {"pretrain": ("zoo.cli.pretrain", "pretrain a model from raw text"),
            "finetune": ("zoo.cli.finetune", "finetune a checkpoint on a task"),
            "predict": ("zoo.cli.finetune", "predict with a finetuned checkpoint"),
            "launch": ("zoo.cli.launch", "start a distributed job and make sure all of it ends"),
            "generate": ("zoo.cli.generate", "continue a text with a decoder model")}


def _run_program(name, argv):
    import importlib
    module = importlib.import_module(PROGRAMS[name][0])
    return module.main(["predict", *argv] if name == "predict" else list(argv))


def main(argv=None):
    from checkpoints import CheckpointError
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PROGRAMS:
        return _run_program(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CheckpointError as e:
        print(f"zoo {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
