"""RoBERTa's config and presets (data)."""
import dataclasses
from typing import ClassVar

from ..bert.config import BertConfig

__all__ = ["RobertaConfig", "PRESETS", "DEFAULT_PRESET"]


@dataclasses.dataclass(frozen=True)
class RobertaConfig(BertConfig):
    """BERT's fields (same meaning: ``units`` = width, ``hidden_size`` = FFN width) plus
    ``pad_token_id``, with RoBERTa's defaults."""
    vocab_size: int = 50265
    max_length: int = 514
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1

    family: ClassVar[str] = "roberta"

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"RobertaConfig.pad_token_id must be an id below vocab_size, got "
                             f"{self.pad_token_id!r}")
        if self.max_length <= self.pad_token_id + 1:
            raise ValueError(f"RobertaConfig.max_length={self.max_length} leaves no positions "
                             f"after the padding offset {self.pad_token_id + 1}")

    @property
    def max_positions(self):
        """Position ids start after the padding id (fairseq's offset): 512 of 514 rows."""
        return self.max_length - self.pad_token_id - 1


# Presets: the published sizes (fairseq / Hugging Face roberta-base, roberta-large) and a
# test-size model with every code path (several layers and heads, the position offset).
_PRESETS = {
    "roberta_tiny": dict(vocab_size=100, units=32, hidden_size=64, num_layers=2, num_heads=4,
                         max_length=66),
    "roberta_base": dict(units=768, hidden_size=3072, num_layers=12, num_heads=12),
    "roberta_large": dict(units=1024, hidden_size=4096, num_layers=24, num_heads=16),
}
PRESETS = {name: RobertaConfig(**size) for name, size in _PRESETS.items()}
DEFAULT_PRESET = "roberta_base"
