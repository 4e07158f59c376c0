"""32 concurrent clients (REST and gRPC) with batching on: each gets exactly its own results."""

import threading

import numpy as np

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
    prefix = (":tensorflow:serving:batching_session:processed_batch_size_" + suffix +
              '{model_name="affine",signature_name="serving_default"} ')
    (line,) = [line for line in metrics_text.splitlines() if line.startswith(prefix)]
    return float(line[len(prefix):])


def test_32_concurrent_clients_get_exactly_their_own_results(tmp_path, templates):
    install_version(templates["affine2"], tmp_path / "models" / "affine", 2)
    parameters = tmp_path / "batching_parameters.txt"
    parameters.write_text(BATCHING_PARAMETERS)
    server = ModelServer(tmp_path / "models", rest_port=0, grpc_port=0, batching_parameters_file=parameters)
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
                x = (rng.normal(size=(1 + (index + request) % 3, 3)) + 100 * index).astype(np.float32)
                try:
                    y = own.predict("affine", {"x": x})["y"]
                except Exception as error:  # every failure is a test failure, reported below
                    failures.append(f"client {index}: {error!r}")
                    return
                if not np.array_equal(y, affine_expected(x, 2)):
                    failures.append(f"client {index} request {request}: got {y.tolist()} for {x.tolist()}")
                rows_sent.append(len(x))

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        status, metrics = http_request(server.rest_port, "GET", "/monitoring/prometheus/metrics")
    finally:
        server.stop()
    assert failures == []
    assert len(rows_sent) == CLIENTS * REQUESTS_PER_CLIENT
    assert status == 200
    assert batch_metric(metrics, "sum") == sum(rows_sent)  # every row ran exactly once
    assert batch_metric(metrics, "count") < len(rows_sent)  # and requests shared batches
