"""The ``zoo`` command line: ``zoo list``, ``zoo inspect CKPT``, ``zoo convert SRC DST``."""
import argparse
import sys


def _cmd_list(args):
    import zoo
    from zoo import _registry
    for name in zoo.list_models():
        entry = _registry.get_entry(name)
        cfg = entry.config
        fields = ", ".join(f"{k}={getattr(cfg, k)}" for k in ("num_layers", "units", "num_heads", "vocab_size")
                           if hasattr(cfg, k))
        print(f"{name:<16} {entry.family:<8} {fields}")
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
    p.set_defaults(func=_cmd_convert)
    return ap


def main(argv=None):
    from checkpoints import CheckpointError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CheckpointError as e:
        print(f"zoo {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
