"""write_version: a Keras 3 model inside a tf.Module runs in TF Serving's loader.

TF Serving loads the `serve` MetaGraph into a Session (restore op, then init op) and runs
SignatureDef tensors; run_signatures_in_fresh_tensorflow does the same in a TensorFlow-only process.
"""

import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasnlp_lab.export.saved_model import write_version
from kerasnlp_lab.serving.batching import read_batching_parameters
from kerasnlp_lab.serving.errors import ServingError
from kerasnlp_lab.serving.servable import Servable
from tests import export_checks


class KerasServing(tf.Module):
    """serving_default: x float32 [-1, 3] -> y float32 [-1, 2] through a Keras Dense layer."""

    def __init__(self):
        super().__init__()
        self.model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
        self.serve = tf.function(
            lambda x: {"y": self.model(x)},
            input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")],
        )

    def signatures(self):
        return {"serving_default": self.serve.get_concrete_function()}


X = np.arange(6, dtype=np.float32).reshape(2, 3)


def test_write_version_runs_in_tf_servings_loader(tmp_path):
    module = KerasServing()
    path = write_version(module, module.signatures(), saved_models=str(tmp_path), name="keras")
    [outputs] = export_checks.run_signatures_in_fresh_tensorflow(
        path, [("serving_default", {"x": X})]
    )
    np.testing.assert_allclose(outputs["y"], module.model(X).numpy(), rtol=1e-6)


def test_write_version_writes_tf_servings_per_model_batching_parameters(tmp_path):
    module = KerasServing()
    default = write_version(module, module.signatures(), saved_models=str(tmp_path), name="a")
    with open(os.path.join(default, "batching_params.pbtxt")) as file:
        assert file.read() == (
            "max_batch_size { value: 32 }\n"
            "batch_timeout_micros { value: 1000 }\n"
            "max_enqueued_batches { value: 100 }\n"
        )
    own = write_version(
        module,
        module.signatures(),
        saved_models=str(tmp_path),
        name="b",
        batching_parameters={"max_batch_size": 8, "batch_timeout_micros": 5000},
    )
    parameters = read_batching_parameters(os.path.join(own, "batching_params.pbtxt"))
    assert (parameters.max_batch_size, parameters.batch_timeout_micros) == (8, 5000)


def test_a_plain_save_of_the_same_module_cannot_run_in_tf_servings_loader(tmp_path):
    """Why write_version tracks the signatures' variables: without, the restore op fills the
    Keras wrappers' copies and the functions read variables that were never restored."""
    module = KerasServing()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures=module.signatures())
    with pytest.raises(RuntimeError, match=r"Could not find variable \S*dense/(kernel|bias)"):
        export_checks.run_signatures_in_fresh_tensorflow(
            str(tmp_path / "1"), [("serving_default", {"x": X})]
        )


def test_the_embedded_server_answers_such_an_export_as_tf_serving_does(tmp_path):
    module = KerasServing()
    tf.saved_model.save(module, str(tmp_path / "1"), signatures=module.signatures())
    servable = Servable("keras", 1, tmp_path / "1")
    with pytest.raises(ServingError, match=r"Could not find variable \S*dense/") as caught:
        servable.predict("serving_default", {"x": X})
    assert caught.value.code == "FAILED_PRECONDITION"
    fixed = write_version(module, module.signatures(), saved_models=str(tmp_path), name="keras")
    _, outputs = Servable("keras", 2, Path(fixed)).predict("serving_default", {"x": X})
    np.testing.assert_allclose(outputs["y"], module.model(X).numpy(), rtol=1e-6)
