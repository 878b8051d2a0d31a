"""BERT's config and presets (data: the published sizes and a test size)."""
import dataclasses
from typing import ClassVar

from heads._layers import ACTIVATIONS

from ...config import ModelConfig, check_positive_ints, check_probabilities

__all__ = ["BertConfig", "PRESETS", "DEFAULT_PRESET"]


@dataclasses.dataclass(frozen=True)
class BertConfig(ModelConfig):
    """Everything that defines a BERT; a preset is one instance of this.

    ``units`` is the model width (Hugging Face ``hidden_size``); ``hidden_size`` is the
    feed-forward inner width (Hugging Face ``intermediate_size``), as in GluonNLP.
    ``tie_word_embeddings``: the MLM decoder reads the word embedding (Hugging Face's flag
    of the same name); ``False`` gives the decoder a weight of its own.
    """
    vocab_size: int = 30522
    units: int = 768
    hidden_size: int = 3072
    num_layers: int = 12
    num_heads: int = 12
    max_length: int = 512
    type_vocab_size: int = 2
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-12
    activation: str = "gelu"          # exact (erf) GELU
    initializer_range: float = 0.02   # std of the normal initializer of weights
    tie_word_embeddings: bool = True

    family: ClassVar[str] = "bert"
    # Fields that change neither parameter shapes nor the function a trained model computes.
    TRAINING_FIELDS: ClassVar[tuple] = ("dropout", "attention_dropout", "initializer_range")

    def __post_init__(self):
        check_positive_ints(self, ("vocab_size", "units", "hidden_size", "num_layers",
                                   "num_heads", "max_length", "type_vocab_size"))
        if self.units % self.num_heads:
            raise ValueError(f"{type(self).__name__}: units={self.units} is not divisible by "
                             f"num_heads={self.num_heads}")
        check_probabilities(self, ("dropout", "attention_dropout"))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"{type(self).__name__}.activation {self.activation!r} is not one "
                             f"of {sorted(ACTIVATIONS)}")
        if not isinstance(self.tie_word_embeddings, bool):
            raise ValueError(f"{type(self).__name__}.tie_word_embeddings must be a bool, got "
                             f"{self.tie_word_embeddings!r}")

    @property
    def max_positions(self):
        """The longest input (in tokens, specials included) the model takes."""
        return self.max_length


# The published BERT sizes (Devlin et al. 2019; Turc et al. 2019 for tiny..medium), FFN width
# 4 x units, uncased English WordPiece vocabulary size; and a few-kilobyte model for tests and
# smoke runs of the scripts (every code path of a real preset: 2 layers, several heads).
_SIZES = {
    "bert_tiny": dict(num_layers=2, units=128, num_heads=2),
    "bert_mini": dict(num_layers=4, units=256, num_heads=4),
    "bert_small": dict(num_layers=4, units=512, num_heads=8),
    "bert_medium": dict(num_layers=8, units=512, num_heads=8),
    "bert_base": dict(num_layers=12, units=768, num_heads=12),
    "bert_large": dict(num_layers=24, units=1024, num_heads=16),
}
PRESETS = {name: BertConfig(hidden_size=4 * size["units"], **size) for name, size in _SIZES.items()}
PRESETS["bert_test"] = BertConfig(vocab_size=100, units=32, hidden_size=64, num_layers=2,
                                  num_heads=4, max_length=64)
DEFAULT_PRESET = "bert_base"
