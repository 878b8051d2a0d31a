"""Tie-aware checkpoints: declare shared parameters once, save each tensor once, load anywhere.

    >>> from checkpoints import tied, save, load
    >>> # @tied("mlm_decoder.1.weight", "word_embed.weight") on the pretraining model,
    >>> # save(pretraining_model, "ckpt.params"); load(headless_model, "ckpt.params")
"""
from ._mx_compat import TrainerStatesSnapshot
from .background import SaveHandle, run_in_background, wait_for_background
from .errors import (CheckpointError, CorruptCheckpointError, ShapeMismatchError,
                     TieConflictError, TieError)
from .io import CheckpointInfo, LoadReport, ModelSnapshot, inspect, load, read_assets, save, snapshot
from .ties import tied, ties_of

__all__ = ["tied", "ties_of", "save", "load", "inspect", "read_assets", "snapshot",
           "snapshot_trainer", "ModelSnapshot", "TrainerStatesSnapshot", "SaveHandle",
           "run_in_background", "wait_for_background", "LoadReport", "CheckpointInfo",
           "CheckpointError", "CorruptCheckpointError", "ShapeMismatchError",
           "TieConflictError", "TieError"]


def snapshot_trainer(trainer):
    """A host copy of a ``gluon.Trainer``'s optimizer states, taken now; its
    ``write_file(path)`` writes what ``Trainer.load_states`` reads."""
    return TrainerStatesSnapshot(trainer)
