"""TransformerEncoderBlock against keras_hub.layers.TransformerEncoder with copied weights."""

import inspect

import keras
import keras_hub
import numpy as np
import pytest

from kerasnlp_lab.layers import TransformerEncoderBlock

ATOL = 1e-5
SEED = 31
HEADS, FEED_FORWARD_DIM, MODEL_DIM = 4, 24, 16
EPSILON = 1e-5

# Our weight -> keras_hub's, by path below the layer. The attention kernels have the
# same shapes on both sides: query/key/value (D, H, K), output (H, K, D).
WEIGHT_MAP = {
    "self_attention/query_kernel": "self_attention_layer/query/kernel",
    "self_attention/query_bias": "self_attention_layer/query/bias",
    "self_attention/key_kernel": "self_attention_layer/key/kernel",
    "self_attention/key_bias": "self_attention_layer/key/bias",
    "self_attention/value_kernel": "self_attention_layer/value/kernel",
    "self_attention/value_bias": "self_attention_layer/value/bias",
    "self_attention/output_kernel": "self_attention_layer/attention_output/kernel",
    "self_attention/output_bias": "self_attention_layer/attention_output/bias",
    "self_attention_norm/gamma": "self_attention_layer_norm/gamma",
    "self_attention_norm/beta": "self_attention_layer_norm/beta",
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
    """A built encoder block whose every weight (biases and norms too) is random."""
    block = TransformerEncoderBlock(
        HEADS, FEED_FORWARD_DIM, norm_first=norm_first, layer_norm_epsilon=EPSILON
    )
    block.build((None, None, MODEL_DIM))
    block.set_weights(
        [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in block.get_weights()]
    )
    return block


def keras_hub_copy(block):
    """keras_hub's encoder with the settings and the weights of `block`."""
    reference = keras_hub.layers.TransformerEncoder(
        FEED_FORWARD_DIM,
        HEADS,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=EPSILON,
        normalize_first=block.norm_first,
    )
    reference.build((None, None, MODEL_DIM))
    theirs = weights_by_path(reference)
    assert sorted(theirs) == sorted(WEIGHT_MAP.values())
    for path, weight in weights_by_path(block).items():
        target = theirs[WEIGHT_MAP[path]]
        assert tuple(target.shape) == tuple(weight.shape), path
        target.assign(weight)
    return reference


def padding_mask(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]  # (B, S)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("lengths", [(7, 7, 7), (7, 4, 1)])
def test_equals_keras_hub_transformer_encoder(norm_first, lengths):
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first)
    reference = keras_hub_copy(block)
    x = rng.normal(size=(3, 7, MODEL_DIM)).astype("float32")
    mask = padding_mask(lengths, 7)

    output = np.asarray(block(x, padding_mask=mask))
    expected = np.asarray(reference(x, padding_mask=mask))
    assert output.shape == (3, 7, MODEL_DIM)
    # keras_hub spreads a padded query row's attention uniformly, ours gives it zero
    # weights: the rows differ by design, so compare the valid positions.
    np.testing.assert_allclose(output[mask], expected[mask], atol=ATOL)
    assert np.abs(expected[mask]).max() > 0.5  # not a comparison of near-zeros


def test_attention_scores_skip_padding():
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first=True)
    x = rng.normal(size=(2, 5, MODEL_DIM)).astype("float32")
    mask = padding_mask((5, 3), 5)
    output, scores = block(x, padding_mask=mask, return_attention_scores=True)
    np.testing.assert_array_equal(output, block(x, padding_mask=mask))
    assert scores.shape == (2, HEADS, 5, 5)
    scores = np.asarray(scores)
    np.testing.assert_allclose(scores.sum(-1)[1, :, :3], 1.0, atol=1e-6)
    np.testing.assert_array_equal(scores[1, :, :, 3:], 0.0)  # padded keys
    np.testing.assert_array_equal(scores[1, :, 3:, :], 0.0)  # padded queries


def test_get_config_holds_every_argument_and_rebuilds_the_block():
    rng = np.random.default_rng(SEED)
    block = TransformerEncoderBlock(
        2, 12, dropout=0.25, norm_first=False, layer_norm_epsilon=1e-6, name="encoder"
    )
    block.build((None, None, 8))
    config = block.get_config()
    arguments = set(inspect.signature(TransformerEncoderBlock.__init__).parameters)
    assert arguments - {"self", "kwargs"} <= set(config)
    assert (
        config["num_heads"],
        config["feed_forward_dim"],
        config["dropout"],
        config["norm_first"],
        config["layer_norm_epsilon"],
    ) == (2, 12, 0.25, False, 1e-6)
    clone = TransformerEncoderBlock.from_config(config)
    clone.build((None, None, 8))
    clone.set_weights(block.get_weights())
    assert clone.get_config() == config
    x = rng.normal(size=(2, 3, 8)).astype("float32")
    np.testing.assert_array_equal(clone(x), block(x))


def test_keras_file_round_trip(tmp_path):
    rng = np.random.default_rng(SEED)
    block = our_block(rng, norm_first=True)
    inputs = keras.Input((None, MODEL_DIM))
    mask = keras.Input((None,), dtype="bool")
    model = keras.Model([inputs, mask], block(inputs, padding_mask=mask))
    path = str(tmp_path / "encoder.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)

    x = rng.normal(size=(2, 6, MODEL_DIM)).astype("float32")
    mask_values = padding_mask((6, 2), 6)
    assert isinstance(reloaded.layers[-1], TransformerEncoderBlock)
    assert reloaded.layers[-1].get_config() == block.get_config()
    np.testing.assert_array_equal(reloaded([x, mask_values]), model([x, mask_values]))
