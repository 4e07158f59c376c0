"""Per-epoch shuffling that depends only on (seed, epoch), so resumed runs replay exactly."""

import math

import tensorflow as tf

# Spreads (seed, epoch) pairs over distinct shuffle seeds: seed s, epoch e -> s * K + e, so
# two runs' seeds never collide for fewer than K epochs.
_EPOCH_SEED_STRIDE = 100_003


def epoch_seed(seed, epoch):
    """The Python int seed of one epoch of a run: depends on (seed, epoch) only."""
    return seed * _EPOCH_SEED_STRIDE + epoch


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
        return examples.shuffle(
            num_examples, seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False
        ).batch(batch_size)

    return chain_epochs(one_epoch, first_epoch, epochs, transform)


def seeded_tensor_epochs(tensors, *, batch_size, seed, first_epoch, epochs, transform=None):
    """`seeded_epochs` for in-memory tensors: each batch is gathered by shuffled indices.

    Much faster than shuffling single examples through tf.data (one gather per batch).

    Args:
        tensors: a tensor, or a tuple/dict of tensors, sharing their first axis (examples).
        batch_size, seed, first_epoch, epochs, transform: as in `seeded_epochs`.
    """
    # Eager tensors are captured by reference; NumPy arrays would become graph constants.
    tensors = tf.nest.map_structure(tf.convert_to_tensor, tensors)
    count = tf.shape(tf.nest.flatten(tensors)[0])[0]

    def one_epoch(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count), seed=[seed, epoch]
        )  # (N,)
        return (
            tf.data.Dataset.from_tensor_slices(order)
            .batch(batch_size)
            .map(lambda index: tf.nest.map_structure(lambda t: tf.gather(t, index), tensors))
        )

    return chain_epochs(one_epoch, first_epoch, epochs, transform)


def chain_epochs(one_epoch, first_epoch, epochs, transform=None):
    """The batches of `one_epoch(epoch)` for first_epoch..epochs-1, transformed, prefetched."""

    def transformed(epoch):
        batches = one_epoch(epoch)
        if transform is None:
            return batches
        return batches.enumerate().map(lambda step, batch: transform(batch, epoch, step))

    # A Python chain, not Dataset.range().flat_map(): shuffle seeds must be Python ints.
    stream = transformed(first_epoch)
    for epoch in range(first_epoch + 1, epochs):
        stream = stream.concatenate(transformed(epoch))
    return stream.prefetch(tf.data.AUTOTUNE)
