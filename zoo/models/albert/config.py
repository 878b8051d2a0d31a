"""Albert's config and presets (data)."""
import dataclasses
from typing import ClassVar

from ..bert.config import BertConfig

__all__ = ["AlbertConfig", "PRESETS", "DEFAULT_PRESET"]


@dataclasses.dataclass(frozen=True)
class AlbertConfig(BertConfig):
    """BERT's fields (``units`` = width, ``hidden_size`` = FFN width) plus ``embed_size``."""
    vocab_size: int = 30000
    embed_size: int = 128
    activation: str = "gelu_tanh"
    dropout: float = 0.0               # ALBERT v2 (and Hugging Face's AlbertConfig) use none
    attention_dropout: float = 0.0

    family: ClassVar[str] = "albert"

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.embed_size, int) or isinstance(self.embed_size, bool) \
                or self.embed_size < 1:
            raise ValueError(f"AlbertConfig.embed_size must be a positive int, got "
                             f"{self.embed_size!r}")


# Presets: the published ALBERT sizes (Lan et al. 2020, Table 1; Hugging Face albert-*-v2),
# FFN width 4 x units, 30000-piece SentencePiece vocabulary, embed_size 128; and a test size.
_PRESETS = {
    "albert_tiny": dict(vocab_size=100, embed_size=16, units=32, hidden_size=64, num_layers=3,
                        num_heads=4, max_length=64),
    "albert_base": dict(units=768, hidden_size=3072, num_layers=12, num_heads=12),
    "albert_large": dict(units=1024, hidden_size=4096, num_layers=24, num_heads=16),
    "albert_xlarge": dict(units=2048, hidden_size=8192, num_layers=24, num_heads=16),
}
PRESETS = {name: AlbertConfig(**size) for name, size in _PRESETS.items()}
DEFAULT_PRESET = "albert_base"
