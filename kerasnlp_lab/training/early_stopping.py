"""Early stopping whose state survives `--resume`.

Keras' `EarlyStopping` keeps its state (best value, epochs without improvement, best
weights) in memory: a resumed run starts it afresh, may train past the point where the
uninterrupted run stopped, and restores the wrong weights. `ResumableEarlyStopping`
writes that state after every epoch (`checkpoints/early_stopping-NNNN.json`, see
`callback_state`) and, when the best changes, the best weights
(`checkpoints/best-NNNN.weights.npz`, named by the best epoch).
"""

import os

import keras
import numpy as np

from kerasnlp_lab.training.callback_state import ResumableCallback


class ResumableEarlyStopping(ResumableCallback, keras.callbacks.EarlyStopping):
    """`keras.callbacks.EarlyStopping` that saves and restores its state in `workdir`.

    Args:
        workdir, restore_from: as `ResumableCallback`.
        **kwargs: `EarlyStopping` arguments (monitor, patience, restore_best_weights...).
    """

    STATE_NAME = "early_stopping"

    def state(self, epoch):
        weights_name = None
        if self.best_weights is not None:
            weights_name = f"best-{self.best_epoch + 1:04d}.weights.npz"
            weights_path = os.path.join(self.directory, weights_name)
            if self.best_epoch == epoch or not os.path.exists(weights_path):
                partial = os.path.join(self.directory, "partial-best.npz")
                np.savez(partial, **{f"w{i}": w for i, w in enumerate(self.best_weights)})
                os.replace(partial, weights_path)
        return {
            "best": None if self.best is None else float(self.best),
            "wait": self.wait,
            "best_epoch": self.best_epoch,
            "best_weights": weights_name,
        }

    def restore(self, state):
        self.best, self.wait, self.best_epoch = state["best"], state["wait"], state["best_epoch"]
        if state["best_weights"]:
            weights = os.path.join(self.restore_directory, state["best_weights"])
            with np.load(weights) as arrays:
                self.best_weights = [arrays[f"w{index}"] for index in range(len(arrays.files))]

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        in_use = {
            (self.saved_state(self.directory, epochs) or {}).get("best_weights")
            for epochs in (epoch, epoch + 1)
        }
        for name in os.listdir(self.directory):
            if name.startswith("best-") and name.endswith(".weights.npz") and name not in in_use:
                os.remove(os.path.join(self.directory, name))


def keep_best(patience, workdir, restore_from):
    """Early stopping on val_loss after `patience` epochs without improvement, ending with
    the best epoch's weights."""
    return ResumableEarlyStopping(
        workdir,
        restore_from=restore_from,
        monitor="val_loss",
        patience=patience,
        restore_best_weights=True,
    )
