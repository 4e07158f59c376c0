"""Callback state written beside each epoch checkpoint, so `--resume` continues it exactly.

Keras callbacks such as `EarlyStopping` and `ReduceLROnPlateau` keep their state (best
value, epochs without improvement...) in memory and reset it in `on_train_begin`: a
resumed run would start them afresh. A `ResumableCallback` writes its state after every
epoch as `checkpoints/NAME-NNNN.json`, numbered like the epoch checkpoint written after
it, and a resumed run reads back the one of the checkpoint it resumes from, so the two
never disagree. The state of the previous epoch is kept too: a run killed between the two
writes resumes from the previous checkpoint.
"""

import json
import os
import re

import keras

from kerasnlp_lab.training import checkpoints


class ResumableCallback(keras.callbacks.Callback):
    """Mixin that makes a Keras callback's state survive `--resume`.

    List it before the Keras callback class; subclasses set `STATE_NAME` and define
    `state(epoch)` (a JSON-able dict, after `epoch` ended) and `restore(state)`.

    Args:
        workdir: the folder whose `checkpoints/` the state is written to.
        restore_from: the run folder whose state a resumed run reads (default `workdir`;
            a multi-worker run's other workers write elsewhere but read the chief's).
        **kwargs: the Keras callback's arguments.
    """

    STATE_NAME = None

    def __init__(self, workdir, restore_from=None, **kwargs):
        super().__init__(**kwargs)
        self.directory = os.path.join(workdir, checkpoints.CHECKPOINT_DIR)
        self.restore_directory = os.path.join(restore_from or workdir, checkpoints.CHECKPOINT_DIR)

    def state_path(self, directory, epochs):
        """The state file after `epochs` completed epochs."""
        return os.path.join(directory, f"{self.STATE_NAME}-{epochs:04d}.json")

    def saved_state(self, directory, epochs):
        """The state written after `epochs` completed epochs, or None."""
        path = self.state_path(directory, epochs)
        if not os.path.exists(path):
            return None
        with open(path) as file:
            return json.load(file)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        completed = checkpoints.completed_checkpoints(self.restore_directory)
        if not completed:
            return
        state = self.saved_state(self.restore_directory, completed[-1][0])
        if state is not None:
            self.restore(state)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        os.makedirs(self.directory, exist_ok=True)
        state = self.state(epoch)
        checkpoints.write_json_atomically(self.state_path(self.directory, epoch + 1), state)
        pattern = re.compile(rf"{re.escape(self.STATE_NAME)}-(\d+)\.json")
        for epochs, path in checkpoints.numbered_files(self.directory, pattern):
            if epochs < epoch:
                os.remove(path)
