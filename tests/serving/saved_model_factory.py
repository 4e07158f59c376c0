"""Small SavedModels for the serving tests, built with core TensorFlow only."""

import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2


class AffineModel(tf.Module):
    """serving_default: x float32 [-1, 3] -> y = x * scale + 1 (scale = the version number)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = tf.Variable(scale, dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def affine(self, x):
        return {"y": x * self.scale + 1.0}


class TextModel(tf.Module):
    """serving_default: text string [-1] -> upper string [-1], length int32 [-1];
    raw: text -> raw_bytes (text + b"\\xff", not valid UTF-8)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def upper(self, text):
        return {"upper": tf.strings.upper(text), "length": tf.strings.length(text)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def raw(self, text):
        return {"raw_bytes": tf.strings.join([text, tf.fill(tf.shape(text), tf.constant(b"\xff"))])}


class MultiInputModel(tf.Module):
    """serving_default: a float32 [-1, 2], b int64 [-1], flag bool [-1] ->
    total float32 [-1] = +-(a0 + a1 + b) (sign from flag), doubled int64 [-1] = 2 b."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 2], tf.float32, name="a"),
            tf.TensorSpec([None], tf.int64, name="b"),
            tf.TensorSpec([None], tf.bool, name="flag"),
        ]
    )
    def combine(self, a, b, flag):
        total = tf.reduce_sum(a, axis=1) + tf.cast(b, tf.float32)
        return {"total": tf.where(flag, total, -total), "doubled": b * 2}


class CountingModel(tf.Module):
    """serving_default: x float32 [-1] -> calls int64 [-1]: how many calls ran so far, this one
    included."""

    def __init__(self):
        super().__init__()
        self.calls = tf.Variable(0, dtype=tf.int64)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def count(self, x):
        calls = self.calls.assign_add(1)
        return {"calls": tf.fill(tf.shape(x), calls)}


class GateModel(tf.Module):
    """serving_default: entered string [-1], gate string [-1] -> opened int32 [-1].

    Writes the file named by entered[0] (so a test knows the call is running), then waits until a
    file named by gate[0] exists (so a test decides when the call ends), polling the file system."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="entered"),
            tf.TensorSpec([None], tf.string, name="gate"),
        ]
    )
    def wait(self, entered, gate):
        with tf.control_dependencies([tf.io.write_file(entered[0], "")]):
            (polls,) = tf.while_loop(
                lambda count: tf.equal(tf.size(tf.io.matching_files(gate[0])), 0),
                lambda count: count + 1,
                [tf.constant(0)],
            )
        return {"opened": tf.fill(tf.shape(gate), 1) + 0 * polls}


def affine_expected(x: np.ndarray, version: int) -> np.ndarray:
    return np.asarray(x, np.float32) * np.float32(version) + np.float32(1.0)


def save_affine(path: Path, version: int) -> Path:
    model = AffineModel(float(version))
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.affine})
    return path


def save_text(path: Path) -> Path:
    model = TextModel()
    tf.saved_model.save(
        model, str(path), signatures={"serving_default": model.upper, "raw": model.raw}
    )
    return path


def save_multi_input(path: Path) -> Path:
    model = MultiInputModel()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.combine})
    return path


def save_gate(path: Path) -> Path:
    model = GateModel()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.wait})
    return path


def save_counting(path: Path) -> Path:
    model = CountingModel()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.count})
    return path


def write_warmup_requests(
    version_folder: Path, model_name: str, requests: list[dict[str, np.ndarray]]
) -> None:
    """Writes assets.extra/tf_serving_warmup_requests: one PredictionLog per request."""
    folder = version_folder / "assets.extra"
    folder.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(folder / "tf_serving_warmup_requests")) as writer:
        for inputs in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default")
            )
            for name, array in inputs.items():
                request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())


def install_version(template: Path, base_path: Path, version: int) -> Path:
    """Copies a SavedModel into base_path/<version> atomically (copy beside it, then rename)."""
    base_path.mkdir(parents=True, exist_ok=True)
    staging = base_path / f".staging-{version}"
    shutil.copytree(template, staging)
    target = base_path / str(version)
    staging.rename(target)
    return target
