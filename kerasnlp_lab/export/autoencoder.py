"""The autoencoder's SavedModel: `serving_default`, `encode` and `decode` signatures."""

import json

import numpy as np
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export.saved_model import write_version
from kerasnlp_lab.models import autoencoder
from kerasnlp_lab.training import workdir as workdir_lib

MODEL_NAME = autoencoder.MODEL_NAME
SIZE = autoencoder.IMAGE_SIZE
IMAGES_SPEC = tf.TensorSpec([None, SIZE, SIZE], tf.float32, name="images")


class AutoencoderServing(tf.Module):
    """Serving functions over a trained autoencoder (batch dimension first everywhere)."""

    def __init__(self, model):
        super().__init__(name="autoencoder_serving")
        self.model = model
        self.encoder = autoencoder.encoder_of(model)
        self.decoder = autoencoder.decoder_of(model)
        codes_spec = tf.TensorSpec([None, self.encoder.output.shape[-1]], tf.float32, name="codes")
        self.reconstruct = tf.function(self._reconstruct, input_signature=[IMAGES_SPEC])
        self.encode = tf.function(self._encode, input_signature=[IMAGES_SPEC])
        self.decode = tf.function(self._decode, input_signature=[codes_spec])

    def _reconstruct(self, images):
        return {"reconstructions": self.model(images, training=False)}

    def _encode(self, images):
        return {"codes": self.encoder(images, training=False)}

    def _decode(self, codes):
        return {"reconstructions": self.decoder(codes, training=False)}

    def signatures(self):
        """The signature map of the README's SavedModel contract."""
        return {
            "serving_default": self.reconstruct.get_concrete_function(),
            "encode": self.encode.get_concrete_function(),
            "decode": self.decode.get_concrete_function(),
        }


def warmup_requests(code_size, seed=0):
    """A few realistic requests per signature (batch sizes 1 and 8)."""
    rng = np.random.default_rng(seed)
    requests = []
    for batch in (1, 8):
        images = rng.uniform(0.0, 1.0, (batch, SIZE, SIZE)).astype(np.float32)
        codes = rng.uniform(0.0, 5.0, (batch, code_size)).astype(np.float32)
        requests += [
            ("serving_default", {"images": images}),
            ("encode", {"images": images}),
            ("decode", {"codes": codes}),
        ]
    return requests


def export_model(model, saved_models, version=None):
    """Writes saved_models/autoencoder/<version>/ for a trained Keras autoencoder."""
    serving = AutoencoderServing(model)
    return write_version(
        serving,
        serving.signatures(),
        saved_models=saved_models,
        name=MODEL_NAME,
        version=version,
        warmup_requests=warmup_requests(serving.encoder.output.shape[-1]),
    )


def load_serving(workdir):
    """(run description, the serving module of the trained run in `workdir`), in-process."""
    run, model = workdir_lib.load_run(workdir, MODEL_NAME)
    return run, AutoencoderServing(model)


def export(workdir="runs/autoencoder", saved_models="saved_models", version=None):
    """`kerasnlp-lab export autoencoder`: the trained model of `workdir` as a SavedModel."""
    _, serving = load_serving(workdir)
    return export_model(serving.model, saved_models, version)


def predict_inputs(inputs, **_):
    """`kerasnlp-lab predict autoencoder IMAGE.png...`: images scaled to [0, 1], 28x28."""
    images = []
    for path in inputs:
        try:
            image = tf.io.decode_image(tf.io.read_file(path), channels=1, expand_animations=False)
        except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as error:
            raise UserError(
                f"Cannot read {path} as an image (PNG, JPEG, GIF, BMP): {error.message}"
            ) from error
        image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, (SIZE, SIZE))
        images.append(image[..., 0].numpy())
    return {"images": np.stack(images)}


def format_outputs(outputs):
    """The outputs as JSON (pixel values rounded to 3 decimals)."""
    return json.dumps(
        {name: np.round(np.asarray(value), 3).tolist() for name, value in outputs.items()}
    )
