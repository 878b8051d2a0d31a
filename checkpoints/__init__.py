"""Tie-aware checkpoints: declare shared parameters once, save each tensor once, load anywhere."""
from .errors import (CheckpointError, CorruptCheckpointError, ShapeMismatchError,
                     TieConflictError, TieError)
from .ties import tied, ties_of

__all__ = ["tied", "ties_of", "CheckpointError", "CorruptCheckpointError",
           "ShapeMismatchError", "TieConflictError", "TieError"]
