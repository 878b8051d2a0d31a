"""BART (Lewis et al., 2020), one folder: ``config.py`` (config and presets), ``layers.py``
(encoder and decoder stacks), ``model.py`` (the model, its LM head, encoder-only variant),
``convert.py`` (Hugging Face names), ``pretrain.py`` (text infilling); :data:`FAMILY` is what
the rest of the zoo knows of it. What BART shares with T5 (attention, masks, incremental
decoding) is zoo/encoder_decoder.py."""
from ...registry import ENCODER_DECODER, Family
from . import convert
from .config import DEFAULT_PRESET, PRESETS, BartConfig
from .layers import BartDecoder, BartDecoderLayer, BartEncoder, BartEncoderLayer
from .pretrain import RECIPE
from .model import TASKS, BartModel, build_bart

__all__ = ["FAMILY", "BartConfig", "BartModel", "BartEncoder", "BartDecoder",
           "BartEncoderLayer", "BartDecoderLayer", "build_bart"]

FAMILY = Family(
    name="bart", config_class=BartConfig, build=build_bart, presets=PRESETS,
    default_preset=DEFAULT_PRESET,
    flags={"use_lm": "language-model head", "encoder_only": "the encoder alone"},
    head_prefixes=("lm_head.",), kind=ENCODER_DECODER, tasks=TASKS, recipe=RECIPE,
    vocab_kind="byte_bpe", vocab_options={"layout": "roberta"},
    converter=convert,
    vocab_parameters=("word_embed.weight", "lm_head.weight", "lm_head.bias"),
    file_decides=convert.FILE_DECIDES,
    description="BART: post-LN encoder-decoder, byte-level BPE, denoising")
