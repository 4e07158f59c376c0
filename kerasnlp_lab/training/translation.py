"""Training glue shared by the two translators: vocabularies, examples, batches, padding cost.

`attention_nmt` and `transformer_translator` train on the same pairs, splits, vocabularies
(learned from the training split only) and length-bucketed batches, so they are compared
on exactly the same ids. The padding cost of the batches (token efficiency: bucketed,
random batches, fixed length 128) is measured on the training examples and written to
`token_efficiency.json`.
"""

import json
import os

import keras
import tensorflow as tf

from kerasnlp_lab.data import translation_pipeline as pipeline
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.training import checkpoints, distribute, fit
from kerasnlp_lab.training import workdir as workdir_lib
from kerasnlp_lab.training.early_stopping import keep_best

TOKEN_EFFICIENCY_FILE = "token_efficiency.json"
# What a preset copies beside the weights.
VOCABULARY_FILES = (pipeline.SOURCE_VOCABULARY_FILE, pipeline.TARGET_VOCABULARY_FILE)
# What a run writes beside the model, checkpoints and logs (--overwrite deletes them too).
OUTPUT_FILES = (*VOCABULARY_FILES, TOKEN_EFFICIENCY_FILE)


def split_examples(dataset, split, vectorizers, config, limit=None):
    """Vectorized (source ids, target ids) examples of a split, cached."""
    pairs = pipeline.load_pairs(dataset, split, limit)
    return pipeline.vectorize_pairs(
        pairs, *vectorizers, config.max_source_length, config.max_target_length
    ).cache()


def prepare_examples(
    workdir, *, model_name, preset, dataset, config, resume, seed=None, output=None
):
    """Vectorizers (learned, or reloaded on resume), training examples, their count, validation.

    Writes the run description and the vectorizers to `output` (default `workdir`, which
    a resumed run reads); shared by both translators.
    """
    output = output or workdir
    train_pairs = pipeline.load_pairs(dataset, "train", config.train_examples).cache()
    if resume:
        vectorizers = pipeline.load_vectorizers(workdir)
    else:
        vectorizers = pipeline.learn_vectorizers(
            train_pairs, config.source_vocab_size, config.target_vocab_size, config.tokenizer
        )
    workdir_lib.save_run_description(
        output,
        model_name=model_name,
        preset=preset,
        dataset=dataset,
        config=config,
        seed=seed,
        resume=resume,
    )
    if not resume:  # a resumed run reads them (other workers too, while the chief goes on)
        pipeline.save_vectorizers(output, *vectorizers)
    examples = pipeline.vectorize_pairs(
        train_pairs, *vectorizers, config.max_source_length, config.max_target_length
    ).cache()
    count = pipeline.count_batches(examples)
    if count == 0:
        raise UserError(f"{dataset}: expected training pairs, the train split is empty.")
    validation = split_examples(dataset, "validation", vectorizers, config, config.eval_examples)
    return vectorizers, examples, count, validation


def evaluation_batches(examples, config):
    """Bucketed teacher-forcing batches in a fixed order (validation and test).

    Their number is stated on the dataset, so Keras knows where an evaluation ends.
    """
    batches = pipeline.bucketed_batches(
        examples,
        config.batch_size,
        max(config.max_source_length, config.max_target_length),
        config.bucket_width,
    )
    count = pipeline.count_batches(batches)
    return (
        batches.map(pipeline.as_model_inputs)
        .apply(tf.data.experimental.assert_cardinality(count))
        .prefetch(tf.data.AUTOTUNE)
    )


def measure_token_efficiency(examples, count, config, seed=0):
    """{bucketed, random, fixed_128}: real tokens / padded slots on shuffled examples."""
    shuffled = examples.shuffle(count, seed=seed, reshuffle_each_iteration=False)
    max_length = max(config.max_source_length, config.max_target_length)
    return {
        "bucketed": pipeline.token_efficiency(
            pipeline.bucketed_batches(shuffled, config.batch_size, max_length, config.bucket_width)
        ),
        "random": pipeline.token_efficiency(pipeline.random_batches(shuffled, config.batch_size)),
        f"fixed_{pipeline.FIXED_LENGTH}": pipeline.token_efficiency(
            pipeline.fixed_length_batches(shuffled, config.batch_size)
        ),
    }


def train_translator(
    model_module,
    build_for_run,
    *,
    preset,
    dataset,
    epochs,
    workdir,
    resume,
    seed,
    options=None,
    callbacks=None,
    strategy="default",
    overwrite=False,
):
    """Trains a translator on bucketed batches with early stopping; returns (model, config).

    With `config.average_checkpoints` > 1 the final weights are the average of the last
    that many epochs' weights.

    Args:
        model_module: the model's module under kerasnlp_lab/models (config, presets).
        build_for_run: (config, workdir) -> a compiled model.
        preset, dataset, epochs, workdir, resume, seed: as `kerasnlp-lab train`.
        options: further config fields set on the command line (None: not given).
        callbacks: (config, training examples, output folder, the folder a resumed run's
            callback state is read from) -> extra Keras callbacks of this model.
        strategy: a `distribute.STRATEGIES` name; only the chief writes `workdir`.
        overwrite: replace a run `workdir` holds (else a new run there is refused).

    The masked loss is normalized by the real target tokens of the whole global batch
    (`MaskedSparseCrossentropy` all-reduces the count), so N replicas compute the gradient
    one process would, even when a bucket's last batch splits unevenly.
    """
    name = model_module.MODEL_NAME
    cluster, output, resume, (preset, dataset, config, seed) = distribute.start_run(
        strategy,
        workdir,
        resume,
        overwrite,
        model=model_module,
        kind="parallel",
        preset=preset,
        dataset=dataset,
        epochs=epochs,
        seed=seed,
        **(options or {}),
    )
    keras.utils.set_random_seed(seed)
    vectorizers, examples, count, validation = prepare_examples(
        workdir,
        model_name=name,
        preset=preset,
        dataset=dataset,
        config=config,
        resume=resume,
        seed=seed,
        output=output,
    )
    max_length = max(config.max_source_length, config.max_target_length)
    steps = pipeline.count_batches(
        pipeline.bucketed_batches(examples, config.batch_size, max_length, config.bucket_width)
    )
    efficiency = measure_token_efficiency(examples, count, config, seed)
    with open(os.path.join(output, TOKEN_EFFICIENCY_FILE), "w") as file:
        json.dump(efficiency, file, indent=2)
    print(
        f"Training {name} ({preset}) on {dataset}: {count:,} pairs, vocabularies "
        f"{vectorizers[0].vocab_size:,} / {vectorizers[1].vocab_size:,}, {config.epochs} epochs "
        f"of {steps} bucketed batches of {config.batch_size}; token efficiency "
        + ", ".join(f"{label} {value:.2f}" for label, value in efficiency.items())
        + f"; {cluster.describe()}"
    )
    restore_from = workdir if resume else output  # where resumable callbacks read state
    model = fit.fit_resumable(
        lambda: build_for_run(config, output),
        lambda first_epoch: pipeline.seeded_bucketed_epochs(
            examples,
            num_examples=count,
            batch_size=config.batch_size,
            max_length=max_length,
            bucket_width=config.bucket_width,
            seed=seed,
            first_epoch=first_epoch,
            epochs=config.epochs,
        ),
        epochs=config.epochs,
        steps_per_epoch=steps,
        workdir=workdir,
        resume=resume,
        validation_data=evaluation_batches(validation, config),
        callbacks=[
            keep_best(config.early_stopping_patience, output, restore_from),
            *(callbacks(config, examples, output, restore_from) if callbacks else ()),
        ],
        keep_epoch_weights=config.average_checkpoints,
        cluster=cluster,
    )
    if config.average_checkpoints > 1 and cluster.is_chief:
        # The kept weights of a restarted run are in the run folder; only the chief's
        # model is saved, so the other workers skip averaging.
        averaged = checkpoints.average_epoch_weights(model, workdir, config.average_checkpoints)
        print(f"Final weights: the average of epochs {', '.join(map(str, averaged))}.")
    return model, config, output
