"""TransformerDecoderBlock against keras_hub.layers.TransformerDecoder with copied weights:
teacher forcing, and decoding one position at a time (ours with its caches, keras_hub with
its own)."""

import inspect

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from kerasnlp_lab.layers import TransformerDecoderBlock
from kerasnlp_lab.numerics import LARGE_NEGATIVE

ATOL = 1e-5
SEED = 37
HEADS, FEED_FORWARD_DIM, MODEL_DIM = 4, 24, 16
KEY_DIM = MODEL_DIM // HEADS
EPSILON = 1e-5


def attention_map(ours, theirs):
    """Our attention's weights -> keras_hub's (kernels (D, H, K) and (H, K, D) on both sides)."""
    return {
        f"{ours}/{part}_{kind}": f"{theirs}/{their_part}/{kind}"
        for part, their_part in [
            ("query", "query"),
            ("key", "key"),
            ("value", "value"),
            ("output", "attention_output"),
        ]
        for kind in ("kernel", "bias")
    }


# Our weight -> keras_hub's, by path below the layer.
WEIGHT_MAP = {
    **attention_map("self_attention", "self_attention"),
    "self_attention_norm/gamma": "self_attention_layer_norm/gamma",
    "self_attention_norm/beta": "self_attention_layer_norm/beta",
    **attention_map("cross_attention", "cross_attention"),
    "cross_attention_norm/gamma": "cross_attention_layer_norm/gamma",
    "cross_attention_norm/beta": "cross_attention_layer_norm/beta",
    "feed_forward_inner/kernel": "feedforward_intermediate_dense/kernel",
    "feed_forward_inner/bias": "feedforward_intermediate_dense/bias",
    "feed_forward_outer/kernel": "feedforward_output_dense/kernel",
    "feed_forward_outer/bias": "feedforward_output_dense/bias",
    "feed_forward_norm/gamma": "feedforward_layer_norm/gamma",
    "feed_forward_norm/beta": "feedforward_layer_norm/beta",
}


def weights_by_path(layer):
    """{path below the layer: variable}."""
    return {weight.path.split("/", 1)[1]: weight for weight in layer.weights}


def our_block(rng, norm_first):
    """A built decoder block whose every weight (biases and norms too) is random."""
    block = TransformerDecoderBlock(
        HEADS, FEED_FORWARD_DIM, norm_first=norm_first, layer_norm_epsilon=EPSILON
    )
    block.build((None, None, MODEL_DIM))
    block.set_weights(
        [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in block.get_weights()]
    )
    return block


def keras_hub_copy(block):
    """keras_hub's decoder with the settings and the weights of `block`."""
    reference = keras_hub.layers.TransformerDecoder(
        FEED_FORWARD_DIM,
        HEADS,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=EPSILON,
        normalize_first=block.norm_first,
    )
    reference.build((None, None, MODEL_DIM), (None, None, MODEL_DIM))
    theirs = weights_by_path(reference)
    assert sorted(theirs) == sorted(WEIGHT_MAP.values())
    for path, weight in weights_by_path(block).items():
        target = theirs[WEIGHT_MAP[path]]
        assert tuple(target.shape) == tuple(weight.shape), path
        target.assign(weight)
    return reference


def padding_mask(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]  # (B, T)


def inputs(rng, target_length=6, source_lengths=(8, 5, 3)):
    """Target states (3, T, D), encoder outputs (3, 8, D) and their padding mask (3, 8)."""
    x = rng.normal(size=(3, target_length, MODEL_DIM)).astype("float32")
    encoder_outputs = rng.normal(size=(3, 8, MODEL_DIM)).astype("float32")
    return x, encoder_outputs, padding_mask(source_lengths, 8)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("target_lengths", [(6, 6, 6), (6, 4, 2)])
def test_teacher_forcing_equals_keras_hub_transformer_decoder(norm_first, target_lengths):
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first)
    reference = keras_hub_copy(block)
    x, encoder_outputs, source_mask = inputs(rng)
    target_mask = padding_mask(target_lengths, 6)

    output = np.asarray(
        block(x, encoder_outputs, padding_mask=target_mask, encoder_padding_mask=source_mask)
    )
    expected = np.asarray(
        reference(
            x, encoder_outputs, decoder_padding_mask=target_mask, encoder_padding_mask=source_mask
        )
    )
    assert output.shape == (3, 6, MODEL_DIM)
    # Padded target rows differ by design (zero attention weights here, uniform in
    # keras_hub): compare the valid steps.
    np.testing.assert_allclose(output[target_mask], expected[target_mask], atol=ATOL)
    assert np.abs(expected[target_mask]).max() > 0.5  # not a comparison of near-zeros


def test_decoder_is_causal():
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first=True)
    x, encoder_outputs, source_mask = inputs(rng)
    changed = x.copy()
    changed[:, 4:] = rng.normal(size=(3, 2, MODEL_DIM))
    before = np.asarray(block(x, encoder_outputs, encoder_padding_mask=source_mask))
    after = np.asarray(block(changed, encoder_outputs, encoder_padding_mask=source_mask))
    np.testing.assert_array_equal(after[:, :4], before[:, :4])
    assert np.abs(after[:, 4:] - before[:, 4:]).max() > 0.1


def cross_bias(source_mask):
    """The additive source mask `(B, 1, 1, S)` of `decode_position`."""
    return np.where(source_mask, 0.0, LARGE_NEGATIVE)[:, None, None, :].astype("float32")


def our_decoding(block, x, encoder_outputs, source_mask, group=1):
    """Outputs `(N, T, D)` of decoding `x` `(N, T, D)` one position at a time; rows
    n * group ... of `x` read source n of `encoder_outputs` `(N / group, S, D)`."""
    weights = block.decoding_weights()
    cache = block.empty_self_cache(x.shape[0])
    cross_cache = block.compute_cross_cache(encoder_outputs)
    outputs = []
    for t in range(x.shape[1]):
        output, cache = block.decode_position(
            tf.constant(x[:, t]), weights, cache, cross_cache, cross_bias(source_mask), group
        )
        assert [tuple(part.shape) for part in cache] == [(x.shape[0], HEADS, t + 1, KEY_DIM)] * 2
        outputs.append(np.asarray(output))
    return np.stack(outputs, axis=1)


def keras_hub_cached_decoding(reference, x, encoder_outputs, source_mask):
    """The same with keras_hub's caches `(B, 2, L, H, K)`, one step per call; the first
    call fills the cross cache (`cross_attention_cache_update_index=0`), later calls
    reuse it."""
    batch_size, source_length = encoder_outputs.shape[:2]
    length = x.shape[1]
    cache = ops.zeros((batch_size, 2, length, HEADS, KEY_DIM))
    cross_cache = ops.zeros((batch_size, 2, source_length, HEADS, KEY_DIM))
    outputs = []
    for t in range(length):
        output, cache, cross_cache = reference(
            x[:, t : t + 1],
            encoder_outputs,
            encoder_padding_mask=source_mask,
            self_attention_cache=cache,
            self_attention_cache_update_index=t,
            cross_attention_cache=cross_cache,
            cross_attention_cache_update_index=0 if t == 0 else None,
        )
        outputs.append(np.asarray(output))
    return np.concatenate(outputs, axis=1)


@pytest.mark.parametrize("norm_first", [True, False])
def test_decoding_equals_teacher_forcing_and_keras_hub_cached(norm_first):
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first)
    reference = keras_hub_copy(block)
    x, encoder_outputs, source_mask = inputs(rng)
    full = np.asarray(block(x, encoder_outputs, encoder_padding_mask=source_mask))

    ours = our_decoding(block, x, encoder_outputs, source_mask)
    theirs = keras_hub_cached_decoding(reference, x, encoder_outputs, source_mask)
    np.testing.assert_allclose(ours, full, atol=ATOL)
    np.testing.assert_allclose(theirs, full, atol=ATOL)
    np.testing.assert_allclose(ours, theirs, atol=ATOL)


@pytest.mark.parametrize("norm_first", [True, False])
def test_grouped_hypotheses_share_one_cross_cache(norm_first):
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first)
    _, encoder_outputs, source_mask = inputs(rng)
    group = 2
    x = rng.normal(size=(3 * group, 4, MODEL_DIM)).astype("float32")  # 2 hypotheses a source
    repeated_outputs = np.repeat(encoder_outputs, group, axis=0)
    repeated_mask = np.repeat(source_mask, group, axis=0)
    full = np.asarray(block(x, repeated_outputs, encoder_padding_mask=repeated_mask))

    grouped = our_decoding(block, x, encoder_outputs, source_mask, group=group)
    repeated = our_decoding(block, x, repeated_outputs, repeated_mask)
    np.testing.assert_allclose(grouped, full, atol=ATOL)
    np.testing.assert_allclose(grouped, repeated, atol=ATOL)


def test_cross_cache_shapes_and_padded_source_positions_change_nothing():
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first=True)
    x, encoder_outputs, source_mask = inputs(rng, target_length=3)
    cross_keys, cross_values = block.compute_cross_cache(encoder_outputs)
    assert [tuple(cross_keys.shape), tuple(cross_values.shape)] == [(3, HEADS, 8, KEY_DIM)] * 2
    assert [tuple(part.shape) for part in block.empty_self_cache(3)] == [(3, HEADS, 0, KEY_DIM)] * 2
    noisy = np.where(source_mask[..., None], encoder_outputs, 1e3).astype("float32")
    np.testing.assert_allclose(
        our_decoding(block, x, noisy, source_mask),
        our_decoding(block, x, encoder_outputs, source_mask),
        atol=ATOL,
    )


def test_get_config_holds_every_argument_and_rebuilds_the_block():
    rng = np.random.default_rng(SEED)
    block = TransformerDecoderBlock(
        2, 12, dropout=0.25, norm_first=False, layer_norm_epsilon=1e-6, name="decoder"
    )
    block.build((None, None, 8))
    config = block.get_config()
    arguments = set(inspect.signature(TransformerDecoderBlock.__init__).parameters)
    assert arguments - {"self", "kwargs"} <= set(config)
    assert (
        config["num_heads"],
        config["feed_forward_dim"],
        config["dropout"],
        config["norm_first"],
        config["layer_norm_epsilon"],
    ) == (2, 12, 0.25, False, 1e-6)
    clone = TransformerDecoderBlock.from_config(config)
    clone.build((None, None, 8))
    clone.set_weights(block.get_weights())
    assert clone.get_config() == config
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    encoder_outputs = rng.normal(size=(2, 4, 8)).astype("float32")
    np.testing.assert_array_equal(clone(x, encoder_outputs), block(x, encoder_outputs))


def test_keras_file_round_trip(tmp_path):
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first=False)
    target = keras.Input((None, MODEL_DIM))
    source = keras.Input((None, MODEL_DIM))
    source_mask = keras.Input((None,), dtype="bool")
    model = keras.Model(
        [target, source, source_mask], block(target, source, encoder_padding_mask=source_mask)
    )
    path = str(tmp_path / "decoder.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)

    x, encoder_outputs, mask = inputs(rng)
    assert isinstance(reloaded.layers[-1], TransformerDecoderBlock)
    assert reloaded.layers[-1].get_config() == block.get_config()
    np.testing.assert_array_equal(
        reloaded([x, encoder_outputs, mask]), model([x, encoder_outputs, mask])
    )
