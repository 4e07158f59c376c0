"""The TF Serving REST API (v1): an ASGI application built with Starlette's request and response
classes, served by uvicorn (httptools parser, uvloop where installed; see http_protocol for the two
changes made to uvicorn's protocol).

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   signature_def metadata
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict    predict (row or columnar format)
    GET  /monitoring/prometheus/metrics                          Prometheus metrics
    GET  /playground/                                            the playground page (read-only)

Paths are matched with TF Serving's own patterns on the raw (still percent-encoded) path; model
names and labels are percent-decoded and only ever looked up among the served models, never used as
file paths. Errors are `{"error": "..."}` with TF Serving's HTTP status for the error code.

A predict request goes: its body is read (at most `max_request_bytes`, counted as it arrives
whatever `Content-Length` says, each byte also counted against the server's body budget) -> the
model's admission queue -> one of `rest_api_num_threads` worker threads, which decodes the JSON,
runs the signature and encodes the answer. Bodies over LARGE_BODY_BYTES are decoded one at a time:
decoding holds the GIL anyway, and Python's objects take up to ~25 times the JSON text. A request
has `rest_api_timeout_in_ms` in all; past it the client gets 504 DEADLINE_EXCEEDED (work already
running in TensorFlow cannot be stopped: it finishes in the background and keeps its admission slot
until then).
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import errno
import json
import logging
import re
import socket
import threading
import time
import urllib.parse

import uvicorn
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving import json_codec, messages
from kerasnlp_lab.serving.admission import Admission
from kerasnlp_lab.serving.body_budget import BodyBudget
from kerasnlp_lab.serving.errors import ServingError, invalid_argument, not_found
from kerasnlp_lab.serving.http_protocol import TFServingHttpProtocol
from kerasnlp_lab.serving.limits import ServingLimits
from kerasnlp_lab.serving.metrics import PROMETHEUS_PATH, Metrics
from kerasnlp_lab.serving.model_manager import MAX_VERSION, ModelManager
from kerasnlp_lab.serving.playground import is_playground, static_response
from kerasnlp_lab.serving.servable import DEFAULT_SIGNATURE

logger = logging.getLogger(__name__)

_PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.I,
)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.I
)
IDLE_CONNECTION_SECONDS = 60
LARGE_BODY_BYTES = 1024 * 1024
# uvicorn answers 503 (plain text) to connections and requests beyond this many at once.
MAX_CONNECTIONS = 1000
LISTEN_BACKLOG = 2048


@dataclasses.dataclass(frozen=True)
class Route:
    """What a request path asks for: the API ("status", "metadata" or "predict") and the model."""

    api: str
    model_name: str
    version: int | None = None
    label: str | None = None


class RestApi:
    """Answers REST requests: route(method, path), then answer(route) for status and metadata or
    predict(route, body, ...) for predict; both return the JSON body."""

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
            if version > MAX_VERSION:
                raise invalid_argument(f"Failed to convert version: {version_text} to numeric.")
        if method == "POST":
            if verb.lower() != "predict":
                raise ServingError(
                    "UNIMPLEMENTED",
                    f"The {verb.lower()} API is not served by kerasnlp-lab serve; use predict.",
                )
            return Route("predict", name, version, label)
        if not name:
            raise invalid_argument("Missing model name in request.")
        return Route(
            "metadata" if verb and verb.lower() == "metadata" else "status", name, version, label
        )

    def answer(self, route: Route) -> bytes:
        """The JSON answer of a status or metadata request."""
        if route.api == "metadata":
            response = self.manager.metadata(route.model_name, route.version, route.label)
            return json.dumps(messages.metadata_to_dict(response), indent=1).encode()
        response = self.manager.status(route.model_name, route.version, route.label)
        return json.dumps(messages.status_to_dict(response), indent=1).encode()

    def predict(
        self, route: Route, body: "_Body", deadline: float, decode_lock: threading.Lock
    ) -> bytes:
        """Decodes a predict body (then gives its bytes back to the budget), runs it, encodes the
        answer."""
        one_at_a_time = (
            decode_lock if len(body.data) > LARGE_BODY_BYTES else contextlib.nullcontext()
        )
        with body:
            with one_at_a_time:
                document = json_codec.parse_request_body(body.data)
                exact = json_codec.has_boolean_literals(body.data)
            signature_name = json_codec.signature_name_of(document) or DEFAULT_SIGNATURE
            with self.manager.acquire(route.model_name, route.version, route.label) as servable:
                signature_def = servable.signature_defs.get(signature_name)
                if signature_def is None:
                    raise invalid_argument(
                        f'Serving signature name: "{signature_name}" not found in signature def'
                    )
                if not signature_def.inputs:
                    raise invalid_argument(
                        f"Failed to get input map for signature: {signature_name}"
                    )
                with one_at_a_time:
                    inputs, row_format = json_codec.decode_request_tensors(
                        document, signature_def.inputs, exact
                    )
                del document
                body.release()
                _, outputs = servable.predict(signature_name, inputs, deadline=deadline)
        if row_format:
            return json_codec.encode_predictions(outputs).encode()
        return json_codec.encode_outputs(outputs).encode()


class _BodyRefused(Exception):
    """A body not read to its end: over max_request_bytes (413), over the body budget (429) or too
    slow (504). `close` ends the connection when the rest of the body is unknown or too long to
    discard."""

    def __init__(self, http_status: int, code: str, message: str, close: bool):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.close = close


class _Body:
    """A request body read into memory, holding its bytes of the body budget until released."""

    def __init__(self, budget: BodyBudget):
        self._budget = budget
        self._chunks: list[bytes] = []
        self.size = 0
        self.data = b""

    def add(self, chunk: bytes) -> None:
        self._budget.reserve(len(chunk))
        self.size += len(chunk)
        self._chunks.append(chunk)

    def finish(self) -> "_Body":
        self.data = b"".join(self._chunks)
        self._chunks = []
        return self

    def release(self) -> None:
        """Gives the bytes back to the budget (once)."""
        self.data, self._chunks = b"", []
        self._budget.release(self.size)
        self.size = 0

    def __enter__(self) -> "_Body":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


class RestServer:
    """The HTTP server: binds in the constructor, serves after start(), in its own thread (uvicorn's
    event loop) plus `rest_api_num_threads` worker threads.

    Args:
        manager: the model manager answering requests.
        metrics: where request counts and latencies go; also rendered at the Prometheus path.
        host, port: where to listen (port 0 picks a free port).
        limits: body, budget, thread and time limits.
        admission: the per-model admission shared with the gRPC API.
    """

    def __init__(
        self,
        manager: ModelManager,
        metrics: Metrics,
        host: str,
        port: int,
        limits: ServingLimits,
        admission: Admission,
    ):
        self.api = RestApi(manager)
        self.metrics = metrics
        self.limits = limits
        self.admission = admission
        self.budget = BodyBudget(limits.max_buffered_request_bytes)
        self._decode_lock = threading.Lock()
        self._socket = _listening_socket(host, port)
        self._workers = concurrent.futures.ThreadPoolExecutor(
            limits.rest_api_num_threads, thread_name_prefix="rest"
        )
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            http=TFServingHttpProtocol,
            ws="none",
            lifespan="off",
            loop="auto",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=IDLE_CONNECTION_SECONDS,
            limit_concurrency=MAX_CONNECTIONS,
            proxy_headers=False,  # no X-Forwarded-For rewriting: one middleware less per request
            backlog=LISTEN_BACKLOG,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="rest_server",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self, grace_seconds: float) -> None:
        """Stops accepting connections; requests in flight get up to the grace period to finish."""
        if self._thread.is_alive():
            self._server.config.timeout_graceful_shutdown = grace_seconds
            self._server.should_exit = True
            self._thread.join()
        self._socket.close()
        self._workers.shutdown(wait=False, cancel_futures=True)

    async def _asgi(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        started = time.monotonic()
        deadline = started + self.limits.rest_api_timeout_seconds
        request = Request(scope, receive)
        method, path = scope["method"], scope["raw_path"].decode("latin-1")
        route, status = None, "OK"
        try:
            if path == PROMETHEUS_PATH and method == "GET":
                response = Response(self.metrics.render(), media_type="text/plain; version=0.0.4")
            elif is_playground(path):
                response = static_response(method, path)
            else:
                route = self.api.route(method, path)
                answer = (
                    await self._predict(request, route, deadline)
                    if route.api == "predict"
                    else self.api.answer(route)
                )
                response = Response(answer, media_type="application/json")
        except _BodyRefused as error:
            status = error.code
            response = _error_response(error.http_status, str(error), close=error.close)
        except ServingError as error:
            status = error.code
            response = _error_response(error.http_status, error.message, close=False)
        except ClientDisconnect:
            status = "CANCELLED"
            response = None
        except Exception as error:  # a bad request must never take the server down
            status = "INTERNAL"
            logger.exception("REST request %s %s failed", method, path)
            response = _error_response(500, f"Internal error: {error}", close=False)
        if route is not None:
            known = route.model_name if self.api.manager.is_model(route.model_name) else ""
            self.metrics.observe_request(
                known, route.api, "REST", status, time.monotonic() - started
            )
        if response is not None:
            await response(scope, receive, send)

    async def _predict(self, request: Request, route: Route, deadline: float) -> bytes:
        body = await self._read_body(request, deadline)
        handed_over = False
        try:
            name = route.model_name
            admitted = self.api.manager.is_model(
                name
            )  # unknown names get NOT_FOUND from the worker
            if admitted:
                await self.admission.enter_async(name, _remaining(deadline))
            try:
                work = asyncio.get_running_loop().run_in_executor(
                    self._workers, self.api.predict, route, body, deadline, self._decode_lock
                )
            except BaseException:
                if admitted:
                    self.admission.leave(name)
                raise
            handed_over = True
            if admitted:
                work.add_done_callback(lambda _: self.admission.leave(name))
            try:
                return await asyncio.wait_for(asyncio.shield(work), _remaining(deadline))
            except asyncio.TimeoutError:
                raise ServingError(
                    "DEADLINE_EXCEEDED",
                    f"Request timed out after "
                    f"{self.limits.rest_api_timeout_in_ms} ms "
                    "(rest_api_timeout_in_ms)",
                ) from None
        finally:
            if not handed_over:
                body.release()

    async def _read_body(self, request: Request, deadline: float) -> _Body:
        """The whole body, or _BodyTooLarge as soon as it passes max_request_bytes."""
        limit = self.limits.max_request_bytes
        declared = request.headers.get("content-length")
        declared = (
            int(declared) if declared is not None else None
        )  # the parser checked it is a number
        unknown_rest = declared is None or declared > 2 * limit
        if declared is not None and declared > limit:
            raise _BodyRefused(
                413,
                "RESOURCE_EXHAUSTED",
                f"Request body of {declared} bytes is larger than the "
                f"limit of {limit} bytes (max_request_bytes).",
                unknown_rest,
            )
        body = _Body(self.budget)

        async def read() -> None:
            async for chunk in request.stream():
                if body.size + len(chunk) > limit:
                    raise _BodyRefused(
                        413,
                        "RESOURCE_EXHAUSTED",
                        "Request body (chunked) is larger than the limit "
                        f"of {limit} bytes (max_request_bytes).",
                        True,
                    )
                body.add(chunk)

        try:
            await asyncio.wait_for(read(), _remaining(deadline))
        except asyncio.TimeoutError:
            body.release()
            raise _BodyRefused(
                504,
                "DEADLINE_EXCEEDED",
                f"Request body not received within "
                f"{self.limits.rest_api_timeout_in_ms} ms "
                "(rest_api_timeout_in_ms)",
                True,
            ) from None
        except ServingError as error:  # the body budget is spent
            body.release()
            raise _BodyRefused(error.http_status, error.code, error.message, unknown_rest) from None
        except BaseException:
            body.release()
            raise
        return body.finish()


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


def _error_response(status: int, message: str, close: bool) -> Response:
    headers = {"connection": "close"} if close else None
    return Response(
        json.dumps({"error": message}),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets that
    # say so, and with it on, a response's headers and body wait 40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as error:
        sock.close()
        raise _bind_error("REST", host, port, "--rest-port", error) from error
    return sock


def _bind_error(api: str, host: str, port: int, flag: str, error: OSError) -> UserError:
    if error.errno == errno.EADDRINUSE:
        return UserError(
            f"Cannot serve {api} on {host}:{port}: the port is already in use. "
            f"Stop the other server or choose another port with {flag}."
        )
    return UserError(
        f"Cannot serve {api} on {host}:{port}: {error.strerror or error}. "
        "Expected a local address such as 127.0.0.1 or 0.0.0.0 for --host."
    )
