"""Checkpoint conversion: Hugging Face folders, GluonNLP 0.10 and plain MXNet ``.params``,
tiezoo checkpoints, in every useful direction. Behind ``zoo convert`` and usable from Python::

    from zoo import convert
    convert.convert("hf-bert/", "bert.safetensors")                 # HF folder -> tiezoo
    convert.convert("bert.params", "hf-out/", dst_kind="hf")        # tiezoo -> HF folder
    convert.convert("gluon.params", "bert.params", model="bert_base")   # GluonNLP 0.10 -> tiezoo
    convert.convert("bert.params", "bert.safetensors")              # format change
    convert.convert("hf-electra-disc/", "electra.params",           # an HF pair -> one model
                    generator="hf-electra-gen/")
    convert.convert("electra.params", "disc/", dst_kind="hf",       # and back to the pair
                    generator="gen/")

Families: BERT, RoBERTa (``RobertaModel``, ``RobertaForMaskedLM``), ALBERT (``AlbertModel``,
``AlbertForMaskedLM``, ``AlbertForPreTraining``), ELECTRA (``ElectraModel``;
``ElectraForPreTraining`` alone = the discriminator + its RTD head; with
``ElectraForMaskedLM`` as ``generator=`` = the pretraining model), GPT-2 (``GPT2Model``,
``GPT2LMHeadModel``). The tokenizer files of a
Hugging Face folder (vocab.txt, spiece.model, vocab.json + merges.txt, tokenizer.json,
tokenizer_config.json, ...) travel as the checkpoint's ``tokenizer/`` assets, which
``zoo.get_tokenizer(ckpt)`` reads, and are written back into the folders made from it.

Every conversion goes through the tiezoo model itself: the source is loaded into a built
model of the variant its tensors call for (with ``checkpoints.load``: validated, tie-aware,
a foreign naming scheme mapped by ``rename=``), then written with ``checkpoints.save`` or as
a Hugging Face folder. So a tie is one tensor all the way (Hugging Face's absent
``cls.predictions.decoder.weight`` and GluonNLP's lone ``decoder.3.weight`` both land in
``word_embed.weight``), and nothing is written that the source did not hold: a parameter
the source lacks is an error, except optional blocks the family's table drops (the pooler
of ``BertForMaskedLM``).

This package is family-agnostic. Each family brings one *converter table* module (its
folder's ``convert.py``, the ``converter`` of its :class:`zoo.registry.Family`). A table
provides (``zoo/models/bert/convert.py`` is the reference)::

    FAMILY                      zoo family name ("bert")
    HF_MODEL_TYPES              Hugging Face config.json model_type values
    HF_ARCHITECTURES            {architecture: {...}} the architectures it converts
    FILE_DECIDES                config fields the tensors decide (vocab size, ...)
    config_from_hf(hf) / config_to_hf(cfg, arch)         config dicts
    hf_heads(arch, hf_config) -> heads                   get_model flags of an architecture
    hf_architecture(heads) -> arch                       the reverse
    hf_architecture_from_names(names) -> arch | None     for a config.json without one
    hf_config_extra(heads, hf_config) -> dict            num_labels & co. for task heads
    hf_to_tiezoo_name(name, arch, task) -> name | None   (None: a buffer; KeyError: unknown)
    tiezoo_to_hf_name(name, arch) -> name | None         (None: arch has no place for it)
    heads_from_names({tiezoo name: shape}) -> heads
    config_fields_from_shapes({tiezoo name: shape}) -> {field: value}
    drop_unloaded(block, missing) -> still missing
    is_gluonnlp_naming(names), gluonnlp_to_tiezoo_name(name)   (optional: GluonNLP 0.10)
    HF_TRANSPOSED               tiezoo names ({i}: a layer index) whose tensor is the
                                transpose of the Hugging Face one (GPT-2's Conv1D weights);
                                transposed on the way in and out
    HF_UNTIED_ALIASES           (optional) tied aliases written as copies of their canonical
                                into a folder whose config unties the word embeddings
                                (transformers 5 then ties nothing: BART's stack tables)
    HF_FLATTENED                tiezoo names whose tensor is the Hugging Face one flattened
                                (BART's final_logits_bias: (1, vocab) there, (vocab,) here)
    HF_PAIR = (main arch, second arch), HF_PAIR_PREFIX   (optional: a pretraining model that
                                Hugging Face keeps as two folders; the second folder's model
                                is the tiezoo block HF_PAIR_PREFIX; config_from_hf(hf, hf2))
    describe_heads(block, heads) -> [str]                (optional: for the printed summary)
    check_tokenizer(config, assets)                     (optional: ValueError when the
                                tokenizer files of a folder do not fit the model's vocabulary)

"heads" is the dict of ``zoo.get_model`` flags ``{use_mlm, use_nsp, task, num_classes}``.
"""
import os

from checkpoints import _mx_compat as mxc
from checkpoints import save, ties_of

from .. import registry
from .base import (ConversionError, Converted, UnsupportedArchitectureError, family_table,
                   supported_hf_architectures)
from .hf_folder import parse_size, save_hf
from .sources import (detect_kind, foreign_config_fields, foreign_rename, load_foreign, load_hf,
                      load_source, load_tiezoo, size_mismatch_error)

__all__ = ["ConversionError", "UnsupportedArchitectureError", "Converted", "convert",
           "load_source", "load_hf", "load_tiezoo", "load_foreign", "save_tiezoo", "save_hf",
           "hf_to_tiezoo", "tiezoo_to_hf", "gluonnlp_to_tiezoo", "mxnet_to_tiezoo",
           "detect_kind", "supported_hf_architectures", "family_table", "foreign_rename",
           "foreign_config_fields", "size_mismatch_error", "main"]


# ------------------------------------------------------------------------------- targets

def save_tiezoo(conv, dst):
    """Write a :class:`Converted` as a tiezoo checkpoint (``.params`` / ``.safetensors``)."""
    save(conv.block, os.fspath(dst), config=conv.config, assets=conv.assets)


# ------------------------------------------------------------------------- entry points

def _dst_kind(dst, dst_kind):
    if dst_kind not in (None, "tiezoo", "hf"):
        raise ConversionError(f"unknown target kind {dst_kind!r}; known: tiezoo, hf")
    if dst_kind == "hf":
        return "hf"
    if os.fspath(dst).lower().endswith((".params", ".safetensors")):
        return "tiezoo"
    if dst_kind == "tiezoo":
        raise ConversionError(f"{dst}: a tiezoo checkpoint ends in .params or .safetensors")
    raise ConversionError(f"{dst}: the target must end in .params or .safetensors (a tiezoo "
                          f"checkpoint), or pass --to hf (dst_kind='hf') for a Hugging Face "
                          f"folder")


def convert(src, dst, *, src_kind=None, dst_kind=None, model=None, architecture=None,
            generator=None, max_shard_size=None):
    """Convert ``src`` to ``dst``; returns the :class:`Converted` that was written.

    ``src``: a Hugging Face folder, a GluonNLP 0.10 / plain MXNet ``.params`` (needs
    ``model=PRESET``) or a tiezoo checkpoint; ``src_kind`` forces "hf" / "gluonnlp" /
    "mxnet" / "tiezoo". ``dst``: a ``.params`` / ``.safetensors`` path, or a folder with
    ``dst_kind="hf"`` (``architecture`` then overrides the one the heads call for).

    ``generator``: the second folder of a Hugging Face pair (ELECTRA: the pretraining model
    is an ``ElectraForPreTraining`` discriminator folder plus an ``ElectraForMaskedLM``
    generator folder). With a Hugging Face source it is read together with ``src`` (either
    order); with a Hugging Face target from another source, the generator is written there
    as well (``dst`` gets the discriminator).

    ``max_shard_size``: with a Hugging Face target, write weights larger than this (bytes,
    or a size such as ``"200MB"``) as shards plus ``model.safetensors.index.json``.
    """
    target = _dst_kind(dst, dst_kind)
    if max_shard_size is not None:
        if target != "hf":
            raise ConversionError("max_shard_size applies to Hugging Face targets only")
        try:
            max_shard_size = parse_size(max_shard_size)
        except ValueError as e:
            raise ConversionError(f"max shard size: {e}") from None
    kind = src_kind
    if generator is not None and kind is None:
        kind = detect_kind(src)
    if generator is not None and kind == "hf":
        if src_kind not in (None, "hf"):
            raise ConversionError("generator= pairs two Hugging Face folders")
        conv = load_hf(src, generator=generator)
        out_generator = None
    else:
        conv = load_source(src, kind=kind, model=model)
        out_generator = generator
    if target == "hf":
        arch = save_hf(conv, dst, architecture=architecture, max_shard_size=max_shard_size)
        conv.description_out = f"Hugging Face {arch}"
        if out_generator is not None:
            pair = getattr(conv.table, "HF_PAIR", None)
            if pair is None or arch != pair[0]:
                raise ConversionError(
                    f"generator= writes the second folder of a Hugging Face pair; "
                    f"{conv.family} {arch} has none")
            dropped, written = conv.dropped, conv.written
            save_hf(conv, out_generator, architecture=pair[1], max_shard_size=max_shard_size)
            conv.also_written.append((os.fspath(out_generator), f"Hugging Face {pair[1]}",
                                      conv.written))
            conv.dropped = [n for n in dropped if n in set(conv.dropped)]
            conv.written = written
    else:
        if architecture is not None:
            raise ConversionError("architecture= applies to Hugging Face targets only")
        if out_generator is not None:
            raise ConversionError("generator= names a Hugging Face folder: the source's "
                                  "second folder, or with --to hf the target's")
        save_tiezoo(conv, dst)
        ties = ties_of(conv.block)
        conv.written = sum(1 for n in mxc.structural_params(conv.block) if n not in ties)
        conv.description_out = f"tiezoo {os.path.splitext(os.fspath(dst))[1]}"
    return conv


def hf_to_tiezoo(src, dst):
    return convert(src, dst, src_kind="hf")


def tiezoo_to_hf(src, dst, *, architecture=None):
    return convert(src, dst, src_kind="tiezoo", dst_kind="hf", architecture=architecture)


def gluonnlp_to_tiezoo(src, dst, model):
    return convert(src, dst, src_kind="gluonnlp", model=model)


def mxnet_to_tiezoo(src, dst, model):
    return convert(src, dst, src_kind="mxnet", model=model)


def _summary(names, limit=4):
    """Names grouped by their first component where a group is long: ``generator.* (41)``."""
    groups = {}
    for n in names:
        groups.setdefault(n.split(".", 1)[0], []).append(n)
    out = []
    for head, members in groups.items():
        if len(members) > limit and any("." in m for m in members):
            out.append(f"{head}.* ({len(members)} tensors)")
        else:
            out.extend(members)
    return ", ".join(out)


def _tie_lines(ties):
    """One line per tie, except that the ties of one block to another (ALBERT's shared
    layer: ``encoder.layers.3.* -> encoder.layers.0.*``) are one line per block pattern."""
    import re
    blocks = {}          # (alias block, canonical block) -> count
    single = []
    for alias, canon in ties.items():
        a, c = alias.split("."), canon.split(".")
        k = 0
        while k < min(len(a), len(c)) and a[-1 - k] == c[-1 - k]:
            k += 1
        a_pre, c_pre = ".".join(a[:len(a) - k]), ".".join(c[:len(c) - k])
        if k and a_pre and c_pre:
            blocks.setdefault((a_pre, c_pre), []).append(alias)
        else:
            single.append((alias, canon))
    lines = []
    for (a_pre, c_pre), members in list(blocks.items()):
        if len(members) == 1:
            single.append((members[0], ties[members[0]]))
            del blocks[(a_pre, c_pre)]
    merged = {}          # (alias pattern, canonical block, count) -> [numbers]
    for (a_pre, c_pre), members in blocks.items():
        m = re.fullmatch(r"(.*\.)(\d+)", a_pre)
        if m:
            merged.setdefault((m.group(1), c_pre, len(members)), []).append(int(m.group(2)))
        else:
            lines.append(f"tie: {a_pre}.* -> {c_pre}.* ({len(members)} tensors, stored once)")
    for (stem, c_pre, count), numbers in merged.items():
        numbers.sort()
        if len(numbers) == 1:
            which = str(numbers[0])
        elif numbers == list(range(numbers[0], numbers[-1] + 1)):
            which = f"{{{numbers[0]}..{numbers[-1]}}}"
        else:
            which = "{" + ",".join(map(str, numbers)) + "}"
        lines.append(f"tie: {stem}{which}.* -> {c_pre}.* ({count} tensors each, stored once)")
    return [f"tie: {a} -> {c} (stored once)" for a, c in single] + lines


def main(args):
    """``zoo convert SRC DST [--from KIND] [--to hf] [--model PRESET] [--architecture ARCH]
    [--generator FOLDER] [--max-shard-size SIZE]`` (see zoo.cli)."""
    try:
        conv = convert(args.src, args.dst, src_kind=getattr(args, "src_kind", None),
                       dst_kind=getattr(args, "dst_kind", None),
                       model=getattr(args, "model", None),
                       architecture=getattr(args, "architecture", None),
                       generator=getattr(args, "generator", None),
                       max_shard_size=getattr(args, "max_shard_size", None))
    except registry.UnknownModelError as e:
        raise ConversionError(str(e)) from None
    print(f"{conv.source}: {conv}")
    print(f"  -> {args.dst} ({conv.description_out}): {conv.written} tensors")
    for path, what, written in conv.also_written:
        print(f"  -> {path} ({what}): {written} tensors")
    for line in _tie_lines(ties_of(conv.block)):
        print(f"  {line}")
    if conv.absent:
        print(f"  not in the source (left out): {_summary(conv.absent)}")
    if conv.dropped:
        print(f"  no place in the target (left out): {_summary(conv.dropped)}")
    if conv.assets:
        print(f"  assets: {', '.join(sorted(conv.assets))}")
    return 0
