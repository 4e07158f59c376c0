"""The gRPC API of the embedded server: TF Serving's services, status codes, and the same answers as
REST."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from kerasnlp_lab.serving.client import ServingClient
from kerasnlp_lab.serving.errors import ServingError
from tests.serving.conftest import API_MAX_REQUEST_BYTES
from tests.serving.saved_model_factory import affine_expected

X = np.array([[1.0, 2.0, 3.0], [-0.5, 0.25, 10.0]], np.float32)


@pytest.fixture(scope="module")
def channel(api_server):
    with grpc.insecure_channel(f"127.0.0.1:{api_server.grpc_port}") as channel:
        yield channel


@pytest.fixture(scope="module")
def prediction(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def clients(api_server):
    rest = ServingClient(f"http://127.0.0.1:{api_server.rest_port}")
    grpc_client = ServingClient(f"grpc://127.0.0.1:{api_server.grpc_port}")
    yield rest, grpc_client
    rest.close()
    grpc_client.close()


def predict_request(
    model="affine", inputs=None, signature_name="", version=None, label=None, output_filter=()
):
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = model
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for name, value in (inputs if inputs is not None else {"x": X}).items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def rpc_error(call, request) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=30)
    return caught.value.code(), caught.value.details()


def test_predict_response_like_tf_serving(prediction):
    response = prediction.Predict(predict_request(), timeout=30)
    assert response.model_spec.name == "affine"
    assert response.model_spec.version.value == 2
    assert response.model_spec.signature_name == "serving_default"
    assert list(response.outputs) == ["y"]
    assert list(
        response.outputs["y"].float_val
    )  # values in the typed field, as TF Serving writes them
    np.testing.assert_array_equal(tf.make_ndarray(response.outputs["y"]), affine_expected(X, 2))


def test_versions_labels_and_output_filter(prediction):
    for kwargs, version in [
        ({"version": 1}, 1),
        ({"label": "stable"}, 1),
        ({"label": "canary"}, 2),
    ]:
        response = prediction.Predict(predict_request(**kwargs), timeout=30)
        assert response.model_spec.version.value == version
        np.testing.assert_array_equal(
            tf.make_ndarray(response.outputs["y"]), affine_expected(X, version)
        )
    texts = np.array([b"ab", b"c"], dtype=object)
    response = prediction.Predict(
        predict_request("text", {"text": texts}, output_filter=["length"]), timeout=30
    )
    assert list(response.outputs) == ["length"]
    assert tf.make_ndarray(response.outputs["length"]).tolist() == [2, 1]


@pytest.mark.parametrize(
    "request_kwargs, code, details",
    [
        (
            {"model": "nope"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(nope)",
        ),
        (
            {"version": 7},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Specific(affine, 7)",
        ),
        (
            {"label": "beta"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: beta",
        ),
        (
            {"model": "../affine"},
            grpc.StatusCode.NOT_FOUND,
            "Servable not found for request: Latest(../affine)",
        ),
        (
            {"signature_name": "nope"},
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (
            {"inputs": {"x": X.astype(np.float64)}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Expects arg[0] to be float but double is provided",
        ),
        (
            {"inputs": {"x": X[:, :2]}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "Input 'x' has shape [2,2], which does not match the signature's shape [-1,3]",
        ),
        (
            {"inputs": {"z": X}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input tensor alias not found in signature: z. Inputs expected to be in the set {x}.",
        ),
        (
            {"inputs": {"x": X, "z": X}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input size does not match signature: 2!=1 len({x,z}) != len({x}). "
            "Sent extra: {z}. Missing but required: {}.",
        ),
        (
            {"inputs": {}},
            grpc.StatusCode.INVALID_ARGUMENT,
            "input size does not match signature: 0!=1 len({}) != len({x}). "
            "Sent extra: {}. Missing but required: {x}.",
        ),
        (
            {"output_filter": ["nope"]},
            grpc.StatusCode.INVALID_ARGUMENT,
            "output tensor alias not found in signature: nope "
            "Outputs expected to be in the set {y}.",
        ),
        (
            {"output_filter": ["y", "y"]},
            grpc.StatusCode.INVALID_ARGUMENT,
            "duplicate output tensor alias: y",
        ),
    ],
)
def test_predict_errors(prediction, request_kwargs, code, details):
    assert rpc_error(prediction.Predict, predict_request(**request_kwargs)) == (code, details)


def test_missing_model_spec_unimplemented_apis_and_too_big_messages(prediction):
    assert rpc_error(prediction.Predict, predict_pb2.PredictRequest()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Missing ModelSpec",
    )
    code, _ = rpc_error(prediction.Classify, classification_pb2.ClassificationRequest())
    assert code == grpc.StatusCode.UNIMPLEMENTED
    big = np.zeros((API_MAX_REQUEST_BYTES // 12 + 1, 3), np.float32)
    code, _ = rpc_error(prediction.Predict, predict_request(inputs={"x": big}))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert prediction.Predict(predict_request(), timeout=30).model_spec.version.value == 2


def test_metadata_and_status_errors(channel, prediction):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "affine"
    assert rpc_error(prediction.GetModelMetadata, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "GetModelMetadataRequest must specify at least one metadata_field",
    )
    request.metadata_field.append("graph")
    assert rpc_error(prediction.GetModelMetadata, request) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Metadata field graph is not supported",
    )
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "affine"
    status_request.model_spec.version.value = 4
    assert rpc_error(models.GetModelStatus, status_request) == (
        grpc.StatusCode.NOT_FOUND,
        "Could not find version 4 of model affine",
    )
    status_request.model_spec.name = "nope"
    status_request.model_spec.ClearField("version")
    assert rpc_error(models.GetModelStatus, status_request) == (
        grpc.StatusCode.NOT_FOUND,
        "Could not find any versions of model nope",
    )


@pytest.mark.parametrize(
    "model, inputs, signature_name",
    [
        ("affine", {"x": X}, "serving_default"),
        ("text", {"text": ["héllo", b"\x00bin\xff"]}, "serving_default"),
        ("text", {"text": ["a"]}, "raw"),
        (
            "multi",
            {"a": [[1.0, 2.0], [0.5, 0.5]], "b": np.array([3, -4]), "flag": [True, False]},
            "serving_default",
        ),
    ],
)
def test_rest_and_grpc_give_the_same_outputs(clients, model, inputs, signature_name):
    rest, grpc_client = clients
    by_rest = rest.predict(model, inputs, signature_name=signature_name)
    by_grpc = grpc_client.predict(model, inputs, signature_name=signature_name)
    assert set(by_rest) == set(by_grpc)
    for name in by_rest:
        assert by_rest[name].dtype == by_grpc[name].dtype, name
        assert by_rest[name].shape == by_grpc[name].shape, name
        assert by_rest[name].tolist() == by_grpc[name].tolist(), name


def test_rest_and_grpc_give_the_same_status_and_metadata(clients):
    rest, grpc_client = clients
    for kwargs in [{}, {"version": 1}, {"label": "canary"}]:
        assert rest.status("affine", **kwargs) == grpc_client.status("affine", **kwargs)
        assert rest.metadata("affine", **kwargs) == grpc_client.metadata("affine", **kwargs)
    assert grpc_client.status("affine")["model_version_status"][0] == {
        "version": "2",
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }


def test_client_errors_carry_the_server_message(clients):
    for client in clients:
        with pytest.raises(ServingError) as caught:
            client.predict("affine", {"x": X}, version=9)
        assert caught.value.code == "NOT_FOUND"
        assert str(caught.value) == "Servable not found for request: Specific(affine, 9)"


def test_client_rejects_bad_urls_and_unreachable_servers():
    from kerasnlp_lab.errors import UserError

    for url in ["localhost:8501", "ftp://h:1", "http://host"]:
        with pytest.raises(UserError, match="Expected a server URL"):
            ServingClient(url)
    for url in ["http://127.0.0.1:9", "grpc://127.0.0.1:9"]:
        with pytest.raises(ServingError, match="Cannot reach the server") as caught:
            ServingClient(url, timeout=5).status("affine")
        assert caught.value.code == "UNAVAILABLE"
