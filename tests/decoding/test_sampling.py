"""Seeded sampling: deterministic per row, temperature, forbidden ids, core ops only."""

import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.decoding import sample_categorical
from kerasnlp_lab.decoding.sampling import uniform_noise


def test_same_seed_and_step_give_the_same_tokens_different_seeds_do_not():
    logits = tf.zeros([64, 50])  # uniform: every token equally likely
    first = sample_categorical(logits, 1.0, seed=7, step=3)
    again = sample_categorical(logits, 1.0, seed=7, step=3)
    other_seed = sample_categorical(logits, 1.0, seed=8, step=3)
    other_step = sample_categorical(logits, 1.0, seed=7, step=4)
    assert first.dtype == tf.int32 and first.shape == (64,)
    assert first.numpy().tolist() == again.numpy().tolist()
    assert first.numpy().tolist() != other_seed.numpy().tolist()
    assert first.numpy().tolist() != other_step.numpy().tolist()
    # Same seed for every row: every row draws the same token from the same logits.
    assert len(set(first.numpy().tolist())) == 1


def test_a_row_does_not_depend_on_the_other_rows_of_its_batch():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 30)).astype(np.float32)
    seeds = np.arange(100, 108, dtype=np.int64)
    temperatures = np.linspace(0.5, 1.5, 8).astype(np.float32)
    batched = sample_categorical(logits, temperatures, seeds, step=5).numpy()
    alone = [
        sample_categorical(logits[i : i + 1], temperatures[i], seeds[i], step=5).numpy()[0]
        for i in range(8)
    ]
    assert batched.tolist() == alone
    reversed_batch = sample_categorical(logits[::-1], temperatures[::-1], seeds[::-1], step=5)
    assert reversed_batch.numpy()[::-1].tolist() == batched.tolist()


def test_samples_follow_the_softmax_distribution():
    probabilities = np.array([0.5, 0.3, 0.2])
    logits = np.tile(np.log(probabilities).astype(np.float32), [3000, 1])
    tokens = sample_categorical(logits, 1.0, np.arange(3000), 0).numpy()
    frequencies = np.bincount(tokens, minlength=3) / len(tokens)
    np.testing.assert_allclose(frequencies, probabilities, atol=0.04)


def test_temperature_zero_or_below_is_argmax_and_a_tiny_temperature_approaches_it():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 20)).astype(np.float32)
    argmax = logits.argmax(axis=1)
    logits[np.arange(200), argmax] += 0.05  # a margin of at least 0.05 over the runner-up
    argmax = argmax.tolist()
    seeds = np.arange(200)
    sample = tf.function(sample_categorical)
    for temperature in (0.0, -1.0, 1e-30, 1e-3):
        tokens = sample(logits, tf.constant(temperature), seeds, 0)
        assert tokens.numpy().tolist() == argmax, temperature
    hot = sample(logits, tf.constant(5.0), seeds, 0).numpy().tolist()
    assert sum(a != b for a, b in zip(hot, argmax, strict=True)) > 100


def test_noise_is_uniform_and_independent_of_the_batch():
    noise = uniform_noise(tf.range(4000, dtype=tf.int64), 7, 25).numpy()  # (4000, 25)
    assert noise.min() > 0.0 and noise.max() < 1.0
    np.testing.assert_allclose(
        np.histogram(noise, bins=10, range=(0, 1))[0] / noise.size, 0.1, atol=0.005
    )
    # Neighbouring seeds, steps and columns are uncorrelated.
    assert abs(np.corrcoef(noise[:-1].ravel(), noise[1:].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]) < 0.02
    other_step = uniform_noise(tf.range(4000, dtype=tf.int64), 8, 25).numpy()
    assert abs(np.corrcoef(noise.ravel(), other_step.ravel())[0, 1]) < 0.02
    alone = uniform_noise(tf.constant([123], tf.int64), 7, 25).numpy()
    np.testing.assert_array_equal(alone[0], noise[123])


@pytest.mark.parametrize("temperature", [0.0, 1.0, 5.0])
def test_forbidden_ids_are_never_returned(temperature):
    # The forbidden ids 0 and 1 carry almost all the probability mass.
    logits = np.tile(np.array([[10.0, 9.0, 0.0, 0.1, -1.0]], np.float32), [500, 1])
    tokens = sample_categorical(logits, temperature, np.arange(500), step=2, forbidden_ids=(0, 1))
    tokens = tokens.numpy()
    assert set(tokens.tolist()) <= {2, 3, 4}
    if temperature == 0.0:
        assert set(tokens.tolist()) == {3}
    else:
        assert set(tokens.tolist()) == {2, 3, 4}


def test_sampling_in_tf_function_with_unknown_batch_and_no_xla_ops(op_types):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def sample(logits, temperature, seed, step):
        return sample_categorical(logits, temperature, seed, step, forbidden_ids=(0,))

    logits = np.random.default_rng(2).normal(size=(4, 9)).astype(np.float32)
    temperature = np.array([1.0, 0.0, 0.7, 2.0], np.float32)
    seed = np.array([1, 2, 3, 4], np.int64)
    traced = sample(logits, temperature, seed, tf.constant(3))
    eager = sample_categorical(logits, temperature, seed, 3, forbidden_ids=(0,))
    assert traced.numpy().tolist() == eager.numpy().tolist()
    types = op_types(sample.get_concrete_function())
    assert "While" not in types and "StatelessWhile" not in types  # no loop over rows
    assert not [op for op in types if op.startswith("Xla")]
