"""ELECTRA (Clark et al., 2020): a discriminator backbone, and a generator that shares its
embedding tables for pretraining by replaced token detection.

* :class:`ElectraModel`, the discriminator, is the head-less backbone: embedding tables
  ``embed_size`` wide, ``embed_proj`` up to ``units`` when the two differ (Hugging Face's
  ``embeddings_project``), BERT's encoder, and no pooler parameters: ``pooled`` is the first
  position's vector (Hugging Face's task heads read ``sequence_output[:, 0]`` too).
  This is what users finetune, and what ``get_model("electra_*", pretrained=...)`` returns
  from any ELECTRA checkpoint, pretraining ones included (the generator's tensors are then
  reported unused; nothing the discriminator needs is missing).
* :class:`ElectraForPretraining` (``get_model(..., use_mlm=True)``) is that backbone, at the
  top level under the same names, plus ``generator`` (an :class:`ElectraGenerator`: a
  narrower ELECTRA with an MLM head) and ``rtd_classifier`` (replaced token detection). The
  generator's word, position and token-type tables are *the discriminator's*, declared with
  ``@tied("generator.word_embed", "word_embed")`` and so on, and its MLM decoder reads the
  same word table; the generator keeps its own embedding LayerNorm and projection, as the
  two Hugging Face models (``ElectraForMaskedLM`` and ``ElectraForPreTraining``) do.

Pretraining forward::

    seq, pooled, mlm_scores, rtd_scores, corrupted = model(
        inputs, token_types, valid_length, masked_positions[, replacements])

``inputs`` holds the masked text; the generator scores the masked positions
(``mlm_scores`` (B, P, vocab)); each masked position is then replaced by ``replacements``
(B, P) or, when that input is left out, by a token sampled from the generator's softmax
(no gradient flows through the sample); the discriminator reads the result (``corrupted``
(B, L), float32 ids) and scores every position (``rtd_scores`` (B, L), logits of
"replaced"). RTD labels are ``corrupted != original``; see :class:`heads.RTDLoss`.
Pad ``masked_positions`` by repeating a real masked position: every listed position is
rewritten.
"""
import dataclasses
from typing import ClassVar, Optional

from checkpoints import tied
from heads import MLMHead, RTDHead

from ._registry import register_model
from ._task import TaskModelMixin, task_head_for
from ._transformer import TransformerModel, check_heads
from .bert import BertConfig

__all__ = ["ElectraConfig", "ElectraModel", "ElectraGenerator", "ElectraForPretraining",
           "ElectraForTask", "build_electra"]


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


class ElectraModel(TransformerModel):
    """The ELECTRA discriminator backbone: ``seq, pooled = model(inputs, token_types,
    valid_length)``, pooled = ``seq[:, 0]``."""

    pooler_kind = "first"


class ElectraGenerator(ElectraModel):
    """A (narrow) ELECTRA with the MLM head: ``mlm_scores = gen(inputs, token_types,
    valid_length, masked_positions)``. Hugging Face's ``ElectraForMaskedLM``."""

    def __init__(self, config):
        super().__init__(config, use_pooler=False)
        c = config
        # Hugging Face's ElectraGeneratorPredictions uses the exact GELU whatever hidden_act is
        self.mlm_decoder = MLMHead(c.units, c.vocab_size, activation="gelu",
                                   layer_norm_eps=c.layer_norm_eps,
                                   initializer_range=c.initializer_range,
                                   embed_size=c.embed_size)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None,
                       masked_positions=None):
        seq, _ = self.encode(F, inputs, token_types, valid_length)
        return self.mlm_decoder(seq, masked_positions)


def _replace_positions(F, inputs, masked_positions, replacements):
    """``inputs`` (B, L) with ``inputs[b, masked_positions[b, p]] = replacements[b, p]``,
    as float32 (hybridizable: no shapes are needed).

    Position 0 is the [CLS] token, which is never masked, so it marks padding of
    ``masked_positions`` (as in :mod:`zoo.data`) and is never replaced.
    """
    positions = F.expand_dims(F.cast(masked_positions, "float32"), axis=2)           # (B, P, 1)
    steps = F.reshape(F.contrib.arange_like(inputs, axis=1), shape=(1, 1, -1))        # (1, 1, L)
    hit = F.broadcast_mul(F.broadcast_equal(positions, steps), positions > 0)         # (B, P, L)
    is_masked = F.max(hit, axis=1)                                                     # (B, L)
    values = F.expand_dims(F.cast(replacements, "float32") + 1, axis=2)               # (B, P, 1)
    new = F.max(F.broadcast_mul(hit, values), axis=1) - 1                              # (B, L)
    return F.where(is_masked, new, F.cast(inputs, "float32"))


@tied("generator.word_embed", "word_embed")
@tied("generator.position_embed", "position_embed")
@tied("generator.token_type_embed", "token_type_embed")
@tied("generator.mlm_decoder.decoder.weight", "word_embed.weight")
class ElectraForPretraining(ElectraModel):
    """Discriminator (top level) + ``generator`` + ``rtd_classifier``; see the module doc."""

    def __init__(self, config):
        super().__init__(config)
        c = config
        self.generator = ElectraGenerator(c.generator_config())
        self.rtd_classifier = RTDHead(c.units, activation=c.activation,
                                      initializer_range=c.initializer_range)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None,
                       masked_positions=None, replacements=None):
        """-> ``seq, pooled, mlm_scores, rtd_scores, corrupted`` (see the module doc)."""
        mlm_scores = self.generator(inputs, token_types, valid_length, masked_positions)
        if masked_positions is None:
            corrupted = F.cast(inputs, "float32")
        else:
            if replacements is None:
                probs = F.softmax(F.BlockGrad(mlm_scores), axis=-1)
                replacements = F.sample_multinomial(probs)                             # (B, P)
            corrupted = _replace_positions(F, inputs, masked_positions, replacements)
        seq, pooled = self.encode(F, corrupted, token_types, valid_length)
        return seq, pooled, mlm_scores, self.rtd_classifier(seq), corrupted


class ElectraForTask(TaskModelMixin, ElectraModel):
    """The discriminator plus one task head (see :mod:`heads`), as child ``head``."""



def build_electra(config, *, use_mlm=False, use_nsp=False, task=None, num_classes=None):
    """The registry builder: ``use_mlm=True`` gives the pretraining model (generator + RTD)."""
    if use_nsp:
        raise ValueError("ELECTRA has no next-sentence-prediction head (use_nsp); "
                         "use_mlm=True gives the generator + discriminator pretraining model")
    check_heads("electra", task, num_classes, use_mlm=use_mlm)
    if task is not None:
        return ElectraForTask(config, task_head_for(config, task, num_classes))
    return ElectraForPretraining(config) if use_mlm else ElectraModel(config)


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
for _name, _size in _PRESETS.items():
    register_model(_name, "electra", build_electra, ElectraConfig(**_size),
                   family_default=(_name == "electra_base"))
