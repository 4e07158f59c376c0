"""The playground's place in the URL space: /playground/ answers the shipped files (GET only,
with a Content-Security-Policy), nothing else is added, and `ProxyServer` serves the same page and
forwards /v1/ to another server unchanged."""

import json

import pytest

from kerasnlp_lab.serving.playground import CONTENT_SECURITY_POLICY, ProxyServer
from tests.serving.conftest import http_request
from tests.serving.saved_model_factory import install_version


@pytest.fixture(scope="module")
def server(tmp_path_factory, templates):
    from kerasnlp_lab.serving.server import ModelServer

    root = tmp_path_factory.mktemp("saved_models")
    install_version(templates["affine1"], root / "affine", 1)
    server = ModelServer(root, rest_port=0, grpc_port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(server):
    proxy = ProxyServer(f"http://127.0.0.1:{server.rest_port}", port=0)
    proxy.start()
    yield proxy
    proxy.stop()


def raw(port, method, path, body=None):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.fixture(params=["server", "proxy"])
def port(request, server, proxy):
    return server.rest_port if request.param == "server" else proxy.port


def test_the_page_and_its_files_carry_a_content_security_policy(port):
    for path, media_type in [
        ("/playground/", "text/html"),
        ("/playground/js/main.js", "text/javascript"),
        ("/playground/playground.css", "text/css"),
        ("/playground/test_images.json", "application/json"),
    ]:
        status, headers, body = raw(port, "GET", path)
        assert status == 200, path
        assert headers["content-type"].startswith(media_type)
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["x-content-type-options"] == "nosniff"
        assert body


def test_the_page_loads_nothing_from_outside():
    from kerasnlp_lab.serving.playground import STATIC

    for path in STATIC.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".js", ".css"):
            text = path.read_text(encoding="utf-8")
            assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
            assert "innerHTML" not in text and "eval(" not in text, path


def test_playground_redirects_to_its_folder(port):
    status, headers, _ = raw(port, "GET", "/playground")
    assert (status, headers["location"]) == (301, "/playground/")


@pytest.mark.parametrize(
    "path",
    [
        "/playground/missing.js",
        "/playground/../rest.py",
        "/playground/%2e%2e/__init__.py",
        "/playground/js/../../__init__.py",
        "/playground//etc/passwd",
        "/playground/__init__.py",
    ],
)
def test_only_the_shipped_files_are_served(port, path):
    status, _, body = raw(port, "GET", path)
    assert status == 404
    assert "error" in json.loads(body)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_page_answers_get_only(port, method):
    status, headers, _ = raw(port, method, "/playground/", body=b"{}")
    assert status == 405
    assert headers["allow"] == "GET"


def test_nothing_else_is_added_to_the_url_space(server):
    for path in ("/", "/playground.html", "/static/playground/index.html", "/playgroundx"):
        status, _, _ = raw(server.rest_port, "GET", path)
        assert status in (400, 404), path


def test_the_proxy_forwards_the_rest_api_unchanged(server, proxy):
    request = json.dumps({"instances": [[1.0, 2.0, 3.0]]})
    for path, method, body in [
        ("/v1/models/affine", "GET", None),
        ("/v1/models/affine/metadata", "GET", None),
        ("/v1/models/affine:predict", "POST", request),
        ("/v1/models/missing", "GET", None),
        ("/v1/models/affine:predict", "POST", "{not json"),
    ]:
        direct = http_request(server.rest_port, method, path, body)
        assert http_request(proxy.port, method, path, body) == direct, path
    assert http_request(proxy.port, "POST", "/v1/models/affine:predict", request)[1] == {
        "predictions": [[2.0, 3.0, 4.0]]
    }


def test_the_proxy_forwards_nothing_but_the_rest_api(proxy):
    for method, path in [
        ("GET", "/monitoring/prometheus/metrics"),
        ("GET", "/"),
        ("DELETE", "/v1/models/affine"),
        ("GET", "/v2/models/affine"),
    ]:
        status, _, _ = raw(proxy.port, method, path)
        assert status == 404, (method, path)


def test_the_proxy_says_when_the_upstream_is_down(templates):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    proxy = ProxyServer(f"http://127.0.0.1:{free_port}", port=0, timeout=2)
    proxy.start()
    try:
        status, answer = http_request(proxy.port, "GET", "/v1/models/affine")
        assert status == 502 and "error" in answer
    finally:
        proxy.stop()


def test_the_proxy_wants_an_http_url():
    from kerasnlp_lab.errors import UserError

    with pytest.raises(UserError, match="--server http://HOST:PORT"):
        ProxyServer("127.0.0.1:8501", port=0)
