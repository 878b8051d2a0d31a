"""Tie-aware checkpoints: declare shared parameters once, save each tensor once, load anywhere.

    >>> from checkpoints import tied, save, load
    >>> # @tied("mlm_decoder.1.weight", "word_embed.weight") on the pretraining model,
    >>> # save(pretraining_model, "ckpt.params"); load(headless_model, "ckpt.params")
"""
from .errors import (CheckpointError, CorruptCheckpointError, ShapeMismatchError,
                     TieConflictError, TieError)
from .io import CheckpointInfo, LoadReport, inspect, load, read_assets, save
from .ties import tied, ties_of

__all__ = ["tied", "ties_of", "save", "load", "inspect", "read_assets", "LoadReport",
           "CheckpointInfo", "CheckpointError", "CorruptCheckpointError",
           "ShapeMismatchError", "TieConflictError", "TieError"]
