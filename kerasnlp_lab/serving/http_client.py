"""One keep-alive HTTP/1.1 client connection, for ServingClient's REST transport.

A request goes out in one write (headers and body together: `http.client` writes them apart, so the
server wakes up twice and reads the body after the headers), and the response is parsed by httptools
(llhttp, the parser uvicorn serves with) instead of `http.client`'s `email` parser. Measured
interleaved against `http.client` on one server, a dense-model predict through ServingClient at one
client takes 15-23% less.
"""

import socket

import httptools

RECEIVE_BYTES = 256 * 1024


class ConnectionClosed(ConnectionError):
    """The server closed the connection before its response was complete."""


class _Response:
    """httptools callbacks: notes whether the connection stays open (known once the headers are
    read), collects the body and notes the end of the message."""

    def __init__(self):
        self.parser = httptools.HttpResponseParser(self)
        self.keep_alive = False
        self.chunks: list[bytes] = []
        self.complete = False

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def on_message_complete(self) -> None:
        self.complete = True


class HttpConnection:
    """Args:
    host, port: the server.
    timeout: seconds for connecting and for each read or write.
    """

    def __init__(self, host: str, port: int, timeout: float):
        self._host_header = (f"[{host}]" if ":" in host else host) + f":{port}"
        self._socket = socket.create_connection((host, port), timeout)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, bool]:
        """Sends one request; returns (HTTP status, body, whether the connection stays open).
        Raises OSError (ConnectionClosed when the server closed first) or
        httptools.HttpParserError."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self._host_header}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self._socket.sendall(head.encode("latin-1") + b"\r\n" + (body or b""))
        response = _Response()
        while not response.complete:
            data = self._socket.recv(RECEIVE_BYTES)
            if not data:
                raise ConnectionClosed("the server closed the connection")
            response.parser.feed_data(data)
        return response.parser.get_status_code(), b"".join(response.chunks), response.keep_alive

    def close(self) -> None:
        self._socket.close()
