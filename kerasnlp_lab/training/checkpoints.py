"""Epoch checkpoints (model + optimizer state) written atomically, and resuming from them."""

import json
import os
import re
import shutil
import time

import keras

from kerasnlp_lab.errors import UserError

CHECKPOINT_DIR = "checkpoints"
# The number of completed epochs is in the file name, so one atomic rename records both
# the weights and how far training got.
CHECKPOINT_PATTERN = re.compile(r"epoch-(\d+)\.keras")


# Written beside the first epoch checkpoint of a multi-worker run and removed with the
# final model: a restarted worker that finds it continues the run (BackupAndRestore).
UNFINISHED_FILE = "unfinished.json"

EPOCH_WEIGHTS_DIR = "epoch_weights"
AVERAGED_EPOCHS_FILE = "averaged_epochs.json"
EPOCH_WEIGHTS_PATTERN = re.compile(r"epoch-(\d+)\.weights\.h5")


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the model with its optimizer state after every epoch, atomically.

    The `.keras` file is written beside its final name and renamed over it, so an
    interrupted run always leaves the previous complete checkpoint behind. With
    `keep_weights` > 0 the weights of the last `keep_weights` epochs are also kept
    (`epoch_weights/epoch-NNNN.weights.h5`, no optimizer state), for checkpoint averaging.
    """

    def __init__(self, workdir, keep_weights=0, mark_unfinished=False):
        super().__init__()
        self.directory = os.path.join(workdir, CHECKPOINT_DIR)
        self.weights_directory = os.path.join(workdir, EPOCH_WEIGHTS_DIR)
        self.keep_weights = keep_weights
        self.mark_unfinished = mark_unfinished

    def on_epoch_end(self, epoch, logs=None):
        save(self.model, os.path.dirname(self.directory), epoch + 1)
        if self.keep_weights:
            self._save_weights(epoch + 1)
        if self.mark_unfinished:
            write_json_atomically(os.path.join(self.directory, UNFINISHED_FILE), {})

    def _save_weights(self, completed_epochs):
        os.makedirs(self.weights_directory, exist_ok=True)
        partial = os.path.join(self.weights_directory, "partial.weights.h5")
        self.model.save_weights(partial)
        os.replace(
            partial,
            os.path.join(self.weights_directory, f"epoch-{completed_epochs:04d}.weights.h5"),
        )
        for _, path in epoch_weights(self.weights_directory)[: -self.keep_weights]:
            os.remove(path)


def epoch_weights(directory):
    """(completed epochs, path) of the kept epoch weights in `directory`, oldest first."""
    return numbered_files(directory, EPOCH_WEIGHTS_PATTERN)


def numbered_files(directory, pattern):
    """(number in the name, path) of the files of `directory` matching `pattern`, sorted."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = pattern.fullmatch(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    return sorted(found)


def completed_checkpoints(directory):
    """(completed epochs, path) of the checkpoints in `directory`, oldest first."""
    return numbered_files(directory, CHECKPOINT_PATTERN)


def minutes_since_last(workdir):
    """Minutes since the last checkpoint of `workdir` was written (0 without one)."""
    found = completed_checkpoints(os.path.join(workdir, CHECKPOINT_DIR))
    if not found:
        return 0.0
    return max(0.0, (time.time() - os.path.getmtime(found[-1][1])) / 60)


def save(model, workdir, completed_epochs):
    """Writes the checkpoint of `completed_epochs` atomically and removes the earlier ones."""
    directory = os.path.join(workdir, CHECKPOINT_DIR)
    os.makedirs(directory, exist_ok=True)
    earlier = completed_checkpoints(directory)
    partial = os.path.join(directory, "partial.keras")
    model.save(partial)
    os.replace(partial, os.path.join(directory, f"epoch-{completed_epochs:04d}.keras"))
    for epochs, path in earlier:
        if epochs != completed_epochs:
            os.remove(path)


def write_json_atomically(path, value):
    """Writes `value` as JSON beside `path` and renames it over `path`."""
    partial = path + ".partial"
    with open(partial, "w") as file:
        json.dump(value, file)
    os.replace(partial, path)


def is_unfinished(workdir):
    """Whether `workdir` holds a multi-worker run that stopped before its final model."""
    return os.path.exists(os.path.join(workdir, CHECKPOINT_DIR, UNFINISHED_FILE))


def mark_finished(workdir):
    """Removes the unfinished-run mark (the final model is written)."""
    path = os.path.join(workdir, CHECKPOINT_DIR, UNFINISHED_FILE)
    if os.path.exists(path):
        os.remove(path)


def clear(workdir):
    """Removes the checkpoints of an earlier run in `workdir` (a fresh start)."""
    shutil.rmtree(os.path.join(workdir, CHECKPOINT_DIR), ignore_errors=True)
    shutil.rmtree(os.path.join(workdir, EPOCH_WEIGHTS_DIR), ignore_errors=True)


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


def average_epoch_weights(model, workdir, count):
    """Sets `model`'s weights to the mean of the last `count` kept epoch weights.

    Returns the averaged epochs (completed-epoch numbers), oldest first, and writes them
    to `averaged_epochs.json` in `workdir`. Averaging the
    last checkpoints of a run smooths the noise of the final updates (Vaswani et al. 2017
    average the last 5 or 20 checkpoints).
    """
    kept = epoch_weights(os.path.join(workdir, EPOCH_WEIGHTS_DIR))[-count:]
    if not kept:
        raise UserError(f"No epoch weights to average in {workdir}/{EPOCH_WEIGHTS_DIR}.")
    totals = None
    for _, path in kept:
        model.load_weights(path)
        values = [variable.numpy().astype("float64") for variable in model.weights]
        totals = values if totals is None else [a + b for a, b in zip(totals, values, strict=True)]
    for variable, total in zip(model.weights, totals, strict=True):
        variable.assign((total / len(kept)).astype(variable.dtype))
    averaged = [epoch for epoch, _ in kept]
    with open(os.path.join(workdir, AVERAGED_EPOCHS_FILE), "w") as file:
        json.dump(averaged, file)
    return averaged
