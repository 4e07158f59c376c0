"""Learning-rate reduction on a plateau whose state survives `--resume`.

Keras' `ReduceLROnPlateau` keeps the best value, the epochs without improvement and the
cooldown in memory and resets them in `on_train_begin`: a resumed run takes its first
epoch for an improvement and skips the reductions an uninterrupted run would make.
`ResumablePlateau` writes them after every epoch (`checkpoints/lr_plateau-NNNN.json`, see
`callback_state`). The learning rate itself is an optimizer variable, saved in the epoch
checkpoint.
"""

import keras

from kerasnlp_lab.training.callback_state import ResumableCallback


class ResumablePlateau(ResumableCallback, keras.callbacks.ReduceLROnPlateau):
    """`keras.callbacks.ReduceLROnPlateau` that saves and restores its state in `workdir`.

    Args:
        workdir, restore_from: as `ResumableCallback`.
        **kwargs: `ReduceLROnPlateau` arguments (monitor, factor, patience...).
    """

    STATE_NAME = "lr_plateau"

    def state(self, epoch):
        return {
            "best": None if self.best is None else float(self.best),
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
        }

    def restore(self, state):
        self.best, self.wait = state["best"], state["wait"]
        self.cooldown_counter = state["cooldown_counter"]


def on_plateau(factor, workdir, restore_from):
    """The callbacks that multiply the learning rate by `factor` after each epoch whose
    val_loss did not improve: [ResumablePlateau], or [] when `factor` >= 1."""
    if factor >= 1:
        return []
    return [
        ResumablePlateau(
            workdir,
            restore_from=restore_from,
            monitor="val_loss",
            factor=factor,
            patience=0,
            verbose=1,
        )
    ]
