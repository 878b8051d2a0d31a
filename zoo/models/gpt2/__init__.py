"""GPT-2 (Radford et al., 2019), one folder: ``config.py`` (config and presets), ``layers.py``
(the pre-LN decoder layer, whole-sequence and one-token modes), ``model.py`` (backbone and
LM model), ``decoding.py`` (the key/value-cache session :func:`zoo.generate` drives),
``convert.py`` (Hugging Face names), ``pretrain.py`` (causal LM); :data:`FAMILY` is what the
rest of the zoo knows of it."""
from ...registry import DECODER, Family
from . import convert
from .config import DEFAULT_PRESET, PRESETS, GPT2Config
from .layers import GPT2Layer, GPT2SelfAttention
from .model import TASKS, GPT2ForCausalLM, GPT2Model, build_gpt2
from .pretrain import RECIPE

__all__ = ["FAMILY", "GPT2Config", "GPT2Model", "GPT2ForCausalLM", "GPT2Layer",
           "GPT2SelfAttention", "build_gpt2"]

FAMILY = Family(
    name="gpt2", config_class=GPT2Config, build=build_gpt2, presets=PRESETS,
    default_preset=DEFAULT_PRESET, flags={"use_lm": "language-model head"},
    head_prefixes=("lm_head.",), kind=DECODER, tasks=TASKS, recipe=RECIPE,
    vocab_kind="byte_bpe", vocab_options={"layout": "gpt2"}, converter=convert,
    vocab_parameters=("word_embed.weight", "lm_head.weight"),
    file_decides=convert.FILE_DECIDES,
    description="GPT-2: pre-LN decoder, byte-level BPE, causal LM")
