"""The autoencoder model: presets, shapes, shared encoder/decoder weights, .keras round trip."""

import keras
import numpy as np
import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import autoencoder


def test_classic_preset_is_784_32_784():
    model = autoencoder.build_autoencoder(autoencoder.get_config("classic"))
    dense = [
        layer
        for sub in model.layers[1:]
        for layer in sub.layers
        if isinstance(layer, keras.layers.Dense)
    ]
    assert [layer.units for layer in dense] == [32, 784]
    # 784*32+32 + 32*784+784
    assert model.count_params() == 50_992


def test_deep_preset_is_symmetric():
    model = autoencoder.build_autoencoder(autoencoder.get_config("deep"))
    dense = [
        layer
        for sub in model.layers[1:]
        for layer in sub.layers
        if isinstance(layer, keras.layers.Dense)
    ]
    assert [layer.units for layer in dense] == [256, 64, 32, 64, 256, 784]


def test_encoder_and_decoder_share_the_autoencoder_weights():
    model = autoencoder.build_autoencoder(autoencoder.get_config("tiny"))
    encoder, decoder = autoencoder.encoder_of(model), autoencoder.decoder_of(model)
    assert len(model.weights) == len(encoder.weights) + len(decoder.weights) == 8
    assert {id(w) for w in model.weights} == {id(w) for w in encoder.weights + decoder.weights}
    images = np.random.default_rng(3).uniform(0, 1, (5, 28, 28)).astype("float32")
    codes, outputs = encoder(images).numpy(), model(images).numpy()
    assert codes.shape == (5, 32) and outputs.shape == (5, 28, 28)

    # A change made through the full model's weights reaches the encoder...
    hidden_kernel = next(w for w in model.weights if w.path == "encoder_dense_0/kernel")
    hidden_kernel.assign(hidden_kernel * 2.0)
    assert np.abs(encoder(images).numpy() - codes).max() > 1e-3
    # ... and one made through the decoder reaches the full model: with a zero output
    # kernel every pixel is sigmoid(its bias), whatever the image.
    pixels = decoder.get_layer("pixels")
    pixels.kernel.assign(np.zeros(pixels.kernel.shape, "float32"))
    pixels.bias.assign(np.linspace(-2, 2, 784).astype("float32"))
    expected = 1 / (1 + np.exp(-np.linspace(-2, 2, 784))).reshape(28, 28)
    np.testing.assert_allclose(
        model(images).numpy(), np.broadcast_to(expected, (5, 28, 28)), rtol=1e-5
    )


def test_keras_round_trip_keeps_outputs(tmp_path):
    model = autoencoder.build_autoencoder(autoencoder.get_config("deep"))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    images = np.random.default_rng(4).uniform(0, 1, (3, 28, 28)).astype("float32")
    np.testing.assert_array_equal(reloaded(images), model(images))
    np.testing.assert_array_equal(
        autoencoder.encoder_of(reloaded)(images), autoencoder.encoder_of(model)(images)
    )


def test_overrides_and_unknown_preset():
    config = autoencoder.get_config("classic", epochs=3, noise_std=0.2, batch_size=None)
    assert (config.epochs, config.noise_std, config.batch_size) == (3, 0.2, 256)
    with pytest.raises(
        UserError, match=r"Unknown autoencoder preset 'huge': expected one of tiny, classic, deep"
    ):
        autoencoder.get_config("huge")
