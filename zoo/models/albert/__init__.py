"""ALBERT (Lan et al., 2020), one folder: factorized embedding and one transformer layer
shared by all layers (one ``@tied`` declaration). ``config.py``, ``model.py``, ``convert.py``
(Hugging Face names), ``pretrain.py`` (MLM + SOP); :data:`FAMILY` is what the rest of the
zoo knows of it."""
from ...registry import Family
from . import convert
from .config import DEFAULT_PRESET, PRESETS, AlbertConfig
from .model import AlbertForPretraining, AlbertForTask, AlbertModel, build_albert
from .pretrain import RECIPE

__all__ = ["FAMILY", "AlbertConfig", "AlbertModel", "AlbertForPretraining", "AlbertForTask",
           "build_albert"]

FAMILY = Family(
    name="albert", config_class=AlbertConfig, build=build_albert, presets=PRESETS,
    default_preset=DEFAULT_PRESET,
    flags={"use_mlm": "masked-LM head", "use_sop": "sentence-order-prediction head"},
    head_prefixes=("mlm_decoder.", "sop_classifier.", "head."),
    recipe=RECIPE, vocab_kind="sentencepiece", converter=convert,
    vocab_parameters=("word_embed.weight", "mlm_decoder.decoder.weight",
                      "mlm_decoder.decoder.bias"),
    file_decides=convert.FILE_DECIDES,
    description="ALBERT: factorized embedding, all layers shared, SentencePiece, MLM + SOP")
