"""ResumableDropout: its masks go on where they were after a save and a load."""

import keras
import numpy as np

from kerasnlp_lab.layers.resumable_dropout import ResumableDropout

X = np.ones((4, 16), "float32")


def model_with(dropout_layer):
    inputs = keras.Input((16,))
    return keras.Model(inputs, dropout_layer(keras.layers.Dense(16, name="dense")(inputs)))


def masks(model, calls):
    return [model(X, training=True).numpy() != 0 for _ in range(calls)]


def test_a_loaded_copy_draws_the_masks_the_original_draws_next(tmp_path):
    keras.utils.set_random_seed(1)
    original = model_with(ResumableDropout(0.5, name="dropout"))
    masks(original, 3)  # the generator's state moves on with each call
    original.save(tmp_path / "model.keras")
    keras.utils.set_random_seed(2)  # a resumed process seeds afresh
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(
        loaded.get_layer("dropout").seed_generator.state.numpy(),
        original.get_layer("dropout").seed_generator.state.numpy(),
    )
    expected, got = masks(original, 2), masks(loaded, 2)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(have, want)
    assert 0.3 < np.mean(expected) < 0.7
    np.testing.assert_array_equal(loaded(X).numpy(), original(X).numpy())  # inference: identity


def test_weights_saved_by_keras_dropout_load_with_a_fresh_state(tmp_path):
    keras.utils.set_random_seed(3)
    plain = model_with(keras.layers.Dropout(0.5, name="dropout"))
    plain.save_weights(tmp_path / "plain.weights.h5")
    resumable = model_with(ResumableDropout(0.5, name="dropout"))
    fresh_state = resumable.get_layer("dropout").seed_generator.state.numpy()
    resumable.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_array_equal(resumable(X).numpy(), plain(X).numpy())
    np.testing.assert_array_equal(
        resumable.get_layer("dropout").seed_generator.state.numpy(), fresh_state
    )
