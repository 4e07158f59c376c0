"""Model.fit glue shared by all models: resumable epochs, progress bar, logs."""

import os

import keras

from kerasnlp_lab.training import checkpoints

HISTORY_FILE = "history.csv"
TENSORBOARD_DIR = "logs"


def fit_resumable(
    build_model,
    make_train_data,
    *,
    epochs,
    steps_per_epoch,
    workdir,
    resume,
    validation_data=None,
    callbacks=(),
    keep_epoch_weights=0,
):
    """Trains a model for `epochs`, checkpointing each epoch; returns the trained model.

    Args:
        build_model: () -> a compiled Keras model, used for a fresh start.
        make_train_data: (first_epoch) -> a tf.data.Dataset yielding the batches of
            epochs first_epoch..epochs-1 back to back (`steps_per_epoch` each). Making
            each epoch's order depend on the epoch number alone lets a resumed run see
            exactly the batches an uninterrupted run would have seen.
        epochs: total number of epochs, counting those already done.
        steps_per_epoch: batches per epoch.
        workdir: folder for checkpoints, history.csv and TensorBoard logs.
        resume: continue from the last checkpoint in `workdir` (its optimizer state too).
        validation_data: optional dataset evaluated after each epoch.
        callbacks: extra Keras callbacks.
        keep_epoch_weights: also keep the weights of the last N epochs (for averaging).
    """
    os.makedirs(workdir, exist_ok=True)
    if resume:
        model, first_epoch = checkpoints.restore(workdir)
        print(f"Resuming from epoch {first_epoch} of {epochs} ({workdir}).")
    else:
        checkpoints.clear(workdir)
        model, first_epoch = build_model(), 0
    if first_epoch >= epochs:
        print(f"Already trained for {first_epoch} epochs; nothing to do.")
        return model
    model.fit(
        make_train_data(first_epoch),
        epochs=epochs,
        initial_epoch=first_epoch,
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_data,
        shuffle=False,  # the datasets are shuffled per epoch by their makers
        verbose=1 if os.isatty(1) else 2,
        # The model's own callbacks run first, so state they save for an epoch (e.g.
        # early stopping's) is on disk before that epoch's checkpoint is.
        callbacks=[
            *callbacks,
            checkpoints.EpochCheckpoint(workdir, keep_weights=keep_epoch_weights),
            keras.callbacks.CSVLogger(os.path.join(workdir, HISTORY_FILE), append=resume),
            keras.callbacks.TensorBoard(os.path.join(workdir, TENSORBOARD_DIR)),
        ],
    )
    return model
