"""ELECTRA (Clark et al., 2020), one folder: the discriminator backbone and, for
pretraining, a generator sharing its embedding tables. ``config.py``, ``model.py``,
``convert.py`` (Hugging Face names, generator + discriminator folder pairs), ``pretrain.py``
(generator MLM + replaced token detection); :data:`FAMILY` is what the rest of the zoo knows
of it."""
from ...registry import Family
from . import convert
from .config import DEFAULT_PRESET, PRESETS, ElectraConfig
from .model import (ElectraForPretraining, ElectraForTask, ElectraGenerator, ElectraModel,
                    build_electra)
from .pretrain import RECIPE

__all__ = ["FAMILY", "ElectraConfig", "ElectraModel", "ElectraGenerator",
           "ElectraForPretraining", "ElectraForTask", "build_electra"]

FAMILY = Family(
    name="electra", config_class=ElectraConfig, build=build_electra, presets=PRESETS,
    default_preset=DEFAULT_PRESET,
    flags={"use_mlm": "generator + replaced-token-detection pretraining model"},
    head_prefixes=("generator.", "rtd_classifier.", "head."),
    recipe=RECIPE, vocab_kind="wordpiece", converter=convert,
    vocab_parameters=("word_embed.weight", "generator.mlm_decoder.decoder.weight",
                      "generator.mlm_decoder.decoder.bias"),
    file_decides=convert.FILE_DECIDES,
    description="ELECTRA: discriminator backbone; generator shares its embeddings")
