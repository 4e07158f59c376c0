"""Epoch checkpoints (model + optimizer state) written atomically, and resuming from them."""

import os
import re
import shutil

import keras

from kerasnlp_lab.errors import UserError

CHECKPOINT_DIR = "checkpoints"
# The number of completed epochs is in the file name, so one atomic rename records both
# the weights and how far training got.
CHECKPOINT_PATTERN = re.compile(r"epoch-(\d+)\.keras")


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model with its optimizer state after every epoch, atomically.

    The `.keras` file is written beside its final name and renamed over it, so an
    interrupted run always leaves the previous complete checkpoint behind.
    """

    def __init__(self, workdir):
        super().__init__()
        self.directory = os.path.join(workdir, CHECKPOINT_DIR)

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.directory, exist_ok=True)
        earlier = completed_checkpoints(self.directory)
        partial = os.path.join(self.directory, "partial.keras")
        self.model.save(partial)
        os.replace(partial, os.path.join(self.directory, f"epoch-{epoch + 1:04d}.keras"))
        for _, path in earlier:
            os.remove(path)


def completed_checkpoints(directory):
    """(completed epochs, path) of the checkpoints in `directory`, oldest first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = CHECKPOINT_PATTERN.fullmatch(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    return sorted(found)


def clear(workdir):
    """Removes the checkpoints of an earlier run in `workdir` (a fresh start)."""
    shutil.rmtree(os.path.join(workdir, CHECKPOINT_DIR), ignore_errors=True)


def restore(workdir):
    """Returns (model with optimizer state, completed epochs) from the last checkpoint."""
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    checkpoints = completed_checkpoints(directory)
    if not checkpoints:
        raise UserError(
            f"Nothing to resume: no checkpoint in {directory}. Train without --resume first."
        )
    completed_epochs, path = checkpoints[-1]
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # A damaged file can fail in many ways inside Keras.
        raise UserError(
            f"The checkpoint {path} is corrupt and cannot be resumed ({error}). "
            "Train again without --resume."
        ) from None
    return model, completed_epochs
