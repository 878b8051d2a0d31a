"""GPT-2's config and presets (data: the published sizes and a test size)."""
import dataclasses
from typing import ClassVar

from heads._layers import ACTIVATIONS

from ...config import ModelConfig, check_positive_ints, check_probabilities

__all__ = ["GPT2Config", "PRESETS", "DEFAULT_PRESET"]


@dataclasses.dataclass(frozen=True)
class GPT2Config(ModelConfig):
    """Everything that defines a GPT-2; a preset is one instance of this.

    Field names are the zoo's (Hugging Face's in brackets): ``units`` is the model width
    (``n_embd``), ``hidden_size`` the feed-forward inner width (``n_inner``), ``max_length``
    the number of learned positions (``n_positions``). ``dropout`` is the residual dropout
    (``resid_pdrop``), ``embed_dropout`` the one after the embeddings (``embd_pdrop``).
    ``tie_word_embeddings``: the LM head reads the word embedding (Hugging Face's flag of
    the same name); ``False`` gives the head a weight of its own.
    """
    vocab_size: int = 50257
    units: int = 768
    hidden_size: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    max_length: int = 1024
    dropout: float = 0.1
    embed_dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-5
    activation: str = "gelu_tanh"     # Hugging Face's "gelu_new"
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True

    family: ClassVar[str] = "gpt2"
    # Fields that change neither parameter shapes nor the function a trained model computes.
    TRAINING_FIELDS: ClassVar[tuple] = ("dropout", "embed_dropout", "attention_dropout",
                                        "initializer_range")

    def __post_init__(self):
        check_positive_ints(self, ("vocab_size", "units", "hidden_size", "num_layers",
                                   "num_heads", "max_length"))
        if self.units % self.num_heads:
            raise ValueError(f"GPT2Config: units={self.units} is not divisible by "
                             f"num_heads={self.num_heads}")
        check_probabilities(self, ("dropout", "embed_dropout", "attention_dropout"))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"GPT2Config.activation {self.activation!r} is not one of "
                             f"{sorted(ACTIVATIONS)}")
        if not isinstance(self.tie_word_embeddings, bool):
            raise ValueError(f"GPT2Config.tie_word_embeddings must be a bool, got "
                             f"{self.tie_word_embeddings!r}")

    @property
    def max_positions(self):
        """The longest sequence (prompt plus generated tokens) the model takes."""
        return self.max_length


# The published sizes (Radford et al., 2019, as released: 124M, 355M, 774M, 1.5B), FFN width
# 4 x units, the 50257-token byte-level BPE vocabulary, 1024 positions; and a few-kilobyte
# model for tests and smoke runs (several layers and heads: every code path of a real one).
_SIZES = {
    "gpt2_small": dict(num_layers=12, units=768, num_heads=12),
    "gpt2_medium": dict(num_layers=24, units=1024, num_heads=16),
    "gpt2_large": dict(num_layers=36, units=1280, num_heads=20),
    "gpt2_xl": dict(num_layers=48, units=1600, num_heads=25),
}
PRESETS = {name: GPT2Config(hidden_size=4 * size["units"], **size)
           for name, size in _SIZES.items()}
PRESETS["gpt2_tiny"] = GPT2Config(vocab_size=100, units=32, hidden_size=64, num_layers=2,
                                  num_heads=4, max_length=64)
DEFAULT_PRESET = "gpt2_small"
