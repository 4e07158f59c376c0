"""The TF Serving REST API (v1) over HTTP/1.1, on the standard library's threading HTTP server.

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   signature_def metadata
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict    predict (row or columnar format)
    GET  /monitoring/prometheus/metrics                          Prometheus metrics

Paths are matched with TF Serving's own patterns; model names and labels are percent-decoded and only
ever looked up among the served models, never used as file paths. Errors are `{"error": "..."}` with
TF Serving's HTTP status for the error code. Request bodies above `max_request_bytes` get a 413.
"""

import dataclasses
import errno
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving import json_codec, messages
from kerasnlp_lab.serving.errors import ServingError, invalid_argument, not_found
from kerasnlp_lab.serving.metrics import PROMETHEUS_PATH, Metrics
from kerasnlp_lab.serving.model_manager import ModelManager
from kerasnlp_lab.serving.servable import DEFAULT_SIGNATURE

logger = logging.getLogger(__name__)

_PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.I)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I)
_MAX_VERSION = 2**63 - 1
_READ_CHUNK = 1 << 16
IDLE_CONNECTION_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Route:
    """What a request path asks for: the API ("status", "metadata" or "predict") and the model."""

    api: str
    model_name: str
    version: int | None = None
    label: str | None = None


class RestApi:
    """Answers REST requests: route(method, path) then answer(route, body) -> JSON text."""

    def __init__(self, manager: ModelManager):
        self.manager = manager

    def route(self, method: str, path: str) -> Route:
        if not path.lower().startswith("/v1/"):
            raise not_found(f"No API at {path}: expected /v1/models/... or {PROMETHEUS_PATH}")
        pattern = {"POST": _PREDICT_PATH, "GET": _STATUS_PATH}.get(method)
        match = pattern.fullmatch(path) if pattern else None
        if match is None:
            raise invalid_argument(f"Malformed request: {method} {path}")
        name, version_text, label, verb = match.groups()
        name = urllib.parse.unquote(name) if name else ""
        label = urllib.parse.unquote(label) if label else None
        version = None
        if version_text:
            version = int(version_text)
            if version > _MAX_VERSION:
                raise invalid_argument(f"Failed to convert version: {version_text} to numeric.")
        if method == "POST":
            if verb.lower() != "predict":
                raise ServingError("UNIMPLEMENTED", f"The {verb.lower()} API is not served by kerasnlp-lab "
                                                    "serve; use predict.")
            return Route("predict", name, version, label)
        if not name:
            raise invalid_argument("Missing model name in request.")
        return Route("metadata" if verb and verb.lower() == "metadata" else "status", name, version, label)

    def answer(self, route: Route, body: bytes) -> str:
        if route.api == "predict":
            return self._predict(route.model_name, route.version, route.label, body)
        if route.api == "metadata":
            response = self.manager.metadata(route.model_name, route.version, route.label)
            return json.dumps(messages.metadata_to_dict(response), indent=1)
        response = self.manager.status(route.model_name, route.version, route.label)
        return json.dumps(messages.status_to_dict(response), indent=1)

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> str:
        document = json_codec.parse_request_body(body)
        signature_name = json_codec.signature_name_of(document) or DEFAULT_SIGNATURE
        with self.manager.acquire(name, version, label) as servable:
            signature_def = servable.signature_defs.get(signature_name)
            if signature_def is None:
                raise invalid_argument(f'Serving signature name: "{signature_name}" not found in signature def')
            if not signature_def.inputs:
                raise invalid_argument(f"Failed to get input map for signature: {signature_name}")
            inputs, row_format = json_codec.decode_request_tensors(document, signature_def.inputs)
            _, outputs = servable.predict(signature_name, inputs)
        if row_format:
            return json_codec.encode_predictions(outputs)
        return json_codec.encode_outputs(outputs)


class RestServer:
    """The HTTP server: binds in the constructor, serves after start(), in its own threads.

    Args:
        manager: the model manager answering requests.
        metrics: where request counts and latencies go; also rendered at the Prometheus path.
        host, port: where to listen (port 0 picks a free port).
        max_request_bytes: the largest accepted request body.
    """

    def __init__(self, manager: ModelManager, metrics: Metrics, host: str, port: int, max_request_bytes: int):
        self.api = RestApi(manager)
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes
        self.stopping = False
        self._active = 0
        self._idle = threading.Condition()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("_HTTPServer", (_HTTPServer,), {"address_family": family})
        try:
            self._server = server_class((host, port), _Handler)
        except OSError as error:
            raise _bind_error("REST", host, port, "--rest-port", error) from error
        self._server.rest = self
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest_server", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace_seconds: float) -> None:
        """Stops accepting connections and waits (up to the grace period) for requests in flight."""
        self.stopping = True
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=grace_seconds)

    def request_started(self) -> None:
        with self._idle:
            self._active += 1

    def request_finished(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _BodyTooLarge(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kerasnlp-lab-serving"
    timeout = IDLE_CONNECTION_SECONDS
    # Headers and body leave in one write, without Nagle's delay (else 40 ms per keep-alive request).
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def send_error(self, code, message=None, explain=None):
        """Malformed HTTP (bad request line, headers) also gets a JSON error body."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # the request line was unreadable: answer in HTTP/1.1
            self.request_version = "HTTP/1.1"
        self._reply(code, json.dumps({"error": message or explain or "Bad request"}).encode())

    def log_message(self, format, *args):
        logger.debug("%s - %s", self.address_string(), format % args)

    def _handle(self, method: str) -> None:
        rest: RestServer = self.server.rest
        rest.request_started()
        started = time.monotonic()
        route, status = None, "OK"
        try:
            path = urllib.parse.urlsplit(self.path).path
            if rest.stopping:
                self.close_connection = True
                raise ServingError("UNAVAILABLE", "The server is shutting down")
            body = self._read_body(rest.max_request_bytes)
            if path == PROMETHEUS_PATH and method == "GET":
                self._reply(200, rest.metrics.render().encode(), "text/plain; version=0.0.4")
                return
            route = rest.api.route(method, path)
            self._reply(200, rest.api.answer(route, body).encode("utf-8"))
        except _BodyTooLarge as error:
            status = "RESOURCE_EXHAUSTED"
            self.close_connection = True
            self._reply(413, json.dumps({"error": str(error)}).encode())
        except ServingError as error:
            status = error.code
            self._reply(error.http_status, json.dumps({"error": error.message}).encode())
        except (ConnectionError, TimeoutError):
            status = "CANCELLED"
            self.close_connection = True
        except Exception as error:  # a bad request must never take the server down
            status = "INTERNAL"
            logger.exception("REST request %s %s failed", method, self.path)
            self._reply(500, json.dumps({"error": f"Internal error: {error}"}).encode())
        finally:
            if route is not None:
                known = route.model_name if rest.api.manager.is_model(route.model_name) else ""
                rest.metrics.observe_request(known, route.api, "REST", status, time.monotonic() - started)
            rest.request_finished()

    def _read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked(limit)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise invalid_argument(f"Invalid Content-Length: {self.headers.get('Content-Length')!r}") from None
        if length > limit:
            self._discard(length)
            raise _BodyTooLarge(f"Request body of {length} bytes is larger than the limit of {limit} bytes "
                                "(max_request_bytes).")
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes:
        chunks, total = [], 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailer headers
                    pass
                return b"".join(chunks)
            total += size
            if total > limit:
                raise _BodyTooLarge(f"Request body (chunked) is larger than the limit of {limit} bytes "
                                    "(max_request_bytes).")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _discard(self, length: int) -> None:
        """Reads a refused body, so the client gets to read the 413 instead of a connection reset."""
        while length > 0:
            data = self.rfile.read(min(length, _READ_CHUNK))
            if not data:
                return
            length -= len(data)

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


def _bind_error(api: str, host: str, port: int, flag: str, error: OSError) -> UserError:
    if error.errno == errno.EADDRINUSE:
        return UserError(f"Cannot serve {api} on {host}:{port}: the port is already in use. "
                         f"Stop the other server or choose another port with {flag}.")
    return UserError(f"Cannot serve {api} on {host}:{port}: {error.strerror or error}. "
                     "Expected a local address such as 127.0.0.1 or 0.0.0.0 for --host.")
