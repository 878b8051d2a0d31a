"""T5 (Raffel et al., 2020) and T5 v1.1, one folder: ``config.py`` (config and presets),
``layers.py`` (RMS LayerNorm, relative position buckets, encoder and decoder stacks),
``model.py`` (the model, its LM head, encoder-only variant), ``convert.py`` (Hugging Face
names), ``pretrain.py`` (span corruption); :data:`FAMILY` is what the rest of the zoo knows
of it. What T5 shares with BART
(attention, masks, incremental decoding) is zoo/encoder_decoder.py."""
from ...registry import ENCODER_DECODER, Family
from . import convert
from .config import DEFAULT_PRESET, PRESETS, T5Config
from .layers import RMSNorm, T5Decoder, T5DecoderLayer, T5Encoder, T5EncoderLayer
from .pretrain import RECIPE
from .model import TASKS, T5Model, build_t5

__all__ = ["FAMILY", "T5Config", "T5Model", "T5Encoder", "T5Decoder", "T5EncoderLayer",
           "T5DecoderLayer", "RMSNorm", "build_t5"]

FAMILY = Family(
    name="t5", config_class=T5Config, build=build_t5, presets=PRESETS,
    default_preset=DEFAULT_PRESET,
    flags={"use_lm": "language-model head", "encoder_only": "the encoder alone"},
    head_prefixes=("lm_head.",), kind=ENCODER_DECODER, tasks=TASKS, recipe=RECIPE,
    vocab_kind="sentencepiece", vocab_options={"layout": "t5"},
    converter=convert,
    vocab_parameters=("word_embed.weight", "lm_head.weight"),
    file_decides=convert.FILE_DECIDES,
    description="T5: pre-LN encoder-decoder, relative positions, SentencePiece, span corruption")
