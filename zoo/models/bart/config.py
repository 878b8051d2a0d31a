"""BART's config and presets (data: the published sizes and a test size)."""
import dataclasses
from typing import ClassVar, Optional

from heads._layers import ACTIVATIONS

from ...config import ModelConfig, check_positive_ints, check_probabilities

__all__ = ["BartConfig", "PRESETS", "DEFAULT_PRESET", "POSITION_OFFSET", "check_token_ids"]

# BART's learned position tables have two rows more than positions: position p reads row
# p + 2 (a legacy of fairseq's padding-aware positions, kept by every BART checkpoint).
POSITION_OFFSET = 2


def check_token_ids(config, names):
    """``ValueError`` naming the first special-token id of ``names`` outside the vocabulary."""
    for f in names:
        v = getattr(config, f)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < config.vocab_size:
            raise ValueError(f"{type(config).__name__}.{f}={v!r} is not a token id of the "
                             f"vocabulary of {config.vocab_size}")


@dataclasses.dataclass(frozen=True)
class BartConfig(ModelConfig):
    """Everything that defines a BART; a preset is one instance of this.

    Field names are the zoo's (Hugging Face's in brackets): ``units`` (``d_model``),
    ``hidden_size`` the feed-forward width (``encoder_ffn_dim`` = ``decoder_ffn_dim``),
    ``num_layers`` the encoder's layers (``encoder_layers``), ``num_decoder_layers``
    (``decoder_layers``; None: as many as the encoder), ``max_length`` the positions of
    each stack (``max_position_embeddings``; the tables hold two rows more).
    ``scale_embedding``: token embeddings are multiplied by sqrt(units).
    ``tie_word_embeddings``: the LM head reads the shared word embedding; ``False`` gives it
    a weight of its own. The special-token ids are the tokenizer's: ``decoder_start_token_id``
    is the first decoder input (BART: the end-of-sequence id).
    """
    vocab_size: int = 50265
    units: int = 768
    hidden_size: int = 3072
    num_layers: int = 6
    num_decoder_layers: Optional[int] = None
    num_heads: int = 12
    max_length: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.1
    layer_norm_eps: float = 1e-5
    activation: str = "gelu"          # exact (erf) GELU
    initializer_range: float = 0.02
    scale_embedding: bool = False
    tie_word_embeddings: bool = True
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    decoder_start_token_id: int = 2

    family: ClassVar[str] = "bart"
    TRAINING_FIELDS: ClassVar[tuple] = ("dropout", "attention_dropout", "activation_dropout",
                                        "initializer_range")
    TOKEN_FIELDS: ClassVar[tuple] = ("pad_token_id", "bos_token_id", "eos_token_id",
                                     "decoder_start_token_id")

    def __post_init__(self):
        check_positive_ints(self, ("vocab_size", "units", "hidden_size", "num_layers",
                                   "num_heads", "max_length"))
        if self.num_decoder_layers is not None:
            check_positive_ints(self, ("num_decoder_layers",))
        if self.units % self.num_heads:
            raise ValueError(f"BartConfig: units={self.units} is not divisible by "
                             f"num_heads={self.num_heads}")
        check_probabilities(self, ("dropout", "attention_dropout", "activation_dropout"))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"BartConfig.activation {self.activation!r} is not one of "
                             f"{sorted(ACTIVATIONS)}")
        for flag in ("scale_embedding", "tie_word_embeddings"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"BartConfig.{flag} must be a bool, got {getattr(self, flag)!r}")
        check_token_ids(self, self.TOKEN_FIELDS)

    @property
    def decoder_layers(self):
        return self.num_layers if self.num_decoder_layers is None else self.num_decoder_layers

    @property
    def head_dim(self):
        return self.units // self.num_heads

    @property
    def max_positions(self):
        """The longest source (and target) the model takes."""
        return self.max_length


# The published sizes (Lewis et al., 2020, as released): the 50265-token byte-level BPE
# vocabulary, 1024 positions, FFN width 4 x units; and a few-kilobyte model for tests and
# smoke runs (several layers and heads: every code path of a real one; no dropout, which a
# model this small only slows down).
_SIZES = {
    "bart_base": dict(num_layers=6, units=768, num_heads=12),
    "bart_large": dict(num_layers=12, units=1024, num_heads=16),
}
PRESETS = {name: BartConfig(hidden_size=4 * size["units"], **size)
           for name, size in _SIZES.items()}
PRESETS["bart_tiny"] = BartConfig(vocab_size=100, units=32, hidden_size=64, num_layers=2,
                                  num_heads=4, max_length=64, dropout=0.0,
                                  attention_dropout=0.0, activation_dropout=0.0)
DEFAULT_PRESET = "bart_base"
