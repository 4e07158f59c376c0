"""The REST API of the embedded server, endpoint by endpoint and error by error (TF Serving's
formats)."""

import base64
import json
import socket

import numpy as np
import pytest

from kerasnlp_lab.serving.client import ServingClient
from kerasnlp_lab.serving.errors import ServingError
from tests.serving.conftest import API_MAX_REQUEST_BYTES, http_request
from tests.serving.saved_model_factory import affine_expected

X = [[1.0, 2.0, 3.0], [-0.5, 0.25, 10.0]]


@pytest.fixture(scope="module")
def port(api_server):
    return api_server.rest_port


def available(version: str) -> dict:
    return {
        "version": version,
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }


# ------------------------------------------------------------------------------------------ status
def test_status_lists_every_version_newest_first(port):
    assert http_request(port, "GET", "/v1/models/affine") == (
        200,
        {"model_version_status": [available("2"), available("1")]},
    )


def test_status_of_a_version_and_of_a_label(port):
    assert http_request(port, "GET", "/v1/models/affine/versions/1") == (
        200,
        {"model_version_status": [available("1")]},
    )
    assert http_request(port, "GET", "/v1/models/affine/labels/canary") == (
        200,
        {"model_version_status": [available("2")]},
    )


@pytest.mark.parametrize(
    "path, status, error",
    [
        ("/v1/models/nope", 404, "Could not find any versions of model nope"),
        ("/v1/models/affine/versions/9", 404, "Could not find version 9 of model affine"),
        ("/v1/models/affine/labels/beta", 400, "Unrecognized servable version label: beta"),
        ("/v1/models", 400, "Missing model name in request."),
        (
            "/v1/models/affine/versions/99999999999999999999",
            400,
            "Failed to convert version: 99999999999999999999 to numeric.",
        ),
        (
            "/v1/models/affine/versions/one",
            400,
            "Malformed request: GET /v1/models/affine/versions/one",
        ),
        ("/v1/models/affine:predict", 400, "Malformed request: GET /v1/models/affine:predict"),
        (
            "/index.html",
            404,
            "No API at /index.html: expected /v1/models/... or /monitoring/prometheus/metrics",
        ),
    ],
)
def test_status_errors(port, path, status, error):
    assert http_request(port, "GET", path) == (status, {"error": error})


# ---------------------------------------------------------------------------------------- metadata
def test_metadata_is_the_signature_def_map(port):
    status, metadata = http_request(port, "GET", "/v1/models/affine/metadata")
    assert status == 200
    assert metadata["model_spec"] == {"name": "affine", "signature_name": "", "version": "2"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "__saved_model_init_op"}
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert default["inputs"]["x"]["tensor_shape"] == {
        "dim": [{"size": "-1", "name": ""}, {"size": "3", "name": ""}],
        "unknown_rank": False,
    }
    assert default["inputs"]["x"]["name"] == "serving_default_x:0"
    assert list(default["outputs"]) == ["y"]
    assert (
        http_request(port, "GET", "/v1/models/affine/versions/1/metadata")[1]["model_spec"][
            "version"
        ]
        == "1"
    )
    assert (
        http_request(port, "GET", "/v1/models/affine/labels/stable/metadata")[1]["model_spec"][
            "version"
        ]
        == "1"
    )


def test_metadata_of_an_unknown_version(port):
    assert http_request(port, "GET", "/v1/models/affine/versions/3/metadata") == (
        404,
        {"error": "Servable not found for request: Specific(affine, 3)"},
    )


# ----------------------------------------------------------------------------------------- predict
def predict(port, path, document):
    return http_request(port, "POST", path, json.dumps(document))


def test_row_and_columnar_formats_give_the_same_numbers(port):
    status, rows = predict(port, "/v1/models/affine:predict", {"instances": X})
    assert status == 200
    status, columns = predict(
        port, "/v1/models/affine:predict", {"signature_name": "serving_default", "inputs": X}
    )
    assert status == 200
    np.testing.assert_array_equal(np.array(rows["predictions"], np.float32), affine_expected(X, 2))
    assert rows["predictions"] == columns["outputs"]


def test_versions_and_labels_route_to_their_version(port):
    for path, version in [
        ("/v1/models/affine/versions/1:predict", 1),
        ("/v1/models/affine/versions/2:predict", 2),
        ("/v1/models/affine/labels/stable:predict", 1),
        ("/v1/models/affine/labels/canary:predict", 2),
        ("/V1/MODELS/affine:PREDICT", 2),
    ]:
        status, body = predict(port, path, {"instances": X})
        assert status == 200, body
        np.testing.assert_array_equal(
            np.array(body["predictions"], np.float32), affine_expected(X, version)
        )


def test_strings_base64_and_multiple_outputs(port):
    document = {"instances": ["abc", {"b64": base64.b64encode("déjà".encode()).decode()}]}
    assert predict(port, "/v1/models/text:predict", document) == (
        200,
        {"predictions": [{"length": 3, "upper": "ABC"}, {"length": 6, "upper": "DéJà"}]},
    )
    assert predict(port, "/v1/models/text:predict", {"inputs": ["abc", "xy"]}) == (
        200,
        {"outputs": {"length": [3, 2], "upper": ["ABC", "XY"]}},
    )


def test_outputs_named_bytes_come_back_as_base64(port):
    status, body = predict(
        port, "/v1/models/text:predict", {"signature_name": "raw", "instances": ["hi"]}
    )
    assert status == 200
    assert body == {"predictions": [{"b64": base64.b64encode(b"hi\xff").decode()}]}


def test_multiple_inputs_row_and_columnar(port):
    rows = {
        "instances": [
            {"a": [1.0, 2.0], "b": 3, "flag": True},
            {"a": [0.5, 0.5], "b": -4, "flag": False},
        ]
    }
    columns = {"inputs": {"a": [[1.0, 2.0], [0.5, 0.5]], "b": [3, -4], "flag": [True, False]}}
    assert predict(port, "/v1/models/multi:predict", rows) == (
        200,
        {"predictions": [{"doubled": 6, "total": 6.0}, {"doubled": -8, "total": 3.0}]},
    )
    assert predict(port, "/v1/models/multi:predict", columns) == (
        200,
        {"outputs": {"doubled": [6, -8], "total": [6.0, 3.0]}},
    )


@pytest.mark.parametrize(
    "path, body, status, error",
    [
        ("/v1/models/affine:predict", "", 400, "JSON Parse error: The document is empty"),
        (
            "/v1/models/affine:predict",
            "{instances: [1]}",
            400,
            "JSON Parse error: Expecting property name enclosed in double quotes at offset: 1",
        ),
        (
            "/v1/models/affine:predict",
            '{"instances": [[1,2,3]], "inputs": [[1,2,3]]}',
            400,
            'JSON Value: {"instances": [[1, 2, 3]], "inputs": [[1, 2, 3]]} '
            "Not formatted correctly expecting only "
            "one of 'inputs' or 'instances' keys to exist ",
        ),
        (
            "/v1/models/affine:predict",
            '{"instances": [[1,2,3]], "signature_name": "nope"}',
            400,
            'Serving signature name: "nope" not found in signature def',
        ),
        (
            "/v1/models/affine:predict",
            '{"instances": [["a",2,3]]}',
            400,
            "Failed to process element: 0 of 'instances' list. "
            'Error: INVALID_ARGUMENT: JSON Value: "a" Type: '
            "String is not of expected type: float",
        ),
        (
            "/v1/models/affine:predict",
            '{"instances": [[1,2,3],[4,5]]}',
            400,
            "Failed to process element: 1 of 'instances' list. "
            "Error: INVALID_ARGUMENT: Expecting tensor size: 3 but got: 2",
        ),
        (
            "/v1/models/affine:predict",
            '{"inputs": [[1,2,3],[4,5]]}',
            400,
            "Encountered list at unexpected size: 2 at level: 1 expected size: 3",
        ),
        (
            "/v1/models/affine:predict",
            '{"inputs": [[1,2]]}',
            400,
            "Input 'x' has shape [1,2], which does not match the signature's shape [-1,3]",
        ),
        (
            "/v1/models/multi:predict",
            '{"instances": [{"a": [1,2], "b": 1, "flag": true, "c": 1}]}',
            400,
            "Failed to process element: 0 key: c of 'instances' list. "
            "Error: INVALID_ARGUMENT: JSON object: does not have named input: c",
        ),
        (
            "/v1/models/multi:predict",
            '{"inputs": {"a": [[1,2]], "b": [1]}}',
            400,
            "Missing named input: flag in 'inputs' object.",
        ),
        (
            "/v1/models/affine:predict",
            '{"signature_name": 1, "instances": [[1,2,3]]}',
            400,
            'JSON Value: {"signature_name": 1, "instances": [[1, 2, 3]]} not formatted correctly. '
            "'signature_name' key must be a string value.",
        ),
        (
            "/v1/models/nope:predict",
            '{"instances": [[1,2,3]]}',
            404,
            "Servable not found for request: Latest(nope)",
        ),
        (
            "/v1/models/affine/versions/5:predict",
            '{"instances": [[1,2,3]]}',
            404,
            "Servable not found for request: Specific(affine, 5)",
        ),
        (
            "/v1/models/affine/labels/beta:predict",
            '{"instances": [[1,2,3]]}',
            400,
            "Unrecognized servable version label: beta",
        ),
        (
            "/v1/models/affine:classify",
            '{"examples": []}',
            501,
            "The classify API is not served by kerasnlp-lab serve; use predict.",
        ),
        (
            "/v1/models/affine/metadata",
            "",
            400,
            "Malformed request: POST /v1/models/affine/metadata",
        ),
    ],
)
def test_predict_errors(port, path, body, status, error):
    assert http_request(port, "POST", path, body) == (status, {"error": error})


def test_names_never_reach_the_file_system(port):
    for path in [
        "/v1/models/..%2F..%2Fetc%2Fpasswd",
        "/v1/models/%2e%2e/versions/1",
        "/v1/models/affine%2F..%2Ftext",
    ]:
        status, body = http_request(port, "GET", path)
        assert status == 404 and body["error"].startswith("Could not find"), (path, body)
    status, body = http_request(
        port, "POST", "/v1/models/..%2Faffine:predict", '{"instances": [[1,2,3]]}'
    )
    assert (status, body) == (404, {"error": "Servable not found for request: Latest(../affine)"})
    status, body = http_request(port, "GET", "/v1/models/../affine")
    assert status == 400 and body["error"].startswith("Malformed request")


def test_too_big_body_gets_413_and_the_server_keeps_serving(port):
    big = json.dumps({"instances": [[1.0, 2.0, 3.0]] * (API_MAX_REQUEST_BYTES // 10)})
    assert len(big) > API_MAX_REQUEST_BYTES
    status, body = http_request(port, "POST", "/v1/models/affine:predict", big)
    assert status == 413
    assert body == {
        "error": f"Request body of {len(big)} bytes is larger than the limit of "
        f"{API_MAX_REQUEST_BYTES} bytes (max_request_bytes)."
    }
    assert predict(port, "/v1/models/affine:predict", {"instances": X})[0] == 200


def test_chunked_request_body(port):
    payload = json.dumps({"instances": X}).encode()
    status, body = http_request(
        port,
        "POST",
        "/v1/models/affine:predict",
        iter([payload[:10], payload[10:]]),
        headers={"Transfer-Encoding": "chunked"},
    )
    assert status == 200
    np.testing.assert_array_equal(np.array(body["predictions"], np.float32), affine_expected(X, 2))


def test_garbage_http_gets_a_json_400_and_the_server_lives_on(port):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        reply = connection.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 400")
    assert '{"error": ' in reply
    assert http_request(port, "GET", "/v1/models/affine")[0] == 200


def test_prometheus_metrics(port):
    predict(port, "/v1/models/affine:predict", {"instances": X})
    http_request(port, "GET", "/v1/models/nope")
    status, text = http_request(port, "GET", "/monitoring/prometheus/metrics")
    assert status == 200
    lines = text.splitlines()
    assert "# TYPE :tensorflow:serving:request_count counter" in lines
    counts = {
        line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(":tensorflow:serving:request_count{")
    }
    assert counts[':tensorflow:serving:request_count{model_name="affine",status="OK"}'] >= 1
    assert counts[':tensorflow:serving:request_count{model_name="",status="NOT_FOUND"}'] >= 1
    assert any(
        line.startswith(
            ':tensorflow:serving:request_latency_bucket{API="predict",entrypoint="REST",'
            'model_name="affine",le="+Inf"}'
        )
        for line in lines
    )


def test_client_over_rest(api_server):
    with ServingClient(f"http://127.0.0.1:{api_server.rest_port}") as client:
        outputs = client.predict("affine", {"x": X}, version=1)
        np.testing.assert_array_equal(outputs["y"], affine_expected(X, 1))
        assert outputs["y"].dtype == np.float32
        text = client.predict("text", {"text": ["ab", "ç"]})
        assert text["upper"].tolist() == [b"AB", "ç".encode()] and text["length"].dtype == np.int32
        raw = client.predict("text", {"text": ["ab"]}, signature_name="raw")
        assert raw["raw_bytes"].tolist() == [b"ab\xff"]
        assert client.status("affine", label="stable") == {"model_version_status": [available("1")]}
        with pytest.raises(ServingError) as caught:
            client.predict("affine", {"x": [[1, 2]]})
        assert (
            caught.value.code == "INVALID_ARGUMENT"
            and "does not match the signature's shape" in str(caught.value)
        )
        with pytest.raises(ServingError, match="Could not find any versions of model nope"):
            client.status("nope")
