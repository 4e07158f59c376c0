"""MultiHeadSelfAttention against keras.layers.MultiHeadAttention and keras_hub's cached MHA."""

import inspect

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.layers import MultiHeadSelfAttention

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


def test_cached_decoding_equals_one_causal_pass(rng):
    ours, _ = layer_pair(rng)
    x = rng.normal(size=(2, 6, MODEL_DIM)).astype("float32")
    expected = ours(x, use_causal_mask=True)

    cache = ours.empty_cache(batch_size=2, max_length=9)  # longer than needed
    assert [part.shape for part in cache] == [(2, HEADS, KEY_DIM, 9), (2, HEADS, 9, KEY_DIM)]
    prefix, cache = ours(x[:, :2], cache=cache, cache_index=0)  # a two-step prompt
    steps = [prefix]
    for t in range(2, 6):
        step, cache = ours(x[:, t : t + 1], cache=cache, cache_index=t)
        assert [part.shape for part in cache] == [(2, HEADS, KEY_DIM, 9), (2, HEADS, 9, KEY_DIM)]
        steps.append(step)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), expected, atol=ATOL)
    np.testing.assert_array_equal(cache[0][..., 6:], 0.0)  # never written
    np.testing.assert_array_equal(cache[1][:, :, 6:], 0.0)


def as_keras_hub_cache(cache):
    """Our keys `(B, H, K, S)` and values `(B, H, S, K)` as keras_hub's `(B, 2, S, H, K)`."""
    keys, values = cache
    return np.stack([np.transpose(keys, (0, 3, 1, 2)), np.transpose(values, (0, 2, 1, 3))], axis=1)


def test_cached_decoding_equals_keras_hub_cached_mha(rng):
    ours_self, _ = layer_pair(rng)
    reference = keras_hub.layers.CachedMultiHeadAttention(HEADS, KEY_DIM)
    reference.build((None, None, MODEL_DIM), (None, None, MODEL_DIM))
    reference.set_weights(ours_self.get_weights())
    length = 5
    x = rng.normal(size=(2, length, MODEL_DIM)).astype("float32")

    cache = ours_self.empty_cache(2, length)
    reference_cache = np.zeros((2, 2, length, HEADS, KEY_DIM), "float32")
    for t in range(length):
        step, cache = ours_self(x[:, t : t + 1], cache=cache, cache_index=t)
        allowed = np.broadcast_to(np.arange(length) <= t, (2, 1, length))
        expected, reference_cache = reference(
            x[:, t : t + 1],
            x[:, t : t + 1],
            attention_mask=allowed,
            cache=reference_cache,
            cache_update_index=t,
        )
        np.testing.assert_allclose(step, expected, atol=ATOL)
        np.testing.assert_allclose(as_keras_hub_cache(cache), reference_cache, atol=ATOL)

    # Cross-attention with a precomputed (static) cache.
    ours, _ = layer_pair(rng, context_dim=10)
    cross_reference = keras_hub.layers.CachedMultiHeadAttention(HEADS, KEY_DIM)
    cross_reference.build((None, None, MODEL_DIM), (None, None, 10))
    cross_reference.set_weights(ours.get_weights())
    context = rng.normal(size=(2, 7, 10)).astype("float32")
    context_mask = random_mask(rng, 2, 7)
    cross_cache = ours.compute_cache(context)
    for t in range(length):
        step, same_cache = ours(x[:, t : t + 1], cache=cross_cache, context_mask=context_mask)
        expected, _ = cross_reference(
            x[:, t : t + 1],
            context,
            attention_mask=context_mask[:, None],
            cache=as_keras_hub_cache(cross_cache),
        )
        np.testing.assert_allclose(step, expected, atol=ATOL)
        for same, cross in zip(same_cache, cross_cache, strict=True):
            np.testing.assert_array_equal(same, cross)
    np.testing.assert_allclose(
        ours(x, cache=cross_cache, context_mask=context_mask)[0],
        ours(x, context, context_mask=context_mask),
        atol=ATOL,
    )


def test_while_loop_decoding_with_symbolic_shapes_has_no_xla_ops(rng, op_types):
    ours, _ = layer_pair(rng)
    x = rng.normal(size=(3, 5, MODEL_DIM)).astype("float32")
    expected = ours(x, use_causal_mask=True)
    max_length = 8

    @tf.function(input_signature=[tf.TensorSpec([None, None, MODEL_DIM])])
    def decode(x):
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        outputs = tf.TensorArray(tf.float32, size=length)

        def body(t, cache, outputs):
            step, cache = ours(x[:, t : t + 1], cache=cache, cache_index=t)
            return t + 1, cache, outputs.write(t, step[:, 0])

        _, _, outputs = tf.while_loop(
            lambda t, *_: t < length,
            body,
            (tf.constant(0), ours.empty_cache(batch, max_length), outputs),
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
    cache = ours_self.empty_cache(2, 4)

    @tf.function(jit_compile=True)
    def run(x, context, context_mask, cache, t):
        cross = ours(x, context, context_mask=context_mask)
        step, cache = ours_self(x[:, 1:2], cache=cache, cache_index=t)
        return cross, step, cache

    cross, step, new_cache = run(x, context, context_mask, cache, tf.constant(1))
    np.testing.assert_allclose(cross, ours(x, context, context_mask=context_mask), atol=ATOL)
    eager_step, eager_cache = ours_self(x[:, 1:2], cache=cache, cache_index=1)
    np.testing.assert_allclose(step, eager_step, atol=ATOL)
    for new_part, eager_part in zip(new_cache, eager_cache, strict=True):
        np.testing.assert_allclose(new_part, eager_part, atol=ATOL)


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
    cache = layer.empty_cache(2, 5)
    step, cache = layer(x[:, :1], cache=cache, cache_index=0)
    assert [part.dtype for part in cache] == [compute_dtype] * 2

    full = MultiHeadSelfAttention(HEADS, KEY_DIM, dtype="float32")
    full.build(x.shape)
    full.set_weights(layer.get_weights())
    expected, expected_scores = full(
        x, query_mask=mask, use_causal_mask=True, return_attention_scores=True
    )
    np.testing.assert_allclose(scores, expected_scores, atol=5e-2)
    np.testing.assert_allclose(np.asarray(output, "float32"), expected, atol=5e-2)


def test_cache_index_without_cache_is_an_error(rng):
    layer = MultiHeadSelfAttention(2, 4)
    x = rng.normal(size=(1, 2, 8)).astype("float32")
    with pytest.raises(ValueError, match="expected a cache with cache_index"):
        layer(x, cache_index=0)
