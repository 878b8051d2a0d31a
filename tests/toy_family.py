"""A model family defined outside ``zoo/``: the README's "Add a family" walk-through.

Everything the zoo knows of a family is the ``Family`` registered at the end; nothing in
``zoo/`` names it. ``TIEZOO_FAMILIES=toy_family`` (a module on the Python path) registers it
in the ``zoo`` programs too.
"""
import dataclasses
from typing import ClassVar

import mxnet as mx
from mxnet.gluon import HybridBlock, nn

import zoo
from checkpoints import tied
from heads import MLMHead, make_task_head
from zoo.config import ModelConfig
from zoo.recipes import MaskedLMRecipe


@dataclasses.dataclass(frozen=True)
class ToyConfig(ModelConfig):
    """A bag-of-embeddings encoder: word + position embeddings, one mixing layer."""
    vocab_size: int = 100
    units: int = 16
    max_length: int = 64
    num_layers: int = 1
    num_heads: int = 1
    dropout: float = 0.0

    family: ClassVar[str] = "toy"
    TRAINING_FIELDS: ClassVar[tuple] = ("dropout",)

    @property
    def max_positions(self):
        return self.max_length


@tied("mlm_decoder.decoder.weight", "word_embed.weight")
class ToyModel(HybridBlock):
    """``seq, pooled = model(inputs, token_types, valid_length)``: (B, L, U), (B, U)."""

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        self.word_embed = nn.Embedding(c.vocab_size, c.units)
        self.position_embed = nn.Embedding(c.max_length, c.units)
        self.mixer = nn.Dense(c.units, in_units=c.units, flatten=False, activation="tanh")

    def encode(self, F, inputs, token_types, valid_length):
        if token_types is not None:
            # the toy ignores token types, but a hybridized graph must consume every input
            inputs = inputs + F.zeros_like(token_types)
        positions = F.contrib.arange_like(inputs, axis=1)
        x = F.broadcast_add(self.word_embed(inputs),
                            F.expand_dims(self.position_embed(positions), axis=0))
        seq = self.mixer(x)
        mask = F.SequenceMask(F.ones_like(F.slice_axis(seq, axis=2, begin=0, end=1)),
                              sequence_length=valid_length, use_sequence_length=True, axis=1)
        pooled = F.broadcast_div(F.sum(F.broadcast_mul(seq, mask), axis=1), F.sum(mask, axis=1))
        return seq, pooled

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None):
        return self.encode(F, inputs, token_types, valid_length)


class ToyForPretraining(ToyModel):
    """``seq, pooled, mlm_scores = model(inputs, token_types, valid_length, masked_positions)``."""

    def __init__(self, config):
        super().__init__(config)
        self.mlm_decoder = MLMHead(config.units, config.vocab_size)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None,
                       masked_positions=None):
        seq, pooled = self.encode(F, inputs, token_types, valid_length)
        return seq, pooled, self.mlm_decoder(seq, masked_positions)


class ToyForTask(ToyModel):
    """The backbone plus a task head of :mod:`heads` as child ``head``."""

    def __init__(self, config, task, num_classes):
        super().__init__(config)
        self.head = make_task_head(task, config.units, num_classes=num_classes)

    def hybrid_forward(self, F, inputs, token_types=None, valid_length=None):
        seq, pooled = self.encode(F, inputs, token_types, valid_length)
        return self.head(seq, pooled, valid_length)


def build_toy(config, *, use_mlm=False, task=None, num_classes=None):
    if task is not None:
        return ToyForTask(config, task, num_classes)
    return ToyForPretraining(config) if use_mlm else ToyModel(config)


FAMILY = zoo.Family(
    name="toy", config_class=ToyConfig, build=build_toy,
    presets={"toy_tiny": ToyConfig()}, default_preset="toy_tiny",
    flags={"use_mlm": "masked-LM head"}, head_prefixes=("mlm_decoder.", "head."),
    tasks=("classification", "regression"), recipe=MaskedLMRecipe({"use_mlm": True}),
    vocab_kind="wordpiece", vocab_parameters=("word_embed.weight", "mlm_decoder.decoder.bias"))

zoo.register_family(FAMILY)
