"""T5's config and presets (data: the published sizes of T5 and T5 v1.1, and a test size)."""
import dataclasses
from typing import ClassVar, Optional

from heads._layers import ACTIVATIONS

from ...config import ModelConfig, check_positive_ints, check_probabilities
from ..bart.config import check_token_ids

__all__ = ["T5Config", "PRESETS", "DEFAULT_PRESET"]


@dataclasses.dataclass(frozen=True)
class T5Config(ModelConfig):
    """Everything that defines a T5; a preset is one instance of this.

    Field names are the zoo's (Hugging Face's in brackets): ``units`` (``d_model``),
    ``hidden_size`` the feed-forward width (``d_ff``), ``head_dim`` (``d_kv``; heads x
    head_dim need not equal units), ``num_layers`` the encoder's layers,
    ``num_decoder_layers`` (None: as many as the encoder). ``activation`` and
    ``gated_activation`` are ``feed_forward_proj``: ``"relu"`` (T5) is relu, ungated;
    ``"gated-gelu"`` (T5 v1.1) is the tanh GELU, gated (act(x W_gate) * x W_linear).
    ``max_length`` is the longest input the model was trained for (``n_positions``):
    relative positions do not stop it from reading more, the programs use it as their
    default limit. ``dropout`` is ``dropout_rate``, also applied to the attention weights.

    The head: ``tie_word_embeddings`` (the LM head reads the shared embedding) and
    ``scale_decoder_outputs`` (the decoder output is multiplied by units**-0.5 before the
    head) are both true for T5 and both false for T5 v1.1 and its descendants; older
    Hugging Face configs said both with ``tie_word_embeddings``, transformers 5 says the
    second with ``scale_decoder_outputs`` and lets the tensors say the first.
    """
    vocab_size: int = 32128
    units: int = 512
    hidden_size: int = 2048
    head_dim: int = 64
    num_layers: int = 6
    num_decoder_layers: Optional[int] = None
    num_heads: int = 8
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    max_length: int = 512
    dropout: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-6
    activation: str = "relu"
    gated_activation: bool = False
    initializer_factor: float = 1.0
    tie_word_embeddings: bool = True
    scale_decoder_outputs: bool = True
    pad_token_id: int = 0
    eos_token_id: int = 1
    decoder_start_token_id: int = 0

    family: ClassVar[str] = "t5"
    TRAINING_FIELDS: ClassVar[tuple] = ("dropout", "attention_dropout", "initializer_factor",
                                        "max_length")
    TOKEN_FIELDS: ClassVar[tuple] = ("pad_token_id", "eos_token_id", "decoder_start_token_id")

    def __post_init__(self):
        check_positive_ints(self, ("vocab_size", "units", "hidden_size", "head_dim",
                                   "num_layers", "num_heads", "relative_attention_num_buckets",
                                   "relative_attention_max_distance", "max_length"))
        if self.num_decoder_layers is not None:
            check_positive_ints(self, ("num_decoder_layers",))
        if self.relative_attention_num_buckets < 4:
            raise ValueError(f"T5Config.relative_attention_num_buckets must be at least 4, got "
                             f"{self.relative_attention_num_buckets}")
        check_probabilities(self, ("dropout", "attention_dropout"))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"T5Config.activation {self.activation!r} is not one of "
                             f"{sorted(ACTIVATIONS)}")
        for flag in ("gated_activation", "tie_word_embeddings", "scale_decoder_outputs"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"T5Config.{flag} must be a bool, got {getattr(self, flag)!r}")
        check_token_ids(self, self.TOKEN_FIELDS)

    @property
    def decoder_layers(self):
        return self.num_layers if self.num_decoder_layers is None else self.num_decoder_layers

    @property
    def max_positions(self):
        """The longest source the programs feed the model by default (see ``max_length``)."""
        return self.max_length


# The published sizes (Raffel et al., 2020; T5 v1.1 as released by Google): the
# 32128-entry SentencePiece vocabulary (32000 pieces, 100 sentinels, padding to a multiple
# of 128); T5: ReLU FFN, tied and scaled head; v1.1: gated GELU, untied, unscaled head.
# And a few-kilobyte model for tests and smoke runs (no dropout, which a model this small
# only slows down).
_T5 = dict(activation="relu", gated_activation=False, tie_word_embeddings=True,
           scale_decoder_outputs=True)
_V1_1 = dict(activation="gelu_tanh", gated_activation=True, tie_word_embeddings=False,
             scale_decoder_outputs=False)
_SIZES = {
    "t5_small": dict(units=512, hidden_size=2048, head_dim=64, num_layers=6, num_heads=8, **_T5),
    "t5_base": dict(units=768, hidden_size=3072, head_dim=64, num_layers=12, num_heads=12, **_T5),
    "t5_large": dict(units=1024, hidden_size=4096, head_dim=64, num_layers=24, num_heads=16,
                     **_T5),
    "t5_3b": dict(units=1024, hidden_size=16384, head_dim=128, num_layers=24, num_heads=32,
                  **_T5),
    "t5_11b": dict(units=1024, hidden_size=65536, head_dim=128, num_layers=24, num_heads=128,
                   **_T5),
    "t5_v1_1_small": dict(units=512, hidden_size=1024, head_dim=64, num_layers=8, num_heads=6,
                          **_V1_1),
    "t5_v1_1_base": dict(units=768, hidden_size=2048, head_dim=64, num_layers=12, num_heads=12,
                         **_V1_1),
    "t5_v1_1_large": dict(units=1024, hidden_size=2816, head_dim=64, num_layers=24,
                          num_heads=16, **_V1_1),
    "t5_v1_1_xl": dict(units=2048, hidden_size=5120, head_dim=64, num_layers=24, num_heads=32,
                       **_V1_1),
    "t5_v1_1_xxl": dict(units=4096, hidden_size=10240, head_dim=64, num_layers=24,
                        num_heads=64, **_V1_1),
}
PRESETS = {name: T5Config(**size) for name, size in _SIZES.items()}
PRESETS["t5_tiny"] = T5Config(vocab_size=100, units=32, hidden_size=64, head_dim=8,
                              num_layers=2, num_heads=4, relative_attention_num_buckets=16,
                              relative_attention_max_distance=32, max_length=64,
                              dropout=0.0, attention_dropout=0.0)
DEFAULT_PRESET = "t5_small"
