r"""Finetune a zoo model from any tiezoo checkpoint on classification, regression, token
tagging or extractive QA (or any task registered with ``zoo.tasks.register_task``); predict
with the result.

    zoo finetune --task classification --pretrained runs/bert/model.params \
        --train train.tsv --dev dev.tsv --output runs/sst --epochs 3
    zoo predict --model runs/sst/model.params --input test.tsv --output test.predictions.jsonl

Data (see zoo/tasks/data.py): classification / regression from TSV or CSV with a header, or
JSON lines (--text-column, --text-pair-column, --label-column; by default the first of text /
sentence / sentence1 and, if present, text_pair / sentence2 / text_b, and label); tagging
from CoNLL-style files (token and BIO tag columns, blank line between sentences); QA from
SQuAD v1.1 / v2.0 JSON (unanswerable questions: v2.0, detected from the training file;
contexts longer than the model are read in windows --doc-stride tokens apart).

The model is ``zoo.get_model(FAMILY, pretrained=CKPT, task=..., num_classes=...)``, the family
and size read from the checkpoint; its load report is printed (the new head listed as
missing, pretraining heads as unused). A finetuned checkpoint of the same task and labels
continues with its head. The tokenizer is the checkpoint's own (--vocab for a file without
one). All data is read, encoded and checked before training starts: a problem (missing
column, malformed JSON, a dev label unseen in training, a sequence longer than the model
with --truncation none, an empty file) is one line ``finetune.py: error: FILE:LINE: ...``
and exit status 2, and nothing is written. An --output folder that holds a previous run is
refused unless --overwrite says to replace it.

Writes ``OUTPUT/metrics.jsonl`` (train lines ``{"split": "train", "step", "loss", "lr"}``;
evaluation lines ``{"split": "dev", "step", <metrics>}``: accuracy, f1, macro_f1, mcc |
spearman, pearson, mse | f1, precision, recall, accuracy (entity-level) | exact_match, f1),
``OUTPUT/metrics.png``, the best model (by --metric on dev) at ``OUTPUT/model.params`` with its
config, tokenizer and task description (labels, columns, lengths), so ``predict`` rebuilds
everything from the one file, ``OUTPUT/dev_predictions.jsonl`` (``.json`` for QA) from the
best model, and ``OUTPUT/results.json`` (best step, its dev metrics, the task's trivial baseline).
"""
import argparse
import json
import sys

import checkpoints
from zoo import tasks, training
from zoo.tasks import FinetuneOptions, TaskDataError
from zoo.tokenizers import TokenizerError
from zoo.training import UsageError

PROG = "finetune.py"
COLUMN_OPTIONS = ("format", "delimiter", "text_column", "text_pair_column", "label_column",
                  "token_column", "tag_column")


def _data_options(ap):
    g = ap.add_argument_group("data columns and formats")
    g.add_argument("--format", choices=["auto", "tsv", "csv", "jsonl"], default=None,
                   help="classification/regression file format (default: from the extension)")
    g.add_argument("--delimiter", help="field delimiter of a CSV/TSV file (default: by format)")
    g.add_argument("--text-column", help="column of the (first) sentence (default: the first "
                   f"of {', '.join(tasks.TEXT_COLUMNS)})")
    g.add_argument("--text-pair-column", help="column of the second sentence of a pair "
                   f"(default: the first of {', '.join(tasks.PAIR_COLUMNS)} if present)")
    g.add_argument("--label-column", default=None, help="label / target column (default: label)")
    g.add_argument("--token-column", type=int, default=None,
                   help="tagging: CoNLL column of the token (default 0)")
    g.add_argument("--tag-column", type=int, default=None,
                   help="tagging: CoNLL column of the BIO tag (default -1, the last)")


def _columns(args):
    return {k: getattr(args, k) for k in COLUMN_OPTIONS if getattr(args, k) is not None}


def finetune_parser():
    ap = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Prediction: finetune.py predict --help")
    g = ap.add_argument_group("task and model")
    g.add_argument("--task", choices=tasks.list_tasks(), required=True)
    g.add_argument("--pretrained", required=True, metavar="CKPT",
                   help="tiezoo checkpoint (pretraining or finetuned; .params/.safetensors), a "
                        "GluonNLP 0.10 / plain MXNet .params (with --model), or a Hugging Face "
                        "folder (converted to OUTPUT/pretrained.params first)")
    g.add_argument("--model", metavar="PRESET", help="zoo preset or family; needed only for a "
                   "checkpoint without a stored config (plain MXNet / GluonNLP 0.10 files)")
    g.add_argument("--vocab", metavar="PATH", help="tokenizer (vocab.txt, .model, HF folder) for "
                   "a checkpoint that stores none")
    g.add_argument("--override", action="append", default=[], metavar="FIELD=VALUE",
                   help="config override that leaves the weights' shapes alone, e.g. "
                        "--override dropout=0.2 (repeatable)")
    g = ap.add_argument_group("data")
    g.add_argument("--train", required=True, metavar="FILE")
    g.add_argument("--dev", metavar="FILE", help="evaluation file (without one the last model "
                   "is saved)")
    g.add_argument("--max-seq-length", type=int, default=None,
                   help="tokens per sequence, special tokens included (default 128, or the "
                        "model's positions when fewer)")
    g.add_argument("--truncation", choices=tasks.TRUNCATIONS, default="longest_first",
                   help="how an over-long input is shortened; none: it is an error (default "
                        "longest_first; tagging splits long sentences into chunks, QA reads "
                        "long contexts in windows either way)")
    _data_options(ap)
    for name in tasks.list_tasks():
        tasks.get_task(name).add_arguments(ap)
    g = ap.add_argument_group("optimization")
    stop = g.add_mutually_exclusive_group()
    stop.add_argument("--max-steps", type=int, help="optimizer steps")
    stop.add_argument("--epochs", type=float, help="passes over the training data (default 3)")
    g.add_argument("--batch-size", type=int, default=32)
    g.add_argument("--eval-batch-size", type=int, default=64)
    g.add_argument("--lr", type=float, default=5e-5)
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--warmup-ratio", type=float, default=0.1,
                   help="warmup steps as a fraction of all steps (default 0.1)")
    g.add_argument("--warmup-steps", type=int, help="instead of --warmup-ratio")
    g.add_argument("--decay", choices=["linear", "constant"], default="linear")
    g.add_argument("--layerwise-decay", type=float, default=None, metavar="FACTOR",
                   help="layer-wise lr decay: encoder layer i of N gets lr * FACTOR^(N-i), the "
                        "embeddings lr * FACTOR^(N+1), heads and pooler lr (e.g. 0.8)")
    g.add_argument("--clip-grad", type=float, default=1.0, help="global norm clip (0: off)")
    g = ap.add_argument_group("evaluation, checkpoints and logging")
    g.add_argument("--output", required=True, metavar="DIR")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the previous run in --output (finetuning does not resume)")
    g.add_argument("--eval-every", type=int, default=0,
                   help="evaluate on --dev every N steps (default: once per epoch); and at the end")
    g.add_argument("--metric", help="dev metric that picks the best model (default: the "
                   "task's: accuracy | spearman | f1 | f1)")
    g.add_argument("--patience", type=int, default=0,
                   help="stop after N evaluations without improvement (0: never)")
    g.add_argument("--log-every", type=int, default=10)
    g.add_argument("--save-format", choices=[".params", ".safetensors"], default=".params",
                   help="file format of the best model (default .params)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--ctx", default="cpu", help="cpu or gpu:N")
    g.add_argument("--no-hybridize", action="store_true")
    g.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return ap


def finetune_options(args):
    """The parsed command line as :class:`zoo.tasks.FinetuneOptions`."""
    task_class = tasks.get_task(args.task)
    same = ("task", "pretrained", "train", "output", "dev", "model", "vocab", "max_seq_length",
            "truncation", "max_steps", "epochs", "batch_size", "eval_batch_size", "lr",
            "weight_decay", "warmup_ratio", "warmup_steps", "decay", "layerwise_decay",
            "clip_grad", "eval_every", "metric", "patience", "log_every", "save_format", "seed",
            "ctx", "overwrite")
    return FinetuneOptions(
        **{k: getattr(args, k) for k in same},
        overrides=training.parse_overrides(args.override), columns=_columns(args),
        task_options={k: getattr(args, k) for k in task_class.option_defaults},
        hybridize=not args.no_hybridize, progress=not args.no_progress)


def predict_parser():
    ap = argparse.ArgumentParser(
        prog=f"{PROG} predict",
        description="Predict with a finetuned checkpoint: the task, labels, tokenizer, columns "
                    "and lengths all come from the checkpoint. Classification/regression/tagging "
                    "write JSON lines (tagging: CoNLL when OUTPUT ends in .conll or .txt), QA a "
                    "SQuAD prediction JSON {id: answer}. When the input has labels, the metrics "
                    "are printed too.")
    ap.add_argument("--model", required=True, metavar="CKPT", help="a checkpoint written by "
                    "finetune.py")
    ap.add_argument("--input", required=True, metavar="FILE")
    ap.add_argument("--output", required=True, metavar="FILE")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--ctx", default="cpu")
    ap.add_argument("--no-hybridize", action="store_true")
    _data_options(ap)
    return ap


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    mode = "train"
    if argv and argv[0] in ("predict", "train"):
        mode = argv.pop(0)
    try:
        if mode == "predict":
            args = predict_parser().parse_args(argv)
            metrics, _ = tasks.predict(args.model, args.input, args.output,
                                       batch_size=args.batch_size, ctx=args.ctx,
                                       hybridize=not args.no_hybridize, columns=_columns(args),
                                       overwrite=args.overwrite)
            if metrics:
                print(json.dumps(metrics, sort_keys=True))
        else:
            tasks.finetune(finetune_options(finetune_parser().parse_args(argv)))
    except (UsageError, TaskDataError, TokenizerError, checkpoints.CheckpointError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
