"""TF Serving warmup requests: PredictionLog records in assets.extra/."""

import os

import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def predict_log(model_name, signature_name, inputs):
    """One PredictionLog holding a PredictRequest of `inputs` ({name: array})."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name)
    )
    for input_name, value in inputs.items():
        request.inputs[input_name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def write_warmup_requests(version_dir, model_name, requests):
    """Writes (signature name, inputs) pairs as the version's warmup TFRecord file."""
    path = os.path.join(version_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name, inputs in requests:
            writer.write(predict_log(model_name, signature_name, inputs).SerializeToString())
    return path


def read_warmup_requests(version_dir):
    """The PredictRequests of a version's warmup file (empty if it has none)."""
    path = os.path.join(version_dir, WARMUP_FILE)
    if not os.path.exists(path):
        return []
    requests = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        requests.append(log.predict_log.request)
    return requests
