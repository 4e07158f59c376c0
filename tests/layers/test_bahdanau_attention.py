"""BahdanauAttention against NumPy and keras.layers.AdditiveAttention."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.layers import BahdanauAttention

ATOL = 1e-5


def numpy_bahdanau(query, values, mask, values_kernel, query_kernel, bias, score_vector):
    """score = vᵀ tanh(W₁h + W₂s + b), masked softmax, weighted sum (float64)."""
    query, values = query.astype(np.float64), values.astype(np.float64)
    hidden = np.tanh(
        (values @ values_kernel)[:, None, :, :]  # (B, 1, Tv, U)
        + (query @ query_kernel + bias)[:, :, None, :]  # (B, Tq, 1, U)
    )
    scores = hidden @ score_vector  # (B, Tq, Tv)
    scores = np.where(mask[:, None, :], scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    return weights @ values, weights  # (B, Tq, Dv), (B, Tq, Tv)


def make_layer(rng, units, query_dim, values_dim):
    layer = BahdanauAttention(units)
    layer.build((None, query_dim), (None, None, values_dim))
    layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    return layer


def random_mask(rng, batch, length):
    """A padding mask with at least one valid position per row."""
    lengths = rng.integers(1, length + 1, size=batch)
    return np.arange(length)[None, :] < lengths[:, None]


@pytest.mark.parametrize("query_rank", [2, 3])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_numpy(rng, query_rank, masked):
    batch, query_steps, value_steps, units = 3, 4, 6, 8
    layer = make_layer(rng, units, query_dim=5, values_dim=7)
    query_shape = (batch, 5) if query_rank == 2 else (batch, query_steps, 5)
    query = rng.normal(size=query_shape).astype("float32")
    values = rng.normal(size=(batch, value_steps, 7)).astype("float32")
    mask = random_mask(rng, batch, value_steps) if masked else None

    context, weights = layer(query, values, mask=mask)

    expected_context, expected_weights = numpy_bahdanau(
        query if query_rank == 3 else query[:, None, :],
        values,
        np.ones((batch, value_steps), bool) if mask is None else mask,
        *[w.astype(np.float64) for w in layer.get_weights()],
    )
    if query_rank == 2:
        expected_context, expected_weights = expected_context[:, 0], expected_weights[:, 0]
        assert context.shape == (batch, 7) and weights.shape == (batch, value_steps)
    else:
        assert context.shape == (batch, query_steps, 7)
        assert weights.shape == (batch, query_steps, value_steps)
    assert weights.dtype == "float32"
    np.testing.assert_allclose(context, expected_context, atol=ATOL)
    np.testing.assert_allclose(weights, expected_weights, atol=ATOL)


@pytest.mark.parametrize("masked", [False, True])
def test_identity_weights_equal_keras_additive_attention(rng, masked):
    batch, dim = 2, 6
    layer = BahdanauAttention(units=dim)
    layer.build((None, None, dim), (None, None, dim))
    layer.set_weights([np.eye(dim), np.eye(dim), np.zeros(dim), np.ones(dim)])
    query = rng.normal(size=(batch, 3, dim)).astype("float32")
    values = rng.normal(size=(batch, 5, dim)).astype("float32")
    mask = random_mask(rng, batch, 5) if masked else None

    context, weights = layer(query, values, mask=mask)

    reference = keras.layers.AdditiveAttention(use_scale=False)
    expected_context, expected_weights = reference(
        [query, values], mask=[None, mask], return_attention_scores=True
    )
    np.testing.assert_allclose(context, expected_context, atol=ATOL)
    np.testing.assert_allclose(weights, expected_weights, atol=ATOL)


def test_masked_positions_get_zero_weight_and_change_nothing(rng):
    layer = make_layer(rng, units=8, query_dim=4, values_dim=4)
    query = rng.normal(size=(2, 4)).astype("float32")
    values = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], bool)
    context, weights = layer(query, values, mask=mask)

    assert np.all(np.asarray(weights)[~mask] == 0.0)
    noisy_values = np.where(mask[:, :, None], values, 1e3 * rng.normal(size=values.shape))
    noisy_context, noisy_weights = layer(query, noisy_values.astype("float32"), mask=mask)
    np.testing.assert_array_equal(weights, noisy_weights)
    np.testing.assert_allclose(context, noisy_context, atol=ATOL)


def test_fully_masked_row_gives_zeros_not_nan(rng):
    layer = make_layer(rng, units=8, query_dim=4, values_dim=3)
    query = rng.normal(size=(2, 5, 4)).astype("float32")
    values = rng.normal(size=(2, 6, 3)).astype("float32")
    mask = np.array([[0] * 6, [1, 1, 0, 0, 0, 0]], bool)
    context, weights = layer(query, values, mask=mask)
    assert not np.isnan(context).any() and not np.isnan(weights).any()
    np.testing.assert_array_equal(context[0], np.zeros((5, 3)))
    np.testing.assert_array_equal(weights[0], np.zeros((5, 6)))
    np.testing.assert_allclose(np.sum(weights[1], axis=-1), np.ones(5), atol=ATOL)


def test_processed_values_give_the_same_result(rng):
    layer = make_layer(rng, units=8, query_dim=4, values_dim=5)
    query = rng.normal(size=(2, 4)).astype("float32")
    values = rng.normal(size=(2, 7, 5)).astype("float32")
    processed = layer.process_values(values)
    assert processed.shape == (2, 7, 8)
    direct = layer(query, values)
    reused = layer(query, values, processed_values=processed)
    for a, b in zip(direct, reused, strict=True):
        np.testing.assert_allclose(a, b, atol=ATOL)


def test_config_round_trip_and_every_argument_in_config(rng):
    layer = BahdanauAttention(units=6, kernel_initializer="he_normal", name="attend")
    query = rng.normal(size=(2, 3)).astype("float32")
    values = rng.normal(size=(2, 4, 5)).astype("float32")
    outputs = layer(query, values)
    config = layer.get_config()
    for argument in inspect.signature(BahdanauAttention.__init__).parameters:
        if argument not in ("self", "kwargs"):
            assert argument in config
    clone = BahdanauAttention.from_config(config)
    clone(query, values)
    clone.set_weights(layer.get_weights())
    for a, b in zip(outputs, clone(query, values), strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras_file_round_trip(rng, tmp_path):
    query = keras.Input((4,))
    values = keras.Input((None, 5))
    value_mask = keras.Input((None,), dtype="bool")
    context, weights = BahdanauAttention(units=6)(query, values, mask=value_mask)
    model = keras.Model([query, values, value_mask], [context, weights])
    inputs = [
        rng.normal(size=(3, 4)).astype("float32"),
        rng.normal(size=(3, 7, 5)).astype("float32"),
        random_mask(rng, 3, 7),
    ]
    path = tmp_path / "bahdanau.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(model(inputs), loaded(inputs), strict=True):
        np.testing.assert_array_equal(a, b)


def test_mixed_precision_keeps_softmax_in_float32(rng, mixed_policy):
    layer = BahdanauAttention(units=8)
    query = rng.normal(size=(2, 3, 4)).astype("float32")
    values = rng.normal(size=(2, 5, 4)).astype("float32")
    mask = random_mask(rng, 2, 5)
    context, weights = layer(query, values, mask=mask)
    assert context.dtype == layer.compute_dtype == mixed_policy.split("_")[1]
    assert weights.dtype == "float32"
    assert layer.values_kernel.dtype == "float32"

    full = BahdanauAttention(units=8, dtype="float32")
    full.build(query.shape, values.shape)
    full.set_weights(layer.get_weights())
    expected_context, expected_weights = full(query, values, mask=mask)
    np.testing.assert_allclose(weights, expected_weights, atol=5e-2)
    np.testing.assert_allclose(np.asarray(context, "float32"), expected_context, atol=5e-2)


def test_traces_with_xla_and_unknown_shapes(rng):
    layer = make_layer(rng, units=8, query_dim=4, values_dim=5)
    query = rng.normal(size=(2, 4)).astype("float32")
    values = rng.normal(size=(2, 6, 5)).astype("float32")
    mask = random_mask(rng, 2, 6)
    expected = layer(query, values, mask=mask)

    compiled = tf.function(lambda q, v, m: layer(q, v, mask=m), jit_compile=True)
    symbolic = tf.function(
        lambda q, v, m: layer(q, v, mask=m),
        input_signature=[
            tf.TensorSpec([None, 4]),
            tf.TensorSpec([None, None, 5]),
            tf.TensorSpec([None, None], tf.bool),
        ],
    )
    for run in (compiled, symbolic):
        for a, b in zip(expected, run(query, values, mask), strict=True):
            np.testing.assert_allclose(a, b, atol=ATOL)
