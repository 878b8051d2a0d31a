"""Exceptions raised by the checkpoint layer.

Every failure to read, verify or match a checkpoint is a :class:`CheckpointError` whose
message names the file and, where one is involved, the tensor.
"""


class CheckpointError(Exception):
    """A checkpoint could not be read, verified or matched to a model."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, malformed, hostile, or fails its checksums."""


class ShapeMismatchError(CheckpointError):
    """A tensor in the file does not fit the model parameter it maps to."""


class TieConflictError(CheckpointError):
    """A file holds an alias and its canonical tensor with different values."""


class TieError(ValueError):
    """A ``@tied`` declaration cannot be honoured by the built block.

    Raised at construction time: the canonical side is absent, the declarations form a
    cycle, or the two sides disagree on shape or dtype. The message names both paths.
    """
