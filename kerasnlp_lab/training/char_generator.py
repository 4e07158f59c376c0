"""`kerasnlp-lab train char_generator`: the text as windows of ids, resumable epochs, the model.

A split is read as one text (its documents, e.g. chapters, joined by a newline) and cut into
windows of `sequence_length + 2` ids with a stride of `sequence_length`: a window gives the
previous chars (0..T-1), the chars (1..T) and the targets (2..T+1) of one training sequence.
The vocabulary (`CharVocabulary` of the training text's characters) is written to the
workdir beside the model before training starts.
"""

import functools
import os

import keras
import numpy as np
import tensorflow as tf

from kerasnlp_lab.data import catalog
from kerasnlp_lab.data.epochs import seeded_epochs, steps_per_epoch
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import char_generator
from kerasnlp_lab.text import chars
from kerasnlp_lab.training import distribute, fit
from kerasnlp_lab.training import workdir as workdir_lib
from kerasnlp_lab.training.early_stopping import keep_best
from kerasnlp_lab.training.lr_plateau import on_plateau

MODEL_NAME = char_generator.MODEL_NAME
MODEL = char_generator
DOCUMENT_SEPARATOR = "\n"
VOCABULARY_FILE = "vocabulary.json"
VOCABULARY_FILES = (VOCABULARY_FILE,)  # what a preset copies beside the weights
# What a run writes beside the model, checkpoints and logs (--overwrite deletes them too).
OUTPUT_FILES = VOCABULARY_FILES
EVALUATION_BATCH_SIZE = 128


def read_text(dataset, split, limit=None):
    """The split as one string: its documents joined by a newline, cut to `limit` chars."""
    pieces, length = [], 0
    for document in catalog.load_text(dataset, split).as_numpy_iterator():
        pieces.append(document.decode("utf-8", errors="replace"))
        length += len(pieces[-1]) + len(DOCUMENT_SEPARATOR)
        if limit is not None and length >= limit:
            break
    text = DOCUMENT_SEPARATOR.join(pieces)
    return text if limit is None else text[:limit]


def build_vocabulary(text, max_size=None):
    """The most frequent characters of the training text (the document separator always)."""
    return chars.CharVocabulary.from_dataset(
        tf.data.Dataset.from_tensors(text), max_size=max_size, required_chars=(DOCUMENT_SEPARATOR,)
    )


def encode(text, vocabulary):
    """The ids (int32 NumPy array) of `text`; unknown characters get the OOV id."""
    return vocabulary.encode(text).numpy()


def vocabulary_path(workdir):
    return os.path.join(workdir, VOCABULARY_FILE)


def load_vocabulary(workdir):
    """The vocabulary a run in `workdir` was trained with."""
    if not os.path.exists(vocabulary_path(workdir)):
        raise UserError(f"No {VOCABULARY_FILE} in {workdir}: train char_generator there first.")
    return chars.CharVocabulary.load(vocabulary_path(workdir))


def windows(ids, sequence_length):
    """Windows (N, sequence_length + 2) of `ids` with stride sequence_length."""
    count = (len(ids) - 2) // sequence_length
    if count < 1:
        raise UserError(
            f"Expected a text of at least {sequence_length + 2} characters to cut into "
            f"training sequences, got {len(ids)}."
        )
    starts = np.arange(count)[:, None] * sequence_length  # (N, 1)
    return ids[starts + np.arange(sequence_length + 2)]  # (N, T + 2)


def as_examples(window_array):
    """({"chars", "previous_chars"}, targets) examples of (T,) ids each."""
    return tf.data.Dataset.from_tensor_slices(window_array).map(
        lambda window: (
            {"chars": window[1:-1], "previous_chars": window[:-2]},
            window[2:],
        )
    )


def split_examples(dataset, split, vocabulary, config, limit=None):
    """(examples, number of sequences) of a split, read to at most `limit` characters."""
    ids = encode(read_text(dataset, split, limit), vocabulary)
    window_array = windows(ids, config.sequence_length)
    return as_examples(window_array).cache(), len(window_array)


def training_batches(examples, count, config, seed, first_epoch, epochs, steps):
    """`steps` batches per epoch, each epoch's order fixed by (seed, epoch).

    An epoch of `steps` batches takes the first ones of the epoch's shuffle (repeated
    when it asks for more than one pass), so a resumed run replays exactly.
    """

    def one_epoch(epoch):
        return (
            seeded_epochs(
                examples,
                num_examples=count,
                batch_size=config.batch_size,
                seed=seed,
                first_epoch=epoch,
                epochs=epoch + 1,
            )
            .repeat()
            .take(steps)
        )

    return functools.reduce(
        lambda stream, epoch: stream.concatenate(one_epoch(epoch)),
        range(first_epoch + 1, epochs),
        one_epoch(first_epoch),
    ).prefetch(tf.data.AUTOTUNE)


def build_for_run(config, workdir):
    """The compiled training model of a run's config, sized by the vocabulary in `workdir`."""
    return char_generator.build_training_model(config, load_vocabulary(workdir).vocab_size)


def train(
    preset=None,
    dataset="auto",
    epochs=None,
    workdir="runs/char_generator",
    resume=False,
    seed=None,
    strategy="default",
    overwrite=False,
):
    """Trains the character generator; writes the model, vocabulary, checkpoints and logs.

    `strategy` is a `distribute.STRATEGIES` name; only the chief writes `workdir`. A new run
    into a folder that holds a run is refused unless `overwrite` (`distribute.start_run`). The
    trained model is stateless (a fresh GRU state per sequence), so its batches split
    over replicas like any other; the stateful copy is built for generation only.
    """
    cluster, output, resume, (preset, dataset, config, seed) = distribute.start_run(
        strategy,
        workdir,
        resume,
        overwrite,
        model=char_generator,
        kind="text",
        preset=preset,
        dataset=dataset,
        epochs=epochs,
        seed=seed,
    )
    keras.utils.set_random_seed(seed)
    text = read_text(dataset, "train", config.train_chars)
    vocabulary = (
        load_vocabulary(workdir) if resume else build_vocabulary(text, config.max_vocab_size)
    )
    workdir_lib.save_run_description(
        output,
        model_name=MODEL_NAME,
        preset=preset,
        dataset=dataset,
        config=config,
        seed=seed,
        resume=resume,
    )
    if not resume:  # a resumed run reads it (other workers too, while the chief goes on)
        vocabulary.save(vocabulary_path(output))
    window_array = windows(encode(text, vocabulary), config.sequence_length)
    examples, count = as_examples(window_array).cache(), len(window_array)
    validation, _ = split_examples(dataset, "validation", vocabulary, config, config.eval_chars)
    steps = config.steps_per_epoch or steps_per_epoch(count, config.batch_size)
    print(
        f"Training char_generator ({preset}, {config.head} head) on {dataset}: "
        f"{len(text):,} chars, {vocabulary.vocab_size} ids, {count:,} sequences of "
        f"{config.sequence_length}, {config.epochs} epochs of {steps} steps, "
        f"batch {config.batch_size}; {cluster.describe()}"
    )
    restore_from = workdir if resume else output  # where resumable callbacks read state
    callbacks = on_plateau(config.lr_plateau_factor, output, restore_from)
    if config.early_stopping_patience is not None:
        callbacks.insert(0, keep_best(config.early_stopping_patience, output, restore_from))
    model = fit.fit_resumable(
        lambda: build_for_run(config, output),
        lambda first_epoch: training_batches(
            examples, count, config, seed, first_epoch, config.epochs, steps
        ),
        epochs=config.epochs,
        steps_per_epoch=steps,
        workdir=workdir,
        resume=resume,
        validation_data=validation.batch(EVALUATION_BATCH_SIZE).prefetch(tf.data.AUTOTUNE),
        callbacks=callbacks,
        cluster=cluster,
    )
    workdir_lib.save_model(output, model)
    return model
