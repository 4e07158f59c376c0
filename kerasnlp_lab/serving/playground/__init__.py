"""The playground: a read-only browser page at /playground/ that talks only to the TF Serving REST
API (/v1/models/...).

`kerasnlp-lab serve` answers /playground/ with `static_response` (the files of static/, shipped in
the package: no CDN, no outside request). `kerasnlp-lab playground --server URL` runs `ProxyServer`:
the same page, and every /v1/ request forwarded to URL (any TF Serving), so the browser talks to one
origin and no CORS set-up is needed. Neither adds an endpoint that changes state: the page's files
answer GET only, and the proxy forwards the REST API unchanged (the upstream server's limits apply;
the proxy caps the bodies it buffers and waits at most `timeout` seconds).

Every answer of the page carries a Content-Security-Policy that allows scripts, styles, images and
requests from the page's own origin only (no inline script, no eval), so a model's or a user's text
can never run as code even if a bug put it into the page as HTML.
"""

import asyncio
import http.client
import json
import logging
import threading
import urllib.parse
from pathlib import Path

import uvicorn
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from kerasnlp_lab.errors import UserError

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
PREFIX = "/playground/"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
PROXY_MAX_REQUEST_BYTES = 4 * 1024 * 1024
PROXY_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
PROXY_TIMEOUT_SECONDS = 30.0


def is_playground(path: str) -> bool:
    """Whether a raw request path belongs to the playground (/playground or below)."""
    return path == PREFIX[:-1] or path.startswith(PREFIX)


def _files() -> dict[str, tuple[bytes, str]]:
    """{name under /playground/: (content, media type)}: the files of static/, read once."""
    files = {}
    for path in sorted(STATIC.rglob("*")):
        if path.is_file() and path.suffix in _MEDIA_TYPES:
            files[path.relative_to(STATIC).as_posix()] = (
                path.read_bytes(),
                _MEDIA_TYPES[path.suffix],
            )
    return files


_FILES: dict[str, tuple[bytes, str]] | None = None
_FILES_LOCK = threading.Lock()


def static_response(method: str, path: str) -> Response:
    """The answer to a request under /playground: a file of static/ (GET only), a redirect of
    /playground to /playground/, else a TF-Serving-style JSON error. Names are looked up among the
    shipped files only, never used as file paths."""
    global _FILES
    if method != "GET":
        return _error(405, f"The playground answers GET only, got {method}.", {"allow": "GET"})
    if path == PREFIX[:-1]:
        return Response(status_code=301, headers={"location": PREFIX, **SECURITY_HEADERS})
    with _FILES_LOCK:
        if _FILES is None:
            _FILES = _files()
    name = urllib.parse.unquote(path[len(PREFIX) :]) or "index.html"
    found = _FILES.get(name)
    if found is None:
        return _error(404, f"No playground file {path}.")
    content, media_type = found
    return Response(content, media_type=media_type, headers=SECURITY_HEADERS)


def _error(status: int, message: str, headers: dict | None = None) -> Response:
    return Response(
        json.dumps({"error": message}),
        status_code=status,
        media_type="application/json",
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


class _Upstream:
    """The TF Serving REST server that /v1/ requests are forwarded to."""

    def __init__(self, url: str, timeout: float):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UserError(
                f"Expected --server http://HOST:PORT (TF Serving's REST API), got {url}"
            )
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = parts.path.rstrip("/")
        self.timeout = timeout

    def forward(self, method: str, target: str, body: bytes | None) -> tuple[int, str, bytes]:
        """(status, content type, body) of the upstream's answer."""
        connection_class = (
            http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(self.host, self.port, timeout=self.timeout)
        try:
            headers = {"content-type": "application/json"} if body is not None else {}
            connection.request(method, self.base + target, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read(PROXY_MAX_RESPONSE_BYTES + 1)
            if len(content) > PROXY_MAX_RESPONSE_BYTES:
                raise OSError(f"answer larger than {PROXY_MAX_RESPONSE_BYTES} bytes")
            return (
                answer.status,
                answer.getheader("content-type", "application/json"),
                content,
            )
        finally:
            connection.close()


class ProxyServer:
    """The playground in front of any TF Serving: serves /playground/ and forwards GET and POST
    /v1/... to `server_url`; binds in the constructor, serves after start() in its own thread.

    Args:
        server_url: the upstream REST API, e.g. http://127.0.0.1:8501.
        host, port: where to listen (port 0 picks a free port).
        timeout: seconds an upstream request may take.
    """

    def __init__(
        self,
        server_url: str,
        host: str = "127.0.0.1",
        port: int = 8080,
        timeout: float = PROXY_TIMEOUT_SECONDS,
    ):
        from kerasnlp_lab.serving.rest import _listening_socket

        self.upstream = _Upstream(server_url, timeout)
        self._socket = _listening_socket(host, port)
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="playground_proxy",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    def start(self) -> int:
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.should_exit = True
            self._thread.join()
        self._socket.close()

    async def _asgi(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["raw_path"].decode("latin-1")
        try:
            if is_playground(path):
                response = static_response(method, path)
            elif path.startswith("/v1/") and method in ("GET", "POST"):
                response = await self._forward(Request(scope, receive), method, path, scope)
            else:
                response = _error(404, f"No API at {path}: expected /playground/ or /v1/models/...")
        except ClientDisconnect:
            return
        except Exception as error:  # never die on a request
            logger.exception("playground proxy: %s %s failed", method, path)
            response = _error(502, f"Upstream server {self.upstream.host}: {error}")
        await response(scope, receive, send)

    async def _forward(self, request: Request, method: str, path: str, scope) -> Response:
        body = None
        if method == "POST":
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > PROXY_MAX_REQUEST_BYTES:
                    return _error(
                        413, f"Request body larger than {PROXY_MAX_REQUEST_BYTES} bytes (proxy)."
                    )
                chunks.append(chunk)
            body = b"".join(chunks)
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        status, media_type, content = await asyncio.get_running_loop().run_in_executor(
            None, self.upstream.forward, method, target, body
        )
        return Response(content, status_code=status, media_type=media_type)


def serve_forever(server_url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serves the playground in front of `server_url` until SIGINT (Ctrl-C) or SIGTERM."""
    import signal

    proxy = ProxyServer(server_url, host, port)
    stop_requested = threading.Event()
    previous = {
        number: signal.signal(number, lambda *args: stop_requested.set())
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        proxy.start()
        shown_host = f"[{host}]" if ":" in host else host
        print(
            f"Playground on http://{shown_host}:{proxy.port}{PREFIX}, forwarding /v1/ to "
            f"{server_url}. Ctrl-C stops.",
            flush=True,
        )
        while not stop_requested.wait(0.5):
            pass
        proxy.stop()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
