"""What every part of the conversion driver shares: errors, the source container, and the
families' converter tables (read from the family registry, never from a list of names)."""
import dataclasses

from checkpoints import CheckpointError

from .. import registry

__all__ = ["ConversionError", "UnsupportedArchitectureError", "Converted", "family_table",
           "converter_families", "supported_hf_architectures", "build", "TOKENIZER_PREFIX",
           "HF_CONFIG_ASSET", "HF_PARTNER_CONFIG_ASSET", "HF_TOKENIZER_FILES", "KINDS"]

TOKENIZER_PREFIX = "tokenizer/"      # zoo.tokenizers.ASSET_PREFIX: how tokenizers travel
HF_CONFIG_ASSET = "hf/config.json"   # the source config.json, for labels & co. on the way back
# The config.json of the second folder of a pair (ELECTRA's generator), for the way back.
HF_PARTNER_CONFIG_ASSET = "hf/generator/config.json"
# Tokenizer files of a Hugging Face folder that are carried as assets.
HF_TOKENIZER_FILES = ("vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
                      "vocab.json", "merges.txt", "tokenizer_config.json",
                      "special_tokens_map.json", "added_tokens.json", "tokenizer.json")
KINDS = ("hf", "tiezoo", "gluonnlp", "mxnet")
_HF_DROP_CONFIG = ("architectures", "transformers_version", "_name_or_path", "torch_dtype",
                   "dtype")



class ConversionError(CheckpointError):
    """A source that cannot be converted; the message names the file and what is wrong."""


class UnsupportedArchitectureError(ConversionError):
    """A Hugging Face folder of an architecture no table converts; lists the supported ones."""


def converter_families():
    """``{family name: Family}`` of the registered families that have a converter table."""
    return {f.name: f for f in registry.families() if f.converter is not None}


def family_table(family):
    """The converter table of a zoo family (a name or a :class:`zoo.registry.Family`);
    ConversionError when there is none."""
    name = family.name if isinstance(family, registry.Family) else family
    families = converter_families()
    if name not in families:
        raise ConversionError(f"no converter for model family {name!r}; families with one: "
                              f"{', '.join(sorted(families))}")
    return families[name].converter


def supported_hf_architectures():
    return [arch for f in converter_families().values() for arch in f.converter.HF_ARCHITECTURES]


def build(family, config, heads):
    """The (uninitialized) model of ``family`` with the ``get_model`` switches in ``heads``
    (``{"use_mlm": ..., "task": ..., "num_classes": ...}``; false ones left out)."""
    return family.build(config, **{k: v for k, v in heads.items() if v})


@dataclasses.dataclass
class Converted:
    """A source loaded into a tiezoo model, ready to be written in any format.

    ``block``: the built model, every parameter filled from the source;
    ``heads``: its ``get_model`` flags; ``assets``: ``{name: bytes}`` (tokenizer files
    under ``tokenizer/``); ``hf_config``: the source's Hugging Face config, when it had one.
    """
    family: str
    config: object
    heads: dict
    block: object
    assets: dict
    source: str
    kind: str
    description: str = ""
    hf_config: dict = None
    hf_partner_config: dict = None     # the second folder's config of a pair (generator)
    absent: list = dataclasses.field(default_factory=list)    # optional, not in the source
    dropped: list = dataclasses.field(default_factory=list)   # no place in the target
    description_out: str = ""
    written: int = 0
    also_written: list = dataclasses.field(default_factory=list)   # [(path, what, tensors)]

    @property
    def table(self):
        return family_table(self.family)

    @property
    def family_spec(self):
        return registry.get_family(self.family)

    def __str__(self):
        c = self.config
        size = ", ".join(f"{k} {getattr(c, k)}" for k in ("num_layers", "units", "vocab_size")
                         if hasattr(c, k))
        describe = getattr(self.table, "describe_heads", None)
        if describe is not None:
            heads = describe(self.block, self.heads)
        else:
            heads = [k[4:] for k in ("use_mlm", "use_nsp", "use_sop") if self.heads.get(k)]
            if self.heads.get("task"):
                heads.append(self.heads["task"])
        return (f"{self.kind} {self.description or self.family} ({self.family}: {size}; heads: "
                f"{', '.join(heads) or 'none'})")

