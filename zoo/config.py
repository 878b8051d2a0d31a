"""What every family's config has in common: a frozen dataclass that round-trips through a
checkpoint's JSON metadata and knows which of its fields the tensors depend on.

A family's config subclasses :class:`ModelConfig` as a frozen dataclass, names its family in
the class variable ``family`` and lists the fields that change neither parameter shapes nor
the function a trained model computes in ``TRAINING_FIELDS``::

    @dataclasses.dataclass(frozen=True)
    class BertConfig(ModelConfig):
        units: int = 768
        ...
        family: ClassVar[str] = "bert"
        TRAINING_FIELDS: ClassVar[tuple] = ("dropout", "attention_dropout", "initializer_range")
"""
import dataclasses
from typing import ClassVar

__all__ = ["ModelConfig", "check_positive_ints", "check_probabilities"]


class ModelConfig:
    family: ClassVar[str] = ""
    TRAINING_FIELDS: ClassVar[tuple] = ()

    def to_dict(self):
        """A JSON-able dict, with ``family`` so that a checkpoint names its own builder."""
        return {"family": self.family, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d):
        """The config of a stored dict; fields the dict lacks (written by an older tiezoo)
        take their defaults, unknown fields are an error."""
        d = dict(d)
        family = d.pop("family", cls.family)
        if family != cls.family:
            raise ValueError(f"config of family {family!r} given to {cls.__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {unknown}; known: {sorted(known)}")
        return cls(**d)

    def architecture(self):
        """The fields that a checkpoint's tensors and outputs depend on."""
        return {k: v for k, v in dataclasses.asdict(self).items()
                if k not in self.TRAINING_FIELDS}

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def check_positive_ints(config, names):
    """``ValueError`` naming the first of ``names`` that is not a positive int."""
    for f in names:
        v = getattr(config, f)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{type(config).__name__}.{f} must be a positive int, got {v!r}")


def check_probabilities(config, names):
    """``ValueError`` naming the first of ``names`` outside [0, 1)."""
    for f in names:
        v = getattr(config, f)
        if not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
            raise ValueError(f"{type(config).__name__}.{f} must be in [0, 1), got {v!r}")
