"""Early stopping whose state survives `--resume`.

Keras' `EarlyStopping` keeps its state (best value, epochs without improvement, best
weights) in memory: a resumed run starts it afresh, may train past the point where the
uninterrupted run stopped, and restores the wrong weights. `ResumableEarlyStopping`
writes that state after every epoch, beside the epoch checkpoint and named by the same
epoch number (`checkpoints/early_stopping-NNNN.json` and, when the best changes,
`checkpoints/best-NNNN.weights.npz`), and reads back the one of the checkpoint it resumes
from, so the two can never disagree.
"""

import json
import os
import re

import keras
import numpy as np

from kerasnlp_lab.training import checkpoints

STATE_PATTERN = re.compile(r"early_stopping-(\d+)\.json")


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` that saves and restores its state in `workdir`.

    Args:
        workdir: the folder whose `checkpoints/` the state is written to.
        restore_from: the run folder whose state a resumed run reads (default `workdir`;
            a multi-worker run's other workers write elsewhere but read the chief's).
        **kwargs: `EarlyStopping` arguments (monitor, patience, restore_best_weights...).
    """

    def __init__(self, workdir, restore_from=None, **kwargs):
        super().__init__(**kwargs)
        self.directory = os.path.join(workdir, checkpoints.CHECKPOINT_DIR)
        self.restore_directory = os.path.join(restore_from or workdir, checkpoints.CHECKPOINT_DIR)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        completed = checkpoints.completed_checkpoints(self.restore_directory)
        if not completed:
            return
        epochs = completed[-1][0]
        path = os.path.join(self.restore_directory, f"early_stopping-{epochs:04d}.json")
        if not os.path.exists(path):
            return
        with open(path) as file:
            state = json.load(file)
        self.best, self.wait, self.best_epoch = state["best"], state["wait"], state["best_epoch"]
        if state["best_weights"]:
            weights = os.path.join(self.restore_directory, state["best_weights"])
            with np.load(weights) as arrays:
                self.best_weights = [arrays[f"w{index}"] for index in range(len(arrays.files))]

    def on_epoch_end(self, epoch, logs=None):
        improved_before = self.best_epoch
        super().on_epoch_end(epoch, logs)
        os.makedirs(self.directory, exist_ok=True)
        weights_name = None
        if self.best_weights is not None:
            weights_name = f"best-{self.best_epoch + 1:04d}.weights.npz"
            weights_path = os.path.join(self.directory, weights_name)
            if self.best_epoch != improved_before or not os.path.exists(weights_path):
                partial = os.path.join(self.directory, "partial-best.npz")
                np.savez(partial, **{f"w{i}": w for i, w in enumerate(self.best_weights)})
                os.replace(partial, weights_path)
        state = {
            "best": None if self.best is None else float(self.best),
            "wait": self.wait,
            "best_epoch": self.best_epoch,
            "best_weights": weights_name,
        }
        partial = os.path.join(self.directory, "partial-early_stopping.json")
        with open(partial, "w") as file:
            json.dump(state, file)
        os.replace(partial, os.path.join(self.directory, f"early_stopping-{epoch + 1:04d}.json"))
        self._remove_older_than(epoch + 1, weights_name)

    def _remove_older_than(self, epochs, kept_weights):
        """Drops the states of epochs before the previous one, and unused best weights."""
        in_use = (kept_weights, self._weights_of_state(epochs - 1))
        for name in os.listdir(self.directory):
            match = STATE_PATTERN.fullmatch(name)
            old_state = match is not None and int(match.group(1)) < epochs - 1
            unused_weights = name.endswith(".weights.npz") and name not in in_use
            if old_state or (name.startswith("best-") and unused_weights):
                os.remove(os.path.join(self.directory, name))

    def _weights_of_state(self, epochs):
        path = os.path.join(self.directory, f"early_stopping-{epochs:04d}.json")
        if not os.path.exists(path):
            return None
        with open(path) as file:
            return json.load(file)["best_weights"]
