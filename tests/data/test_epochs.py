"""Seeded epochs of in-memory tensors: permutations that replay exactly from any epoch."""

import numpy as np
import tensorflow as tf

from kerasnlp_lab.data.epochs import seeded_tensor_epochs

COUNT, BATCH = 10, 4


def epochs(first_epoch, seed=0, transform=None):
    values = np.arange(COUNT)
    stream = seeded_tensor_epochs(
        (values, values * 10),
        batch_size=BATCH,
        seed=seed,
        first_epoch=first_epoch,
        epochs=3,
        transform=transform,
    )
    return [tuple(part.tolist() for part in batch) for batch in stream.as_numpy_iterator()]


def test_each_epoch_is_a_permutation_in_batches_and_keeps_the_pairs():
    batches = epochs(0)
    assert [len(inputs) for inputs, _ in batches] == [4, 4, 2] * 3
    for epoch in range(3):
        inputs = sum((batch[0] for batch in batches[3 * epoch : 3 * epoch + 3]), [])
        assert sorted(inputs) == list(range(COUNT))
    assert all(targets == [10 * x for x in inputs] for inputs, targets in batches)


def test_epochs_replay_exactly_from_any_epoch_and_depend_on_seed_and_epoch():
    full = epochs(0)
    assert epochs(1) == full[3:]
    assert epochs(2) == full[6:]
    assert full[:3] != full[3:6]
    assert epochs(0, seed=1) != full


def test_transform_gets_the_epoch_and_the_step():
    def tag(batch, epoch, step):
        inputs, _ = batch
        return inputs, tf.fill(tf.shape(inputs), tf.cast(epoch * 100, tf.int64) + step)

    tags = [batch[1][0] for batch in epochs(1, transform=tag)]
    assert tags == [100, 101, 102, 200, 201, 202]
