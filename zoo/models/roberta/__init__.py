"""RoBERTa (Liu et al., 2019), one folder: BERT's encoder with fairseq's position ids and
no token types. ``config.py``, ``model.py``, ``convert.py`` (Hugging Face names),
``pretrain.py`` (MLM alone); :data:`FAMILY` is what the rest of the zoo knows of it."""
from ...registry import Family
from . import convert
from .config import DEFAULT_PRESET, PRESETS, RobertaConfig
from .model import RobertaForPretraining, RobertaForTask, RobertaModel, build_roberta
from .pretrain import RECIPE

__all__ = ["FAMILY", "RobertaConfig", "RobertaModel", "RobertaForPretraining",
           "RobertaForTask", "build_roberta"]

FAMILY = Family(
    name="roberta", config_class=RobertaConfig, build=build_roberta, presets=PRESETS,
    default_preset=DEFAULT_PRESET,
    flags={"use_mlm": "masked-LM head"},
    head_prefixes=("mlm_decoder.", "head."),
    recipe=RECIPE, vocab_kind="byte_bpe", vocab_options={"layout": "roberta"},
    converter=convert,
    vocab_parameters=("word_embed.weight", "mlm_decoder.decoder.weight",
                      "mlm_decoder.decoder.bias"),
    file_decides=convert.FILE_DECIDES,
    description="RoBERTa: BERT's encoder, byte-level BPE, MLM only")
