"""`kerasnlp-lab predict`: one request, through a server or to a SavedModel in-process."""

import os
import sys

import numpy as np
import tensorflow as tf

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export.saved_model import existing_versions


def load_newest(saved_models, model):
    """(version, SavedModel) of the newest version of `model` that loads, as the server picks.

    Newer versions that cannot be loaded (empty, corrupt, half copied) are skipped with one
    line on stderr; UserError when there is no version, or none loads.
    """
    versions = existing_versions(os.path.join(saved_models, model))
    if not versions:
        raise UserError(
            f"No exported {model} in {saved_models}: run `kerasnlp-lab export {model}` first."
        )
    broken = []
    for version in reversed(versions):
        try:
            loaded = tf.saved_model.load(os.path.join(saved_models, model, str(version)))
        except Exception as error:  # A damaged version fails in many ways inside TensorFlow.
            first_line = (str(error).strip().splitlines() or [""])[0]
            broken.append(f"{version} ({type(error).__name__}: {first_line})")
            continue
        if broken:
            print(
                f"kerasnlp-lab: {'version' if len(broken) == 1 else 'versions'} "
                f"{', '.join(broken)} of {model} cannot be loaded; using version {version}.",
                file=sys.stderr,
            )
        return version, loaded
    raise UserError(
        f"No version of {model} in {saved_models} can be loaded: expected a SavedModel in "
        f"one of its version folders, got {'; '.join(f'version {item}' for item in broken)}."
    )


def predict_in_process(saved_models, model, inputs, signature_name="serving_default"):
    """Calls a signature of the newest loadable version; returns {output: numpy array}."""
    version, loaded = load_newest(saved_models, model)
    if signature_name not in loaded.signatures:
        raise UserError(
            f"Version {version} of {model} has no signature {signature_name!r}; it has "
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
