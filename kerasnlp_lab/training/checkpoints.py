"""Epoch checkpoints (model + optimizer state) written atomically, and resuming from them."""

import json
import os
import shutil

import keras

from kerasnlp_lab.errors import UserError

CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_FILE = "last.keras"
STATE_FILE = "state.json"


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
        path = os.path.join(self.directory, CHECKPOINT_FILE)
        partial = os.path.join(self.directory, "partial." + CHECKPOINT_FILE)
        self.model.save(partial)
        os.replace(partial, path)
        _write_json_atomically(
            os.path.join(self.directory, STATE_FILE), {"completed_epochs": epoch + 1}
        )


def clear(workdir):
    """Removes the checkpoints of an earlier run in `workdir` (a fresh start)."""
    shutil.rmtree(os.path.join(workdir, CHECKPOINT_DIR), ignore_errors=True)


def restore(workdir):
    """Returns (model with optimizer state, completed epochs) from the last checkpoint."""
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    path = os.path.join(directory, CHECKPOINT_FILE)
    state_path = os.path.join(directory, STATE_FILE)
    if not (os.path.exists(path) and os.path.exists(state_path)):
        raise UserError(
            f"Nothing to resume: no checkpoint in {directory}. Train without --resume first."
        )
    try:
        model = keras.saving.load_model(path)
        with open(state_path) as file:
            completed_epochs = int(json.load(file)["completed_epochs"])
    except Exception as error:  # A damaged file can fail in many ways inside Keras.
        raise UserError(
            f"The checkpoint {path} is corrupt and cannot be resumed ({error}). "
            "Train again without --resume."
        ) from None
    return model, completed_epochs


def _write_json_atomically(path, value):
    partial = path + ".partial"
    with open(partial, "w") as file:
        json.dump(value, file)
    os.replace(partial, path)
