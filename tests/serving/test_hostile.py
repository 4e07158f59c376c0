"""Hostile requests against `serve_forever` running in its own process, as an unfriendly client
would send them: each gets its HTTP status / gRPC code and message, the server keeps answering, and
the server process's peak RSS stays within RSS_ALLOWANCE of its RSS after start-up."""

import base64
import json
import queue
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving.conftest import WAIT_SECONDS, http_request, wait_until
from tests.serving.saved_model_factory import affine_expected, install_version

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import json, sys; from kerasnlp_lab.serving.limits import ServingLimits; "
    "from kerasnlp_lab.serving.server import serve_forever; "
    "serve_forever(sys.argv[1], rest_port=0, grpc_port=0, "
    "limits=ServingLimits(**json.loads(sys.argv[2])))"
)
MIB = 1024 * 1024
RSS_ALLOWANCE = 256 * MIB
LIMITS = {
    "max_request_bytes": MIB,
    "max_buffered_request_bytes": 8 * MIB,
    "max_batch_rows": 8,
    "max_string_bytes": 1024,
    "max_concurrent_requests_per_model": 2,
    "max_queued_requests_per_model": 64,
}
GATED_LIMITS = {
    "max_concurrent_requests_per_model": 1,
    "max_queued_requests_per_model": 1,
    "rest_api_timeout_in_ms": 1000,
}
X = [[1.0, 2.0, 3.0]]


def rss_bytes(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) * 1024


class ServerProcess:
    """`serve_forever` over a folder in a child process: its ports, pid and RSS after start-up."""

    def __init__(self, folder: Path, limits: dict):
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(folder), json.dumps(limits)],
            cwd=REPO_ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        lines: queue.Queue = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(line) for line in self.process.stdout] + [lines.put(None)],
            daemon=True,
        ).start()
        printed = []
        while True:
            line = lines.get(timeout=WAIT_SECONDS)
            assert line is not None, "the server exited early:\n" + "".join(printed)
            printed.append(line)
            match = re.search(
                r"REST on http://127\.0\.0\.1:(\d+)/\S+ and gRPC on 127\.0\.0\.1:(\d+)", line
            )
            if match:
                break
        self.rest_port, self.grpc_port = int(match.group(1)), int(match.group(2))
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.grpc_port}", options=[("grpc.max_send_message_length", -1)]
        )
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.baseline_rss = 0

    def check_alive_and_bounded(self) -> None:
        assert self.process.poll() is None, "the server process died"
        assert http_request(self.rest_port, "GET", "/v1/models/affine")[0] == 200
        peak = rss_bytes(self.process.pid, "VmHWM")
        assert peak <= self.baseline_rss + RSS_ALLOWANCE, (
            f"peak RSS {peak / MIB:.0f} MiB, RSS after start-up {self.baseline_rss / MIB:.0f} MiB"
        )

    def stop(self) -> None:
        self.channel.close()
        self.process.terminate()
        self.process.wait(timeout=WAIT_SECONDS)


def start_server(folder: Path, templates: dict, limits: dict) -> ServerProcess:
    for name in ("affine1", "text", "gate"):
        install_version(templates[name], folder / name.rstrip("1"), 1)
    server = ServerProcess(folder, limits)
    # Every model has answered once before the baseline is taken.
    assert (
        http_request(
            server.rest_port, "POST", "/v1/models/affine:predict", json.dumps({"instances": X})
        )[0]
        == 200
    )
    assert (
        http_request(server.rest_port, "POST", "/v1/models/text:predict", '{"instances": ["a"]}')[0]
        == 200
    )
    open_gate = str(folder / "open")
    Path(open_gate).write_text("")
    gate_request = json.dumps({"instances": [{"entered": str(folder / "warm"), "gate": open_gate}]})
    assert http_request(server.rest_port, "POST", "/v1/models/gate:predict", gate_request)[0] == 200
    server.baseline_rss = rss_bytes(server.process.pid, "VmRSS")
    return server


@pytest.fixture(scope="module")
def server(tmp_path_factory, templates):
    server = start_server(tmp_path_factory.mktemp("hostile"), templates, LIMITS)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def stays_up(request):
    """After each test: the server of the test still answers and its peak RSS is bounded."""
    yield
    for name in ("server", "gated_server"):
        if name in request.fixturenames:
            request.getfixturevalue(name).check_alive_and_bounded()


def rpc_error(server: ServerProcess, request, timeout: float = 30) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        server.prediction.Predict(request, timeout=timeout)
    return caught.value.code(), caught.value.details()


def predict_request(model: str, **protos) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name, proto in protos.items():
        request.inputs[name].CopyFrom(proto)
    return request


def raw_http(port: int, data: bytes, then_send: int = 0) -> tuple[bytes, int]:
    """Sends raw bytes, reads the answer, then tries to send `then_send` more bytes in 1 MiB pieces;
    returns (answer, bytes of the extra the server took before closing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(data)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + _length(
            answer
        ):
            piece = connection.recv(65536)
            if not piece:
                break
            answer += piece
        sent, chunk = 0, b"x" * MIB
        try:
            while sent < then_send:
                connection.sendall(chunk)
                sent += len(chunk)
        except OSError:  # the server closed the connection: what we wanted
            pass
    return answer, sent


def _length(answer: bytes) -> int:
    match = re.search(rb"content-length: (\d+)", answer, re.I)
    return int(match.group(1)) if match else 0


def split_answer(answer: bytes) -> tuple[int, dict, dict]:
    head, body = answer.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


# --------------------------------------------------------------------------- declared sizes (gRPC)
def test_a_string_tensor_declaring_a_billion_rows_is_refused_before_allocation(server):
    proto = tf.make_tensor_proto(np.array([b"x"], dtype=object))
    proto.tensor_shape.dim[0].size = 10**9
    assert len(predict_request("text", text=proto).SerializeToString()) < 100
    assert rpc_error(server, predict_request("text", text=proto)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Task size 1000000000 is larger than maximum input batch size 8",
    )


def with_shape(proto, *sizes: int):
    """The TensorProto with another declared shape (the values it carries unchanged)."""
    del proto.tensor_shape.dim[:]
    for size in sizes:
        proto.tensor_shape.dim.add(size=size)
    return proto


@pytest.mark.parametrize(
    "model, name, proto, message",
    [
        (
            "text",
            "text",
            with_shape(tf.make_tensor_proto(np.array([b"x"], dtype=object)), 4),
            "tensor parsing error: text (its shape [4] has 4 elements, got 1 values in string_val)",
        ),
        (
            "affine",
            "x",
            with_shape(tf.make_tensor_proto(np.zeros((1, 3), np.float32)), 2, 3),
            "tensor parsing error: x (its shape [2,3] needs 24 bytes of tensor_content, got 12)",
        ),
        (
            "affine",
            "x",
            with_shape(tf.make_tensor_proto(np.zeros((1, 3), np.float32)), -5, 3),
            "tensor parsing error: x (its shape [-5,3] has a negative size)",
        ),
    ],
)
def test_values_sent_must_match_the_declared_shape(server, model, name, proto, message):
    assert rpc_error(server, predict_request(model, **{name: proto})) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        message,
    )


# -------------------------------------------------------------------------------- rows and strings
def test_more_rows_than_allowed(server):
    assert http_request(
        server.rest_port, "POST", "/v1/models/affine:predict", json.dumps({"instances": X * 9})
    ) == (400, {"error": "Task size 9 is larger than maximum input batch size 8"})
    many_sentences = json.dumps({"instances": [""] * 200_000})  # 0.8 MB, under the 1 MiB body limit
    assert http_request(server.rest_port, "POST", "/v1/models/text:predict", many_sentences) == (
        400,
        {"error": "Task size 200000 is larger than maximum input batch size 8"},
    )
    proto = tf.make_tensor_proto(np.zeros((9, 3), np.float32))
    assert rpc_error(server, predict_request("affine", x=proto)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Task size 9 is larger than maximum input batch size 8",
    )


def test_strings_longer_than_allowed(server):
    message = (
        "Input 'text' element 1 is a string of {} bytes, "
        "longer than the limit of 1024 bytes (max_string_bytes)"
    )
    long_text = "é" * 450_000  # 900,000 bytes of UTF-8, under the 1 MiB body limit
    assert http_request(
        server.rest_port,
        "POST",
        "/v1/models/text:predict",
        json.dumps({"instances": ["ok", long_text]}, ensure_ascii=False),
    ) == (400, {"error": message.format(900_000)})
    encoded = base64.b64encode(b"\0" * 1025).decode()
    assert http_request(
        server.rest_port,
        "POST",
        "/v1/models/text:predict",
        json.dumps({"inputs": ["ok", {"b64": encoded}]}),
    ) == (400, {"error": message.format(1025)})
    proto = tf.make_tensor_proto(np.array([b"ok", b"y" * 1025], dtype=object))
    assert rpc_error(server, predict_request("text", text=proto)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        message.format(1025),
    )
    assert http_request(
        server.rest_port, "POST", "/v1/models/text:predict", json.dumps({"instances": ["y" * 1024]})
    ) == (200, {"predictions": [{"length": 1024, "upper": "Y" * 1024}]})


# ------------------------------------------------------------------------------------------- HTTP
def test_content_length_minus_one_then_a_long_stream(server):
    head = b"POST /v1/models/affine:predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
    answer, taken = raw_http(server.rest_port, head, then_send=200 * MIB)
    status, headers, body = split_answer(answer)
    assert (status, headers["connection"], body) == (
        400,
        "close",
        {"error": "Malformed HTTP request: Invalid HTTP request received."},
    )
    assert taken < 200 * MIB


@pytest.mark.parametrize("size", [b"-10", b"zz"])
def test_bad_chunk_sizes(server, size):
    head = (
        b"POST /v1/models/affine:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    answer, _ = raw_http(server.rest_port, head + size + b"\r\n")
    assert split_answer(answer)[::2] == (
        400,
        {"error": "Malformed HTTP request: Invalid HTTP request received."},
    )


def test_declared_and_streamed_bodies_over_the_limit(server):
    head = (
        b"POST /v1/models/affine:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n"
    )
    answer, taken = raw_http(server.rest_port, head, then_send=200 * MIB)
    status, headers, body = split_answer(answer)
    assert (status, headers["connection"], body) == (
        413,
        "close",
        {
            "error": "Request body of 1073741824 bytes is larger than the limit of 1048576 bytes "
            "(max_request_bytes)."
        },
    )
    assert taken < 200 * MIB
    chunked = (
        b"POST /v1/models/affine:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    # 1 MiB, then 100 bytes more (no last chunk: the server has read all that was sent when it
    # answers)
    pieces = b"100000\r\n" + b" " * 0x100000 + b"\r\n64\r\n" + b" " * 100 + b"\r\n"
    answer, _ = raw_http(server.rest_port, chunked + pieces)
    status, headers, body = split_answer(answer)
    assert (status, headers["connection"], body) == (
        413,
        "close",
        {
            "error": "Request body (chunked) is larger than the limit of 1048576 bytes "
            "(max_request_bytes)."
        },
    )


def test_endless_headers(server):
    answer, _ = raw_http(
        server.rest_port,
        b"GET /v1/models/affine HTTP/1.1\r\nX-Long: " + b"a" * 70_000,
        then_send=200 * MIB,
    )  # a header that never ends
    assert split_answer(answer)[::2] == (
        400,
        {"error": "Request line and headers are larger than the limit of 65536 bytes"},
    )


# -------------------------------------------------------------------------------------------- JSON
@pytest.mark.parametrize(
    "body, error",
    [
        ("[" * 200_000, "JSON Parse error: The document nests deeper than 1024 levels"),
        (
            '{"inputs": ' + "[" * 2000 + "1" + "]" * 2000 + "}",
            "JSON Parse error: The document nests deeper than 1024 levels",
        ),
        (
            '{"instances": [' + "7" * 5000 + "]}",
            "JSON Parse error: Number too big to be stored in double. at offset: 15",
        ),
        (
            '{"instances": [[1e999, 1, 2]]}',
            "JSON Parse error: Number too big to be stored in double. at offset: 16",
        ),
        (
            '{"instances": [[NaN, 1, 2]], "x": -1e400}',
            "JSON Parse error: Number too big to be stored in double. at offset: 34",
        ),
    ],
)
def test_json_nesting_and_number_limits(server, body, error):
    assert http_request(server.rest_port, "POST", "/v1/models/affine:predict", body) == (
        400,
        {"error": error},
    )


def test_non_finite_numbers_where_tf_serving_refuses_them(server):
    assert http_request(
        server.rest_port, "POST", "/v1/models/text:predict", '{"instances": [NaN]}'
    ) == (
        400,
        {
            "error": "Failed to process element: 0 of 'instances' list. "
            "Error: INVALID_ARGUMENT: JSON Value: NaN "
            "Type: Number is not of expected type: string"
        },
    )
    status, body = http_request(
        server.rest_port, "POST", "/v1/models/affine:predict", '{"instances": [[NaN, Infinity, 1]]}'
    )  # TF Serving takes these for floats
    assert status == 200 and body["predictions"][0][2] == 2.0


# ------------------------------------------------------------------------------------- concurrency
def test_32_concurrent_clients_each_on_a_new_connection(server):
    results, barrier = [], threading.Barrier(32)

    def client(index):
        barrier.wait(timeout=WAIT_SECONDS)
        for request in range(5):
            x = [[float(index), float(request), 1.0]]
            results.append(
                (
                    x,
                    http_request(
                        server.rest_port,
                        "POST",
                        "/v1/models/affine:predict",
                        json.dumps({"instances": x}),
                    ),
                )
            )

    threads = [threading.Thread(target=client, args=(index,)) for index in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    assert len(results) == 160
    for x, (status, body) in results:
        assert status == 200, body
        np.testing.assert_array_equal(
            np.array(body["predictions"], np.float32), affine_expected(x, 1)
        )


# ------------------------------------------------------------------- queues and time (gated model)
@pytest.fixture(scope="module")
def gated_server(tmp_path_factory, templates):
    server = start_server(tmp_path_factory.mktemp("gated"), templates, GATED_LIMITS)
    yield server
    server.stop()


def gate_requests(server: ServerProcess) -> dict[str, float]:
    """{"running": n, "queued": n} of the gate model, from the server's metrics."""
    text = http_request(server.rest_port, "GET", "/monitoring/prometheus/metrics")[1]
    found = re.findall(
        r':kerasnlp_lab:serving:predict_requests\{model_name="gate",state="(\w+)"\} (\d+)', text
    )
    return {state: float(count) for state, count in found} or {"queued": 0.0, "running": 0.0}


def test_full_queue_timeouts_and_deadlines(gated_server, tmp_path):
    port, gate = gated_server.rest_port, str(tmp_path / "gate")
    answers: dict[str, tuple] = {}

    def rest_gate(name: str) -> threading.Thread:
        body = json.dumps({"instances": [{"entered": str(tmp_path / name), "gate": gate}]})
        thread = threading.Thread(
            target=lambda: answers.__setitem__(
                name, http_request(port, "POST", "/v1/models/gate:predict", body)
            )
        )
        thread.start()
        return thread

    try:
        running = rest_gate("a")
        wait_until((tmp_path / "a").exists, "the first request to run")
        # gRPC with a 0.3 s deadline waits in the queue; the server takes it out at the deadline
        # (else it would wait there until the first request ends, which is when the gate opens, at
        # the end).
        entered = tf.make_tensor_proto(np.array([str(tmp_path / "b").encode()], dtype=object))
        opened = tf.make_tensor_proto(np.array([gate.encode()], dtype=object))
        code, _ = rpc_error(
            gated_server, predict_request("gate", entered=entered, gate=opened), timeout=0.3
        )
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_until(
            lambda: gate_requests(gated_server) == {"queued": 0.0, "running": 1.0},
            "the gRPC call to leave the queue at its deadline",
        )
        queued = rest_gate("c")
        wait_until(
            lambda: gate_requests(gated_server) == {"queued": 1.0, "running": 1.0},
            "a request in the queue",
        )
        body = json.dumps({"instances": [{"entered": str(tmp_path / "d"), "gate": gate}]})
        assert http_request(port, "POST", "/v1/models/gate:predict", body) == (
            429,
            {
                "error": "Model gate has 1 requests running and 1 waiting, its limits "
                "(max_concurrent_requests_per_model=1, max_queued_requests_per_model=1); "
                "retry later"
            },
        )
        for thread in (running, queued):
            thread.join(WAIT_SECONDS)
        assert answers["a"] == (
            504,
            {"error": "Request timed out after 1000 ms (rest_api_timeout_in_ms)"},
        )
        assert answers["c"] == (
            504,
            {
                "error": "Timed out waiting for a running slot of model gate (the request's "
                "time limit passed in the queue)"
            },
        )
        assert [name for name in "bcd" if (tmp_path / name).exists()] == []
        # The first call keeps its slot until its work ends, timed out or not.
        assert gate_requests(gated_server) == {"queued": 0.0, "running": 1.0}
    finally:  # lets the first call end, whatever happened above
        Path(gate).write_text("")
    wait_until(
        lambda: gate_requests(gated_server) == {"queued": 0.0, "running": 0.0},
        "the first call to end",
    )
    body = json.dumps({"instances": [{"entered": str(tmp_path / "e"), "gate": gate}]})
    assert http_request(port, "POST", "/v1/models/gate:predict", body) == (
        200,
        {"predictions": [1]},
    )
