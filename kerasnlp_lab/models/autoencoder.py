"""The dense MNIST autoencoder: 28x28 images -> a 32-d code -> 28x28 reconstructions."""

import dataclasses

import keras

from kerasnlp_lab.models.presets import preset_config

MODEL_NAME = "autoencoder"
IMAGE_SIZE = 28


@dataclasses.dataclass(frozen=True)
class AutoencoderConfig:
    """Sizes and training settings of the autoencoder.

    `hidden_units` are the encoder's hidden layers between the pixels and the code; the
    decoder mirrors them. `noise_std` > 0 trains a denoising autoencoder (Gaussian noise on
    the inputs, clean targets).
    """

    hidden_units: tuple = ()
    code_size: int = 32
    batch_size: int = 256
    epochs: int = 10
    learning_rate: float = 1e-3
    noise_std: float = 0.0
    train_examples: int | None = None  # None: the whole training split
    validation_fraction_percent: int = 10


PRESETS = {
    # Seconds on 2 CPU cores: for tests and the demo.
    "tiny": AutoencoderConfig(hidden_units=(64,), batch_size=128, epochs=2, train_examples=4096),
    # The classic Keras-blog autoencoder: 784 -> 32 -> 784.
    "classic": AutoencoderConfig(),
    # A deeper symmetric autoencoder: 784-256-64-32-64-256-784.
    "deep": AutoencoderConfig(hidden_units=(256, 64)),
}
DEFAULT_PRESET = "classic"


def get_config(preset=None, **overrides):
    """Returns the named preset (default `classic`) with `overrides` applied."""
    return preset_config(MODEL_NAME, PRESETS, DEFAULT_PRESET, preset, **overrides)


def config_from_dict(values):
    """The config stored in a run description (JSON turns tuples into lists)."""
    return AutoencoderConfig(**{**values, "hidden_units": tuple(values["hidden_units"])})


def build_encoder(config):
    """Images (B, 28, 28) in [0, 1] -> codes (B, code_size)."""
    images = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE), name="images")
    x = keras.layers.Flatten(name="flatten")(images)  # (B, 784)
    for index, units in enumerate(config.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"encoder_dense_{index}")(x)
    codes = keras.layers.Dense(config.code_size, activation="relu", name="code")(x)
    return keras.Model(images, codes, name="encoder")


def build_decoder(config):
    """Codes (B, code_size) -> reconstructions (B, 28, 28) in [0, 1]."""
    codes = keras.Input(shape=(config.code_size,), name="codes")
    x = codes
    for index, units in enumerate(reversed(config.hidden_units)):
        x = keras.layers.Dense(units, activation="relu", name=f"decoder_dense_{index}")(x)
    pixels = keras.layers.Dense(
        IMAGE_SIZE * IMAGE_SIZE, activation="sigmoid", dtype="float32", name="pixels"
    )(x)
    images = keras.layers.Reshape((IMAGE_SIZE, IMAGE_SIZE), name="reconstructions")(
        pixels
    )  # (B, 28, 28)
    return keras.Model(codes, images, name="decoder")


def build_autoencoder(config):
    """The full autoencoder, compiled; its `encoder` and `decoder` share its weights."""
    encoder = build_encoder(config)
    decoder = build_decoder(config)
    images = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE), name="images")
    model = keras.Model(images, decoder(encoder(images)), name="autoencoder")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.MeanSquaredError(name="mse")],
    )
    return model


def encoder_of(model):
    """The encoder sub-model of a (possibly reloaded) autoencoder."""
    return model.get_layer("encoder")


def decoder_of(model):
    """The decoder sub-model of a (possibly reloaded) autoencoder."""
    return model.get_layer("decoder")
