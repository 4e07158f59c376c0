"""The autoencoder model: presets, shapes, shared encoder/decoder weights, .keras round trip."""

import numpy as np
import pytest

import keras

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import autoencoder


def test_classic_preset_is_784_32_784():
    model = autoencoder.build_autoencoder(autoencoder.get_config("classic"))
    dense = [layer for sub in model.layers[1:] for layer in sub.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [32, 784]
    # 784*32+32 + 32*784+784
    assert model.count_params() == 50_992


def test_deep_preset_is_symmetric():
    model = autoencoder.build_autoencoder(autoencoder.get_config("deep"))
    dense = [layer for sub in model.layers[1:] for layer in sub.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [256, 64, 32, 64, 256, 784]


def test_encoder_and_decoder_share_the_autoencoder_weights():
    model = autoencoder.build_autoencoder(autoencoder.get_config("tiny"))
    images = np.random.default_rng().uniform(0, 1, (5, 28, 28)).astype("float32")
    codes = autoencoder.encoder_of(model)(images)
    assert codes.shape == (5, 32)
    composed = autoencoder.decoder_of(model)(codes)
    np.testing.assert_allclose(composed, model(images), atol=1e-6)
    kernel = autoencoder.encoder_of(model).get_layer("code").kernel
    kernel.assign(kernel * 0.0)
    np.testing.assert_allclose(autoencoder.encoder_of(model)(images), 0.0)
    outputs = model(images).numpy()
    assert outputs.shape == (5, 28, 28) and np.all((outputs > 0) & (outputs < 1))


def test_keras_round_trip_keeps_outputs(tmp_path):
    model = autoencoder.build_autoencoder(autoencoder.get_config("deep"))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    images = np.random.default_rng().uniform(0, 1, (3, 28, 28)).astype("float32")
    np.testing.assert_array_equal(reloaded(images), model(images))
    np.testing.assert_array_equal(autoencoder.encoder_of(reloaded)(images), autoencoder.encoder_of(model)(images))


def test_overrides_and_unknown_preset():
    config = autoencoder.get_config("classic", epochs=3, noise_std=0.2, batch_size=None)
    assert (config.epochs, config.noise_std, config.batch_size) == (3, 0.2, 256)
    with pytest.raises(UserError, match=r"Unknown autoencoder preset 'huge': expected one of tiny, classic, deep"):
        autoencoder.get_config("huge")
