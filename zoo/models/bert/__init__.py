"""BERT (Devlin et al., 2019), one folder: ``config.py`` (config and presets), ``layers.py``
(the transformer encoder every BERT-shaped family shares), ``model.py`` (backbone,
pretraining and task models), ``convert.py`` (Hugging Face and GluonNLP 0.10 names),
``pretrain.py`` (MLM + NSP); :data:`FAMILY` is what the rest of the zoo knows of it."""
from ...registry import Family
from . import convert
from .config import DEFAULT_PRESET, PRESETS, BertConfig
from .layers import BertEncoder, BertLayer, BertSelfAttention
from .model import BertForPretraining, BertForTask, BertModel, build_bert
from .pretrain import RECIPE

__all__ = ["FAMILY", "BertConfig", "BertModel", "BertForPretraining", "BertForTask",
           "BertEncoder", "BertLayer", "BertSelfAttention", "build_bert"]

FAMILY = Family(
    name="bert", config_class=BertConfig, build=build_bert, presets=PRESETS,
    default_preset=DEFAULT_PRESET,
    flags={"use_mlm": "masked-LM head", "use_nsp": "next-sentence-prediction head"},
    head_prefixes=("mlm_decoder.", "nsp_classifier.", "head."),
    recipe=RECIPE, vocab_kind="wordpiece", converter=convert,
    vocab_parameters=("word_embed.weight", "mlm_decoder.decoder.weight",
                      "mlm_decoder.decoder.bias"),
    file_decides=convert.FILE_DECIDES,
    description="BERT: post-LN encoder, WordPiece, MLM + NSP")
