"""A real `kerasnlp-lab train` killed mid-epoch, resumed, and compared with a straight run.

`python -m tests.training.interrupted SETTINGS train ARGS...` runs `kerasnlp-lab train
ARGS...` with the JSON SETTINGS: "overrides" changes fields of the trained model's tiny
preset (most have no flag), and "kill_at" [epoch, batch] (0-based) SIGKILLs the process at
the end of that training batch: a fixed point mid-epoch, whatever the machine's speed.
`main` also runs the straight run, in the test's own process. The resume is
`kerasnlp-lab train --resume` through `cli.main` in the test's process too, with the preset
as released (the run folder alone must give the settings), or, for one model
(tests/training/test_autoencoder_training.py), in a fresh process as a user runs it.
"""

import contextlib
import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
from unittest import mock

import keras
import numpy as np

from kerasnlp_lab import cli
from kerasnlp_lab.training import checkpoints, fit
from kerasnlp_lab.training import workdir as workdir_lib
from tests.cli_runner import call_cli, run_cli


class KillAt(keras.callbacks.Callback):
    """SIGKILLs its own process at the end of training batch `batch` of epoch `epoch`."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def main(settings, args):
    """Runs `kerasnlp-lab train ARGS...` with SETTINGS; returns its exit status."""
    module = workdir_lib.training_module(args[1]).MODEL
    tiny = dataclasses.replace(module.PRESETS["tiny"], **settings["overrides"])
    with contextlib.ExitStack() as patches:
        patches.enter_context(mock.patch.dict(module.PRESETS, tiny=tiny))
        if "kill_at" in settings:
            fit_resumable = fit.fit_resumable

            def fit_then_die(*arguments, callbacks=(), **options):
                killer = KillAt(*settings["kill_at"])
                return fit_resumable(*arguments, callbacks=[*callbacks, killer], **options)

            patches.enter_context(mock.patch.object(fit, "fit_resumable", fit_then_die))
        return cli.main(args)


def start_killed_training(log, args, kill_at, overrides):
    """Starts `kerasnlp-lab train ARGS...` through this module, killed at `kill_at`, its
    output to the file `log`; returns the Popen."""
    settings = json.dumps({"overrides": overrides, "kill_at": list(kill_at)})
    command = [sys.executable, "-m", __name__, settings, "train", *map(str, args)]
    with open(log, "w") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)


def final_state(workdir):
    """{name: array} of every weight and optimizer variable, and the learning rate (a
    variable or a schedule's value), of the run's final model and of its last epoch
    checkpoint (they differ when early stopping restored the best weights)."""
    state = {}
    directory = os.path.join(workdir, checkpoints.CHECKPOINT_DIR)
    _, last = checkpoints.completed_checkpoints(directory)[-1]
    for name, path in (("final", os.path.join(workdir, "model.keras")), ("last", last)):
        model = keras.saving.load_model(path)
        state[f"{name}/learning_rate"] = np.asarray(model.optimizer.learning_rate)
        # Numbered only: a process that built models before (the straight run, after other
        # tests) names layers and optimizer variables differently ("dense_3", "adam_1").
        for i, variable in enumerate(model.weights):
            state[f"{name}/model/{i}"] = variable.numpy()
        for i, variable in enumerate(model.optimizer.variables):
            state[f"{name}/optimizer/{i}"] = variable.numpy()
    return state


def history(workdir):
    """The rows of a run's history.csv, as floats."""
    with open(os.path.join(workdir, fit.HISTORY_FILE)) as file:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(file)]


def kill_and_resume(tmp_path, args, kill_at, overrides=None, resume_in_new_process=False):
    """Trains `args` (after `train`) straight in this process and, side by side, killed at
    `kill_at` in another, then resumes that run with `kerasnlp-lab train --resume`: in this
    process through `cli.main` (without the overrides), or in a new process when
    `resume_in_new_process`.

    Returns ({name: largest absolute difference} of the two runs' `final_state`s, the
    straight run's folder, the resumed run's folder).
    """
    straight, resumed, log = tmp_path / "straight", tmp_path / "resumed", tmp_path / "killed.log"
    overrides = overrides or {}
    killed = start_killed_training(log, (*args, "--workdir", resumed), kill_at, overrides)
    straight_args = ["train", *map(str, args), "--workdir", str(straight)]
    assert main({"overrides": overrides}, straight_args) == 0
    assert killed.wait(timeout=600) == -signal.SIGKILL, log.read_text()[-4000:]
    assert not (resumed / "model.keras").exists()
    resume = run_cli if resume_in_new_process else call_cli
    again = resume("train", args[0], "--workdir", resumed, "--resume")
    assert f"Resuming from epoch {kill_at[0]} of" in again.stdout
    workdir_lib.training_module(args[0])  # registers the model's classes for loading
    expected, actual = final_state(straight), final_state(resumed)
    assert sorted(actual) == sorted(expected)
    differences = {
        name: float(np.max(np.abs(actual[name] - expected[name]), initial=0)) for name in expected
    }
    return differences, straight, resumed


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1]), sys.argv[2:]))
