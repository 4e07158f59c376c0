"""Per-epoch shuffling that depends only on (seed, epoch), so resumed runs replay exactly."""

import math

import tensorflow as tf


def steps_per_epoch(num_examples, batch_size):
    """Batches in one epoch, the last one possibly smaller."""
    return math.ceil(num_examples / batch_size)


def seeded_epochs(examples, *, num_examples, batch_size, seed, first_epoch, epochs, transform=None):
    """Batches of epochs first_epoch..epochs-1 back to back, each shuffled by (seed, epoch).

    Args:
        examples: a (cached) dataset of single examples.
        num_examples: its size, used as the shuffle buffer (a full shuffle).
        batch_size: examples per batch.
        seed: the run's seed.
        first_epoch, epochs: the range of epochs to produce.
        transform: optional (batch, epoch, step) -> element, e.g. to add seeded noise.
    """

    def one_epoch(epoch):
        batches = examples.shuffle(
            num_examples, seed=seed * 100_003 + epoch, reshuffle_each_iteration=False
        ).batch(batch_size)
        if transform is None:
            return batches
        return batches.enumerate().map(lambda step, batch: transform(batch, epoch, step))

    # A Python chain, not Dataset.range().flat_map(): shuffle seeds must be Python ints.
    stream = one_epoch(first_epoch)
    for epoch in range(first_epoch + 1, epochs):
        stream = stream.concatenate(one_epoch(epoch))
    return stream.prefetch(tf.data.AUTOTUNE)
