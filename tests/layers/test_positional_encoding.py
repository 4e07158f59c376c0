"""PositionalEncoding against the paper's formula and keras_hub.layers.SinePositionEncoding."""

import inspect

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.layers import PositionalEncoding

ATOL = 1e-5


def paper_encoding(length, depth, start=0):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))."""
    encoding = np.zeros((length, depth))
    for row, pos in enumerate(range(start, start + length)):
        for i in range(0, depth, 2):
            angle = pos / 10000 ** (i / depth)
            encoding[row, i] = np.sin(angle)
            if i + 1 < depth:
                encoding[row, i + 1] = np.cos(angle)
    return encoding


@pytest.mark.parametrize("depth", [8, 7])
def test_matches_the_paper_formula(rng, depth):
    inputs = rng.normal(size=(2, 50, depth)).astype("float32")
    outputs = PositionalEncoding(max_length=64)(inputs)
    np.testing.assert_allclose(outputs, inputs + paper_encoding(50, depth), atol=ATOL)


def test_position_zero_is_zero_one_interleaved():
    outputs = PositionalEncoding(max_length=4)(np.zeros((1, 1, 6), "float32"))
    np.testing.assert_array_equal(outputs[0, 0], [0, 1, 0, 1, 0, 1])


def test_matches_keras_hub_sine_position_encoding(rng):
    inputs = rng.normal(size=(3, 20, 16)).astype("float32")
    expected = inputs + keras_hub.layers.SinePositionEncoding()(inputs)
    np.testing.assert_allclose(PositionalEncoding(32)(inputs), expected, atol=ATOL)
    expected_later = inputs[:, :5] + keras_hub.layers.SinePositionEncoding()(
        inputs[:, :5], start_index=11
    )
    np.testing.assert_allclose(
        PositionalEncoding(32)(inputs[:, :5], start_index=11), expected_later, atol=ATOL
    )


def test_start_index_tensor_in_a_while_loop_equals_one_pass(rng):
    layer = PositionalEncoding(max_length=16)
    inputs = rng.normal(size=(2, 9, 6)).astype("float32")
    expected = layer(inputs)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 6])])
    def step_by_step(x):
        steps = tf.TensorArray(tf.float32, size=tf.shape(x)[1])

        def body(t, steps):
            return t + 1, steps.write(t, layer(x[:, t : t + 1], start_index=t)[:, 0])

        _, steps = tf.while_loop(lambda t, _: t < tf.shape(x)[1], body, (0, steps))
        return tf.transpose(steps.stack(), [1, 0, 2])  # (B, T, D)

    np.testing.assert_allclose(step_by_step(inputs), expected, atol=ATOL)


def test_too_long_static_input_is_a_user_error():
    layer = PositionalEncoding(max_length=5)
    layer(np.zeros((1, 5, 4), "float32"))
    with pytest.raises(UserError, match=r"max_length=5.*start_index=0.*length 6"):
        layer(np.zeros((1, 6, 4), "float32"))
    with pytest.raises(UserError, match=r"start_index=3 and sequence length 3"):
        layer(np.zeros((1, 3, 4), "float32"), start_index=3)


def test_too_long_dynamic_input_fails_at_run_time():
    layer = PositionalEncoding(max_length=5)
    run = tf.function(layer, input_signature=[tf.TensorSpec([None, None, 4])])
    assert run(tf.zeros((2, 5, 4))).shape == (2, 5, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_length=5"):
        run(tf.zeros((2, 6, 4)))


def test_mask_passes_through(rng):
    token_ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
    encoded = PositionalEncoding(max_length=8)(embedded)
    pooled = keras.layers.GlobalAveragePooling1D()(encoded)  # averages unmasked steps
    model = keras.Model(token_ids, [encoded, pooled])

    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0]])
    sequence, mean = model(ids)
    valid = ids != 0
    expected_mean = (np.asarray(sequence) * valid[:, :, None]).sum(1) / valid.sum(1)[:, None]
    np.testing.assert_allclose(mean, expected_mean, atol=ATOL)


def test_has_no_weights_and_config_round_trip(rng):
    layer = PositionalEncoding(max_length=12, max_wavelength=500.0, name="positions")
    inputs = rng.normal(size=(2, 7, 5)).astype("float32")
    outputs = layer(inputs)
    assert layer.count_params() == 0
    config = layer.get_config()
    for argument in inspect.signature(PositionalEncoding.__init__).parameters:
        if argument not in ("self", "kwargs"):
            assert argument in config
    np.testing.assert_array_equal(PositionalEncoding.from_config(config)(inputs), outputs)


def test_keras_file_round_trip(rng, tmp_path):
    inputs = keras.Input((None, 6))
    model = keras.Model(inputs, PositionalEncoding(max_length=10, max_wavelength=77.0)(inputs))
    path = tmp_path / "positions.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = rng.normal(size=(2, 9, 6)).astype("float32")
    np.testing.assert_array_equal(model(x), loaded(x))


def test_mixed_precision(rng, mixed_policy):
    inputs = rng.normal(size=(2, 30, 8)).astype("float32")
    outputs = PositionalEncoding(max_length=32)(inputs)
    assert outputs.dtype == mixed_policy.split("_")[1]
    np.testing.assert_allclose(
        np.asarray(outputs, "float32"), inputs + paper_encoding(30, 8), atol=5e-2
    )


def test_traces_with_xla(rng):
    layer = PositionalEncoding(max_length=16)
    inputs = rng.normal(size=(2, 6, 4)).astype("float32")
    compiled = tf.function(lambda x, t: layer(x, start_index=t), jit_compile=True)
    np.testing.assert_allclose(
        compiled(inputs, tf.constant(3)), inputs + paper_encoding(6, 4, start=3), atol=ATOL
    )


def test_traced_graph_has_no_xla_ops(op_types):
    layer = PositionalEncoding(max_length=16)
    run = tf.function(
        lambda x, t: layer(x, start_index=t),
        input_signature=[tf.TensorSpec([None, None, 4]), tf.TensorSpec([], tf.int32)],
    )
    types = op_types(run.get_concrete_function())
    assert "GatherV2" in types and "Assert" in types
    assert not [t for t in types if t.startswith("Xla")]
