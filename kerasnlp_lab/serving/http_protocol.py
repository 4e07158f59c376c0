"""uvicorn's httptools HTTP/1.1 protocol with two changes for the TF Serving REST API:

- the 400 it sends for malformed HTTP (bad request line, bad `Content-Length` such as `-1`, bad
  chunk sizes such as `-10` or `zz`) has TF Serving's `{"error": "..."}` JSON body;
- a request's request line and headers may hold at most MAX_HEADER_BYTES bytes (llhttp, the parser,
  sets no bound of its own, and httptools buffers a header until its end), so headers streamed
  without end cannot fill the memory.
"""

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024


class TFServingHttpProtocol(HttpToolsProtocol):
    """Pass as `uvicorn.Config(http=TFServingHttpProtocol)`."""

    _reading_headers = False
    _header_bytes = 0
    _error = ""

    def on_message_begin(self) -> None:
        self._reading_headers, self._header_bytes = True, 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        # Counted after parsing: the parser buffers a header until it ends, so the bytes it holds
        # are bounded by MAX_HEADER_BYTES plus one read.
        super().data_received(data)
        if self._reading_headers and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._error = (
                    "Request line and headers are larger than the limit of "
                    f"{MAX_HEADER_BYTES} bytes"
                )
                self.send_400_response(self._error)

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": self._error or f"Malformed HTTP request: {msg}"}).encode()
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()
