"""ResumableEarlyStopping: a run resumed mid-way stops where an uninterrupted one stops,
with the same best weights."""

import keras
import numpy as np

from kerasnlp_lab.training import checkpoints
from kerasnlp_lab.training.early_stopping import ResumableEarlyStopping

# Best at epoch 3 (1.5); epochs 4 and 5 do not improve: patience 2 stops after epoch 5.
VALIDATION_LOSSES = [3.0, 2.0, 2.5, 1.5, 1.8, 1.9, 2.0, 1.0]


def tiny_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    return model


def run_epochs(workdir, model, start, stop, callback_class=ResumableEarlyStopping):
    """Epochs start..stop-1 as fit runs them: weights set to the epoch number, then the
    callback, then the epoch checkpoint. Returns (last epoch run, the final weights)."""
    arguments = dict(monitor="val_loss", patience=2, restore_best_weights=True)
    if callback_class is ResumableEarlyStopping:
        arguments["workdir"] = str(workdir)
    callback = callback_class(**arguments)
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    epoch = start
    for epoch in range(start, stop):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        callback.on_epoch_end(epoch, {"val_loss": VALIDATION_LOSSES[epoch]})
        checkpoints.save(model, str(workdir), epoch + 1)
        if model.stop_training:
            break
    callback.on_train_end()
    return epoch, [w.copy() for w in model.get_weights()]


def test_resumed_run_stops_at_the_same_epoch_with_the_same_best_weights(tmp_path):
    straight_epoch, straight = run_epochs(tmp_path / "straight", tiny_model(), 0, 8)
    assert straight_epoch == 5
    assert all(np.all(w == 3.0) for w in straight)

    model = tiny_model()
    run_epochs(tmp_path / "resumed", model, 0, 4)  # killed after epoch 4's checkpoint
    resumed_epoch, resumed = run_epochs(tmp_path / "resumed", model, 4, 8)
    assert resumed_epoch == straight_epoch
    for got, want in zip(resumed, straight, strict=True):
        np.testing.assert_array_equal(got, want)


def test_keras_early_stopping_alone_would_not_resume_its_state(tmp_path):
    model = tiny_model()
    run_epochs(tmp_path, model, 0, 4, keras.callbacks.EarlyStopping)
    resumed_epoch, weights = run_epochs(tmp_path, model, 4, 8, keras.callbacks.EarlyStopping)
    # It forgot epoch 3's best: epoch 4 became the best, so it ran one epoch longer and
    # restored worse weights.
    assert resumed_epoch == 6
    assert all(np.all(w == 4.0) for w in weights)


def test_state_files_follow_the_checkpoints(tmp_path):
    run_epochs(tmp_path, tiny_model(), 0, 5)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == [
        "best-0004.weights.npz",
        "early_stopping-0004.json",
        "early_stopping-0005.json",
        "epoch-0005.keras",
    ]
