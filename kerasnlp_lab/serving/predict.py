"""`kerasnlp-lab predict`: one request, through a server or to a SavedModel in-process."""

import os

import numpy as np
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export.saved_model import existing_versions


def latest_version_dir(saved_models, model):
    """saved_models/<model>/<highest version>, or a UserError saying how to make one."""
    versions = existing_versions(os.path.join(saved_models, model))
    if not versions:
        raise UserError(
            f"No exported {model} in {saved_models}: run `kerasnlp-lab export {model}` first."
        )
    return os.path.join(saved_models, model, str(versions[-1]))


def predict_in_process(saved_models, model, inputs, signature_name="serving_default"):
    """Calls a signature of the latest exported version; returns {output: numpy array}."""
    loaded = tf.saved_model.load(latest_version_dir(saved_models, model))
    if signature_name not in loaded.signatures:
        raise UserError(
            f"{model} has no signature {signature_name!r}; it has "
            f"{', '.join(sorted(loaded.signatures.keys()))}."
        )
    outputs = loaded.signatures[signature_name](
        **{name: tf.constant(value) for name, value in inputs.items()}
    )
    return {name: np.asarray(value) for name, value in outputs.items()}


def predict(
    model, inputs, signature_name="serving_default", server=None, saved_models="saved_models"
):
    """Through the TF Serving API at `server` (http:// or grpc://), else in-process."""
    if server is None:
        return predict_in_process(saved_models, model, inputs, signature_name)
    from kerasnlp_lab.serving.client import ServingClient

    return ServingClient(server).predict(model, inputs, signature_name=signature_name)
