"""serving.http_client and ServingClient's REST transport against scripted loopback servers: the
exact request bytes, chunked and closing responses, a server that closes an idle keep-alive
connection (one transparent retry) or closes mid-response (UNAVAILABLE), a malformed response."""

import socket
import threading

import pytest

from kerasnlp_lab.serving.client import ServingClient
from kerasnlp_lab.serving.errors import ServingError
from kerasnlp_lab.serving.http_client import ConnectionClosed, HttpConnection

OK_JSON = (
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"a": [1]}\n'
)


class ScriptedServer:
    """Accepts connections on a loopback port; for each, reads requests and answers them with
    `answer(request_bytes) -> (reply bytes, close after it)`. Records every request."""

    def __init__(self, answer):
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection):
        with connection:
            buffer = b""
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                buffer += data
                head, separator, rest = buffer.partition(b"\r\n\r\n")
                if not separator:
                    continue
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(rest) < length:
                    continue
                request, buffer = head + separator + rest[:length], rest[length:]
                self.requests.append(request)
                reply, close = self.answer(request)
                connection.sendall(reply)
                if close:
                    return

    def close(self):
        self._listener.close()


@pytest.fixture
def scripted():
    servers = []

    def start(answer):
        server = ScriptedServer(answer)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_request_is_headers_and_body_in_exact_bytes(scripted):
    server = scripted(lambda request: (OK_JSON, False))
    connection = HttpConnection("127.0.0.1", server.port, timeout=10)
    assert connection.request("POST", "/v1/models/m:predict", b'{"x": 1}') == (
        200,
        b'{"a": [1]}\n',
        True,
    )
    assert connection.request("GET", "/v1/models/m") == (200, b'{"a": [1]}\n', True)
    connection.close()
    host = f"127.0.0.1:{server.port}".encode()
    assert server.requests == [
        b"POST /v1/models/m:predict HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 8\r\n\r\n"
        b'{"x": 1}',
        b"GET /v1/models/m HTTP/1.1\r\nHost: " + host + b"\r\n\r\n",
    ]
    assert server.connections == 1


def test_chunked_and_closing_responses(scripted):
    chunked = (
        b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n"
        b'4\r\n{"er\r\n6\r\nror": \r\n5\r\n"no"}\r\n0\r\n\r\n'
    )
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"
    replies = iter([(chunked, False), (closing, True)])
    server = scripted(lambda request: next(replies))
    connection = HttpConnection("127.0.0.1", server.port, timeout=10)
    assert connection.request("GET", "/a") == (404, b'{"error": "no"}', True)
    assert connection.request("GET", "/b") == (200, b"{}", False)


def test_a_response_cut_short_raises_connection_closed(scripted):
    server = scripted(lambda request: (OK_JSON[:-4], True))
    connection = HttpConnection("127.0.0.1", server.port, timeout=10)
    with pytest.raises(ConnectionClosed, match="the server closed the connection"):
        connection.request("GET", "/v1/models/m")


def test_the_client_retries_once_when_an_idle_connection_was_closed(scripted):
    metadata = (
        b'{"model_spec": {}, "metadata": {"signature_def": {"signature_def": '
        b'{"serving_default": {"inputs": {}, "outputs": {}}}}}}'
    )
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(metadata) + metadata
    # Each connection answers one request, then closes without saying so (as after an idle
    # timeout): the kept connection is dead when the next request goes out.
    server = scripted(lambda request: (reply, True))
    client = ServingClient(f"http://127.0.0.1:{server.port}", timeout=10)
    for _ in range(3):
        assert client.metadata("m")["metadata"]["signature_def"]["signature_def"] == {
            "serving_default": {"inputs": {}, "outputs": {}}
        }
    assert server.connections == 3
    assert len(server.requests) == 3


def test_a_server_that_closes_mid_response_gives_unavailable(scripted):
    server = scripted(lambda request: (OK_JSON[:20], True))
    client = ServingClient(f"http://127.0.0.1:{server.port}", timeout=10)
    with pytest.raises(ServingError, match="Cannot reach the server at http://127.0.0.1") as caught:
        client.status("m")
    assert caught.value.code == "UNAVAILABLE"
    assert len(server.requests) == 1  # a fresh connection is not retried


def test_a_port_nobody_listens_on_gives_unavailable():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    client = ServingClient(f"http://127.0.0.1:{port}", timeout=10)
    with pytest.raises(ServingError, match=f"Cannot reach the server at http://127.0.0.1:{port}"):
        client.status("m")


def test_a_malformed_response_says_so(scripted):
    server = scripted(lambda request: (b"NOT HTTP AT ALL\r\n\r\n", True))
    client = ServingClient(f"http://127.0.0.1:{server.port}", timeout=10)
    with pytest.raises(
        ServingError, match=rf"^The server at http://127.0.0.1:{server.port} sent a malformed HTTP"
    ) as caught:
        client.status("m")
    assert caught.value.code == "UNKNOWN"
