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
from checkpoints import tied
from heads import RTDHead

from ..bert.model import BertModel, TaskModelMixin, check_heads, mlm_head, task_head_for

__all__ = ["ElectraModel", "ElectraGenerator", "ElectraForPretraining", "ElectraForTask",
           "build_electra"]


class ElectraModel(BertModel):
    """The ELECTRA discriminator backbone: ``seq, pooled = model(inputs, token_types,
    valid_length)``, pooled = ``seq[:, 0]``."""

    pooler_kind = "first"


class ElectraGenerator(ElectraModel):
    """A (narrow) ELECTRA with the MLM head: ``mlm_scores = gen(inputs, token_types,
    valid_length, masked_positions)``. Hugging Face's ``ElectraForMaskedLM``."""

    def __init__(self, config):
        super().__init__(config, use_pooler=False)
        # Hugging Face's ElectraGeneratorPredictions uses the exact GELU whatever hidden_act is
        self.mlm_decoder = mlm_head(config, activation="gelu")

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
@tied("generator.mlm_decoder.decoder.weight", "word_embed.weight", when="tie_word_embeddings")
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


def build_electra(config, *, use_mlm=False, task=None, num_classes=None):
    """The family's builder: ``use_mlm=True`` gives the pretraining model (generator + RTD)."""
    check_heads("electra", task, num_classes, use_mlm=use_mlm)
    if task is not None:
        return ElectraForTask(config, task_head_for(config, task, num_classes))
    return ElectraForPretraining(config) if use_mlm else ElectraModel(config)
