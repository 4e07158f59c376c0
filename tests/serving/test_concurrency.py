"""32 concurrent clients (REST and gRPC) with batching on: each gets exactly its own results; a gRPC
call without a deadline is batched too."""

import threading

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from kerasnlp_lab.serving.client import ServingClient
from kerasnlp_lab.serving.server import ModelServer
from tests.serving.conftest import http_request
from tests.serving.saved_model_factory import affine_expected, install_version

CLIENTS = 32
REQUESTS_PER_CLIENT = 5
BATCHING_PARAMETERS = """
max_batch_size { value: 16 }
batch_timeout_micros { value: 20000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 2 }
"""


def batch_metric(metrics_text: str, suffix: str) -> float:
    prefix = (
        ":tensorflow:serving:batching_session:processed_batch_size_"
        + suffix
        + '{model_name="affine",signature_name="serving_default"} '
    )
    (line,) = [line for line in metrics_text.splitlines() if line.startswith(prefix)]
    return float(line[len(prefix) :])


def no_deadline_predict(grpc_port: int) -> np.ndarray:
    """y of a gRPC Predict sent without a deadline (the server must not take it for one)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "affine"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0, 2.0, 3.0]], np.float32)))
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request)
    return tf.make_ndarray(response.outputs["y"])


def test_32_concurrent_clients_get_exactly_their_own_results(tmp_path, templates):
    install_version(templates["affine2"], tmp_path / "models" / "affine", 2)
    parameters = tmp_path / "batching_parameters.txt"
    parameters.write_text(BATCHING_PARAMETERS)
    server = ModelServer(
        tmp_path / "models", rest_port=0, grpc_port=0, batching_parameters_file=parameters
    )
    server.start()
    urls = [f"http://127.0.0.1:{server.rest_port}", f"grpc://127.0.0.1:{server.grpc_port}"]
    barrier = threading.Barrier(CLIENTS)
    failures, rows_sent = [], []

    def client(index):
        rng = np.random.default_rng(index)
        with ServingClient(urls[index % 2]) as own:
            barrier.wait(timeout=60)
            for request in range(REQUESTS_PER_CLIENT):
                # Unique values per client and request, so a mixed-up split cannot go unnoticed.
                x = (rng.normal(size=(1 + (index + request) % 3, 3)) + 100 * index).astype(
                    np.float32
                )
                try:
                    y = own.predict("affine", {"x": x})["y"]
                except Exception as error:  # every failure is a test failure, reported below
                    failures.append(f"client {index}: {error!r}")
                    return
                if not np.array_equal(y, affine_expected(x, 2)):
                    failures.append(
                        f"client {index} request {request}: got {y.tolist()} for {x.tolist()}"
                    )
                rows_sent.append(len(x))

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        status, metrics = http_request(server.rest_port, "GET", "/monitoring/prometheus/metrics")
        no_deadline = no_deadline_predict(server.grpc_port)
    finally:
        server.stop()
    assert failures == []
    np.testing.assert_array_equal(no_deadline, affine_expected([[1.0, 2.0, 3.0]], 2))
    assert len(rows_sent) == CLIENTS * REQUESTS_PER_CLIENT
    assert status == 200
    assert batch_metric(metrics, "sum") == sum(rows_sent)  # every row ran exactly once
    assert batch_metric(metrics, "count") < len(rows_sent)  # and requests shared batches
