"""Fixtures of the serving tests: SavedModels built once per session, and small helpers."""

import http.client
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.serving import saved_model_factory as factory

WAIT_SECONDS = (
    60.0  # upper bound of every polling wait; the conditions usually hold in well under 1 s
)


@pytest.fixture(scope="session")
def templates(tmp_path_factory) -> dict[str, Path]:
    """One SavedModel of each kind, to be copied in as versions: affine1..3, text, multi, counting,
    gate."""
    root = tmp_path_factory.mktemp("templates")
    built = {
        f"affine{version}": factory.save_affine(root / f"affine{version}", version)
        for version in (1, 2, 3)
    }
    built["text"] = factory.save_text(root / "text")
    built["multi"] = factory.save_multi_input(root / "multi")
    built["counting"] = factory.save_counting(root / "counting")
    built["gate"] = factory.save_gate(root / "gate")
    return built


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    """Polls until condition() is true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def http_request(
    port: int, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None
) -> tuple[int, object]:
    """(HTTP status, parsed JSON body) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = headers or {}
        connection.request(
            method,
            path,
            body=body.encode() if isinstance(body, str) else body,
            headers=headers,
            encode_chunked="Transfer-Encoding" in headers,
        )
        response = connection.getresponse()
        payload = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(payload)
    except ValueError:
        return response.status, payload.decode("utf-8", "replace")


def versions_in(status: dict) -> dict[str, str]:
    """{version: state} of a status response."""
    return {entry["version"]: entry["state"] for entry in status["model_version_status"]}


API_MAX_REQUEST_BYTES = 256 * 1024
API_MODELS_CONFIG = """
model_config_list {
  config {
    name: "affine"
    base_path: "/models/affine"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config { name: "text" base_path: "/models/text" model_platform: "tensorflow" }
  config { name: "multi" base_path: "/models/multi" model_platform: "tensorflow" }
}
"""


@pytest.fixture(scope="module")
def api_server(tmp_path_factory, templates):
    """A server (no batching) over a config file with Docker-style base paths: affine versions 1 and
    2 (policy all, labels stable -> 1, canary -> 2), text and multi (version 1)."""
    from kerasnlp_lab.serving.limits import ServingLimits
    from kerasnlp_lab.serving.server import ModelServer

    root = tmp_path_factory.mktemp("saved_models")
    factory.install_version(templates["affine1"], root / "affine", 1)
    factory.install_version(templates["affine2"], root / "affine", 2)
    factory.install_version(templates["text"], root / "text", 1)
    factory.install_version(templates["multi"], root / "multi", 1)
    (root / "models.config").write_text(API_MODELS_CONFIG)
    server = ModelServer(
        root,
        rest_port=0,
        grpc_port=0,
        model_config_file=root / "models.config",
        limits=ServingLimits(max_request_bytes=API_MAX_REQUEST_BYTES),
    )
    server.start()
    yield server
    server.stop()
