"""uvicorn's httptools HTTP/1.1 protocol with two changes for the TF Serving REST API:

- the 400 it sends for malformed HTTP (bad request line, bad `Content-Length` such as `-1`, bad chunk
  sizes such as `-10` or `zz`) has TF Serving's `{"error": "..."}` JSON body;
- a request's request line and headers may hold at most MAX_HEADER_BYTES bytes (llhttp, the parser,
  sets no bound of its own), so headers streamed without end cannot fill the memory.
"""

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024


class _HeadersTooLarge(Exception):
    pass


class TFServingHttpProtocol(HttpToolsProtocol):
    """Pass as `uvicorn.Config(http=TFServingHttpProtocol)`."""

    _header_bytes = 0
    _error = ""

    def on_message_begin(self) -> None:
        self._header_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value))
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": self._error or f"Malformed HTTP request: {msg}"}).encode()
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()

    def _count_header_bytes(self, count: int) -> None:
        self._header_bytes += count
        if self._header_bytes > MAX_HEADER_BYTES:
            self._error = f"Request line and headers are larger than the limit of {MAX_HEADER_BYTES} bytes"
            raise _HeadersTooLarge(self._error)  # the parser turns it into a parse error: a 400, then close
