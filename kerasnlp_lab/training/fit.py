"""Model.fit glue shared by all models: resumable epochs, progress bar, logs, strategy."""

import os

import keras
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.training import checkpoints, distribute

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
    cluster=None,
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
        workdir: the run folder: checkpoints, history.csv and TensorBoard logs (written by
            the chief; other workers write to their temporary folder).
        resume: continue from the last checkpoint in `workdir` (its optimizer state too);
            else build a new model (`distribute.start_run` has refused, or deleted with
            --overwrite, an earlier run's checkpoints in `workdir`).
        validation_data: optional dataset evaluated after each epoch.
        callbacks: extra Keras callbacks.
        keep_epoch_weights: also keep the weights of the last N epochs (for averaging).
        cluster: the `distribute.Cluster` to train on (default: one process). Models are
            built and restored in its scope and the datasets (of global batches) sharded
            by data over its replicas.
    """
    cluster = cluster or distribute.start()
    output = cluster.output_dir(workdir)
    os.makedirs(output, exist_ok=True)
    with cluster.scope():
        if resume:
            model, first_epoch = checkpoints.restore(workdir)
            print(f"Resuming from epoch {first_epoch} of {epochs} ({workdir}).")
        else:
            model, first_epoch = build_model(), 0
    if first_epoch >= epochs:
        print(f"Already trained for {first_epoch} epochs; nothing to do.")
        return model
    # Keras 3.15 builds a model made in a strategy's scope from an all-reduced first batch,
    # which fails when replicas get batches of different shapes (a bucket's last batch);
    # without the attribute it builds when the train step is traced, in the same scope.
    model._distribute_strategy = None
    try:
        with cluster.scope():
            model.fit(
                cluster.distribute(make_train_data(first_epoch)),
                epochs=epochs,
                initial_epoch=first_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_data=None
                if validation_data is None
                else cluster.distribute(validation_data),
                shuffle=False,  # the datasets are shuffled per epoch by their makers
                verbose=1 if os.isatty(1) else 2,
                # The model's own callbacks run first, so state they save for an epoch (e.g.
                # early stopping's) is on disk before that epoch's checkpoint is.
                callbacks=[
                    *callbacks,
                    checkpoints.EpochCheckpoint(
                        output,
                        keep_weights=keep_epoch_weights,
                        mark_unfinished=cluster.is_multi_worker,
                    ),
                    keras.callbacks.CSVLogger(os.path.join(output, HISTORY_FILE), append=resume),
                    keras.callbacks.TensorBoard(os.path.join(output, TENSORBOARD_DIR)),
                ],
            )
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
        if not cluster.is_multi_worker:
            raise
        first_line = str(error).strip().splitlines()[0]
        raise UserError(
            f"Training stopped: a worker of the cluster is gone ({first_line}). Start every "
            "worker again with the same command: the run continues from its last epoch "
            f"checkpoint in {workdir}."
        ) from None
    return model
