"""MultiHeadSelfAttention against keras.layers.MultiHeadAttention and keras_hub's cached MHA."""

import inspect

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.layers import MultiHeadSelfAttention
from kerasnlp_lab.numerics import LARGE_NEGATIVE

ATOL = 1e-5
HEADS, KEY_DIM, MODEL_DIM = 4, 8, 16


def random_mask(rng, batch, length):
    """A padding mask with at least one valid position per row."""
    lengths = rng.integers(1, length + 1, size=batch)
    return np.arange(length)[None, :] < lengths[:, None]


def random_weights(rng, layer):
    """Random values (biases included, so they are tested too) for every weight."""
    return [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in layer.get_weights()]


def layer_pair(rng, context_dim=None):
    """Our layer and keras.layers.MultiHeadAttention holding the same random weights."""
    ours = MultiHeadSelfAttention(HEADS, KEY_DIM)
    context_shape = None if context_dim is None else (None, None, context_dim)
    ours.build((None, None, MODEL_DIM), context_shape)
    ours.set_weights(random_weights(rng, ours))
    reference = keras.layers.MultiHeadAttention(HEADS, KEY_DIM)
    reference.build((None, None, MODEL_DIM), (None, None, context_dim or MODEL_DIM))
    reference.set_weights(ours.get_weights())
    return ours, reference


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_equals_keras_mha(rng, padded, causal):
    ours, reference = layer_pair(rng)
    x = rng.normal(size=(3, 7, MODEL_DIM)).astype("float32")
    mask = random_mask(rng, 3, 7) if padded else np.ones((3, 7), bool)

    output, scores = ours(x, query_mask=mask, use_causal_mask=causal, return_attention_scores=True)
    expected, expected_scores = reference(
        x,
        x,
        attention_mask=mask[:, :, None] & mask[:, None, :],
        use_causal_mask=causal,
        return_attention_scores=True,
    )
    assert output.shape == (3, 7, MODEL_DIM) and scores.shape == (3, HEADS, 7, 7)
    # Padded query rows differ by design (zeros here, uniform in Keras): compare valid rows.
    np.testing.assert_allclose(np.asarray(output)[mask], np.asarray(expected)[mask], atol=ATOL)
    np.testing.assert_allclose(
        np.transpose(scores, (0, 2, 1, 3))[mask],
        np.transpose(expected_scores, (0, 2, 1, 3))[mask],
        atol=ATOL,
    )


@pytest.mark.parametrize("padded", [False, True])
def test_cross_attention_equals_keras_mha(rng, padded):
    ours, reference = layer_pair(rng, context_dim=10)
    x = rng.normal(size=(2, 5, MODEL_DIM)).astype("float32")
    context = rng.normal(size=(2, 9, 10)).astype("float32")
    context_mask = random_mask(rng, 2, 9) if padded else None

    output = ours(x, context, context_mask=context_mask)
    attention_mask = None if context_mask is None else np.repeat(context_mask[:, None], 5, 1)
    expected = reference(x, context, attention_mask=attention_mask)
    np.testing.assert_allclose(output, expected, atol=ATOL)


def test_padded_query_rows_get_zero_weights(rng):
    ours, _ = layer_pair(rng)
    x = rng.normal(size=(2, 4, MODEL_DIM)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    output, scores = ours(x, query_mask=mask, return_attention_scores=True)
    np.testing.assert_array_equal(np.asarray(scores)[0, :, 2:], 0.0)
    output_bias = ours.get_weights()[-1]
    np.testing.assert_allclose(np.asarray(output)[0, 2:], np.tile(output_bias, (2, 1)), atol=ATOL)


def test_masked_positions_change_nothing(rng):
    ours_self, _ = layer_pair(rng)
    ours, _ = layer_pair(rng, context_dim=6)
    x = rng.normal(size=(2, 5, MODEL_DIM)).astype("float32")
    context = rng.normal(size=(2, 8, 6)).astype("float32")
    query_mask = random_mask(rng, 2, 5)
    context_mask = random_mask(rng, 2, 8)

    def noise(a, keep):
        return np.where(keep[..., None], a, 1e3 * rng.normal(size=a.shape)).astype("float32")

    self_before = ours_self(x, query_mask=query_mask, use_causal_mask=True)
    self_after = ours_self(noise(x, query_mask), query_mask=query_mask, use_causal_mask=True)
    np.testing.assert_allclose(
        np.asarray(self_before)[query_mask], np.asarray(self_after)[query_mask], atol=ATOL
    )
    cross_before = ours(x, context, context_mask=context_mask)
    cross_after = ours(x, noise(context, context_mask), context_mask=context_mask)
    np.testing.assert_allclose(cross_before, cross_after, atol=ATOL)
    # Causal: changing the last step changes nothing before it.
    changed = x.copy()
    changed[:, -1] = 1e3
    np.testing.assert_allclose(
        ours_self(x, use_causal_mask=True)[:, :-1],
        ours_self(changed, use_causal_mask=True)[:, :-1],
        atol=ATOL,
    )


def decode_steps(layer, x):
    """Outputs `(B, T, D)` of causal self-attention over `x` `(B, T, D)`, one
    `decode_self_attention` step per position, and the final cache."""
    weights = layer.decoding_weights(self_attention=True)
    cache = layer.empty_cache(x.shape[0])
    steps = []
    for t in range(x.shape[1]):
        step, cache = layer.decode_self_attention(tf.constant(x[:, t]), weights, cache)
        steps.append(step)
    return np.stack(steps, axis=1), cache


def test_decoding_steps_equal_one_causal_pass(rng):
    ours, _ = layer_pair(rng)
    x = rng.normal(size=(2, 6, MODEL_DIM)).astype("float32")
    assert [part.shape for part in ours.empty_cache(2)] == [(2, HEADS, 0, KEY_DIM)] * 2
    steps, cache = decode_steps(ours, x)
    np.testing.assert_allclose(steps, ours(x, use_causal_mask=True), atol=ATOL)
    assert [part.shape for part in cache] == [(2, HEADS, 6, KEY_DIM)] * 2  # one per step
    keys, values = ours.compute_cache(x)
    np.testing.assert_allclose(cache[0], keys, atol=ATOL)
    np.testing.assert_allclose(cache[1], values, atol=ATOL)


def as_keras_hub_cache(cache):
    """Our keys and values `(B, H, S, K)` as keras_hub's `(B, 2, S, H, K)`."""
    return np.transpose(np.stack(cache, axis=1), (0, 1, 3, 2, 4))


def test_decoding_steps_equal_keras_hub_cached_mha(rng):
    ours_self, _ = layer_pair(rng)
    reference = keras_hub.layers.CachedMultiHeadAttention(HEADS, KEY_DIM)
    reference.build((None, None, MODEL_DIM), (None, None, MODEL_DIM))
    reference.set_weights(ours_self.get_weights())
    length = 5
    x = rng.normal(size=(2, length, MODEL_DIM)).astype("float32")

    weights = ours_self.decoding_weights(self_attention=True)
    cache = ours_self.empty_cache(2)
    reference_cache = np.zeros((2, 2, length, HEADS, KEY_DIM), "float32")
    for t in range(length):
        step, cache = ours_self.decode_self_attention(tf.constant(x[:, t]), weights, cache)
        allowed = np.broadcast_to(np.arange(length) <= t, (2, 1, length))
        expected, reference_cache = reference(
            x[:, t : t + 1],
            x[:, t : t + 1],
            attention_mask=allowed,
            cache=reference_cache,
            cache_update_index=t,
        )
        np.testing.assert_allclose(step, expected[:, 0], atol=ATOL)
        np.testing.assert_allclose(
            as_keras_hub_cache(cache), np.asarray(reference_cache)[:, :, : t + 1], atol=ATOL
        )

    # Cross-attention with a precomputed (static) cache, the source padding as a bias.
    ours, _ = layer_pair(rng, context_dim=10)
    cross_reference = keras_hub.layers.CachedMultiHeadAttention(HEADS, KEY_DIM)
    cross_reference.build((None, None, MODEL_DIM), (None, None, 10))
    cross_reference.set_weights(ours.get_weights())
    context = rng.normal(size=(2, 7, 10)).astype("float32")
    context_mask = random_mask(rng, 2, 7)
    bias = np.where(context_mask, 0.0, LARGE_NEGATIVE)[:, None, None, :].astype("float32")
    cross_cache = ours.compute_cache(context)
    cross_weights = ours.decoding_weights(self_attention=False)
    for t in range(length):
        step = ours.decode_cross_attention(tf.constant(x[:, t]), cross_weights, cross_cache, bias)
        expected, _ = cross_reference(
            x[:, t : t + 1],
            context,
            attention_mask=context_mask[:, None],
            cache=as_keras_hub_cache(cross_cache),
        )
        np.testing.assert_allclose(step, expected[:, 0], atol=ATOL)
    # Two hypotheses per source (beam search) read the one cross cache of their source.
    grouped = ours.decode_cross_attention(
        tf.constant(x[:, :2].reshape(4, MODEL_DIM)), cross_weights, cross_cache, bias, group=2
    )
    expected = ours(x[:, :2], context, context_mask=context_mask)  # (2, 2, D)
    np.testing.assert_allclose(grouped, np.reshape(expected, (4, MODEL_DIM)), atol=ATOL)


def test_while_loop_decoding_with_symbolic_shapes_has_no_xla_ops(rng, op_types):
    ours, _ = layer_pair(rng)
    x = rng.normal(size=(3, 5, MODEL_DIM)).astype("float32")
    expected = ours(x, use_causal_mask=True)

    @tf.function(input_signature=[tf.TensorSpec([None, None, MODEL_DIM])])
    def decode(x):
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        outputs = tf.TensorArray(tf.float32, size=length)
        weights = ours.decoding_weights(self_attention=True)

        def body(t, cache, outputs):
            step, cache = ours.decode_self_attention(x[:, t], weights, cache)
            return t + 1, cache, outputs.write(t, step)

        shape = tf.TensorShape([None, HEADS, None, KEY_DIM])  # the cache grows
        _, _, outputs = tf.while_loop(
            lambda t, *_: t < length,
            body,
            (tf.constant(0), ours.empty_cache(batch), outputs),
            shape_invariants=(tf.TensorShape([]), (shape, shape), tf.TensorShape(None)),
        )
        return tf.transpose(outputs.stack(), [1, 0, 2])  # (B, T, D)

    np.testing.assert_allclose(decode(x), expected, atol=ATOL)
    types = op_types(decode.get_concrete_function())
    assert "While" in types or "StatelessWhile" in types
    assert not [t for t in types if t.startswith("Xla")]


def test_traces_with_xla(rng):
    ours_self, _ = layer_pair(rng)
    ours, _ = layer_pair(rng, context_dim=6)
    x = rng.normal(size=(2, 4, MODEL_DIM)).astype("float32")
    context = rng.normal(size=(2, 5, 6)).astype("float32")
    context_mask = random_mask(rng, 2, 5)
    cache = ours_self.compute_cache(x[:, :1])  # a cache of one position

    @tf.function(jit_compile=True)
    def run(x, context, context_mask, cache):
        cross = ours(x, context, context_mask=context_mask)
        weights = ours_self.decoding_weights(self_attention=True)
        step, cache = ours_self.decode_self_attention(x[:, 1], weights, cache)
        return cross, step, cache

    cross, step, new_cache = run(x, context, context_mask, cache)
    np.testing.assert_allclose(cross, ours(x, context, context_mask=context_mask), atol=ATOL)
    np.testing.assert_allclose(step, ours_self(x[:, :2], use_causal_mask=True)[:, 1], atol=ATOL)
    for new_part, expected in zip(new_cache, ours_self.compute_cache(x[:, :2]), strict=True):
        np.testing.assert_allclose(new_part, expected, atol=ATOL)


def test_config_round_trip_and_every_argument_in_config(rng):
    layer = MultiHeadSelfAttention(
        2, 4, dropout=0.1, use_bias=False, kernel_initializer="he_normal", seed=3, name="mhsa"
    )
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    output = layer(x)
    assert len(layer.get_weights()) == 4  # no biases
    config = layer.get_config()
    for argument in inspect.signature(MultiHeadSelfAttention.__init__).parameters:
        if argument not in ("self", "kwargs"):
            assert argument in config
    clone = MultiHeadSelfAttention.from_config(config)
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x), output)


def test_keras_file_round_trip(rng, tmp_path):
    source = keras.Input((None, 6))
    source_mask = keras.Input((None,), dtype="bool")
    target = keras.Input((None, MODEL_DIM))
    hidden = MultiHeadSelfAttention(HEADS, KEY_DIM, name="self")(target, use_causal_mask=True)
    output = MultiHeadSelfAttention(HEADS, KEY_DIM, name="cross")(
        hidden, source, context_mask=source_mask
    )
    model = keras.Model([source, source_mask, target], output)
    model.set_weights(random_weights(rng, model))
    inputs = [
        rng.normal(size=(2, 7, 6)).astype("float32"),
        random_mask(rng, 2, 7),
        rng.normal(size=(2, 4, MODEL_DIM)).astype("float32"),
    ]
    path = tmp_path / "mhsa.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(model(inputs), loaded(inputs))


def test_mixed_precision_keeps_softmax_in_float32(rng, mixed_policy):
    layer = MultiHeadSelfAttention(HEADS, KEY_DIM)
    x = rng.normal(size=(2, 5, MODEL_DIM)).astype("float32")
    mask = random_mask(rng, 2, 5)
    output, scores = layer(x, query_mask=mask, use_causal_mask=True, return_attention_scores=True)
    compute_dtype = mixed_policy.split("_")[1]
    assert output.dtype == compute_dtype and scores.dtype == "float32"
    assert layer.query_kernel.dtype == "float32"
    weights = layer.decoding_weights(self_attention=True)
    step, cache = layer.decode_self_attention(x[:, 0], weights, layer.empty_cache(2))
    assert step.dtype == compute_dtype
    assert [part.dtype for part in cache] == [compute_dtype] * 2

    full = MultiHeadSelfAttention(HEADS, KEY_DIM, dtype="float32")
    full.build(x.shape)
    full.set_weights(layer.get_weights())
    expected, expected_scores = full(
        x, query_mask=mask, use_causal_mask=True, return_attention_scores=True
    )
    np.testing.assert_allclose(scores, expected_scores, atol=5e-2)
    np.testing.assert_allclose(np.asarray(output, "float32"), expected, atol=5e-2)
