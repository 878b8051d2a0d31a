"""Electra's config and presets (data)."""
import dataclasses
from typing import ClassVar, Optional

from ..bert.config import BertConfig

__all__ = ["ElectraConfig", "PRESETS", "DEFAULT_PRESET"]


@dataclasses.dataclass(frozen=True)
class ElectraConfig(BertConfig):
    """BERT's fields for the discriminator (``units`` = width, ``hidden_size`` = FFN width),
    ``embed_size`` (shared by both models), and the generator's width, FFN width, heads and
    depth (``generator_num_layers=None``: as deep as the discriminator)."""
    embed_size: int = 128
    generator_units: int = 64
    generator_hidden_size: int = 256
    generator_num_heads: int = 1
    generator_num_layers: Optional[int] = None

    family: ClassVar[str] = "electra"

    def __post_init__(self):
        super().__post_init__()
        for f in ("embed_size", "generator_units", "generator_hidden_size",
                  "generator_num_heads"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"ElectraConfig.{f} must be a positive int, got {v!r}")
        g = self.generator_num_layers
        if g is not None and (not isinstance(g, int) or isinstance(g, bool) or g < 1):
            raise ValueError(f"ElectraConfig.generator_num_layers must be None or a positive "
                             f"int, got {g!r}")
        if self.generator_units % self.generator_num_heads:
            raise ValueError(f"ElectraConfig: generator_units={self.generator_units} is not "
                             f"divisible by generator_num_heads={self.generator_num_heads}")

    def generator_config(self):
        """The generator as an ElectraConfig of its own (its width in ``units``, ...)."""
        return dataclasses.replace(
            self, units=self.generator_units, hidden_size=self.generator_hidden_size,
            num_heads=self.generator_num_heads,
            num_layers=self.generator_num_layers or self.num_layers)


# Presets: the published discriminator sizes (Clark et al. 2020, Table 6 / Hugging Face
# google/electra-*-discriminator), generators at the paper's sizes (1/4, 1/3, 1/4 of the
# discriminator width, 64-wide heads); and a test size. A checkpoint with another generator
# (e.g. Hugging Face's full-width electra-small-generator) loads through the family name
# "electra", which takes the checkpoint's own config.
_PRESETS = {
    "electra_tiny": dict(vocab_size=100, embed_size=16, units=32, hidden_size=64, num_layers=2,
                         num_heads=4, max_length=64, generator_units=16,
                         generator_hidden_size=32, generator_num_heads=2),
    "electra_small": dict(embed_size=128, units=256, hidden_size=1024, num_layers=12,
                          num_heads=4, generator_units=64, generator_hidden_size=256,
                          generator_num_heads=1),
    "electra_base": dict(embed_size=768, units=768, hidden_size=3072, num_layers=12,
                         num_heads=12, generator_units=256, generator_hidden_size=1024,
                         generator_num_heads=4),
    "electra_large": dict(embed_size=1024, units=1024, hidden_size=4096, num_layers=24,
                          num_heads=16, generator_units=256, generator_hidden_size=1024,
                          generator_num_heads=4),
}
PRESETS = {name: ElectraConfig(**size) for name, size in _PRESETS.items()}
DEFAULT_PRESET = "electra_base"
