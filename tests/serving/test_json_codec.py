"""The REST JSON mapping of tensors, checked against TF Serving's rules and messages."""

import base64
import json

import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from kerasnlp_lab.serving import json_codec
from kerasnlp_lab.serving.errors import ServingError


def infos(**dtypes) -> dict[str, meta_graph_pb2.TensorInfo]:
    return {name: meta_graph_pb2.TensorInfo(dtype=dtype) for name, dtype in dtypes.items()}


def test_decode_tensor_keeps_shape_and_dtype():
    array = json_codec.decode_tensor([[1, 2.5, -3], [4, 5, 6]], types_pb2.DT_FLOAT)
    assert array.dtype == np.float32 and array.shape == (2, 3)
    np.testing.assert_array_equal(array, [[1, 2.5, -3], [4, 5, 6]])
    assert json_codec.decode_tensor(7, types_pb2.DT_INT64).shape == ()
    assert json_codec.decode_tensor([], types_pb2.DT_FLOAT).shape == (0,)


def test_decode_strings_and_base64():
    array = json_codec.decode_tensor(
        ["héllo", {"b64": base64.b64encode(b"\x00\xff").decode()}], types_pb2.DT_STRING
    )
    assert array.dtype == object
    assert array.tolist() == ["héllo".encode(), b"\x00\xff"]


def test_decode_special_floats():
    document = json_codec.parse_request_body(b'{"inputs": [NaN, Infinity, -Infinity, 1e3]}')
    array = json_codec.decode_tensor(document["inputs"], types_pb2.DT_DOUBLE)
    assert np.isnan(array[0]) and array[1] == np.inf and array[2] == -np.inf and array[3] == 1000.0


@pytest.mark.parametrize(
    "value, dtype, message",
    [
        (
            ["x", 1.0],
            types_pb2.DT_FLOAT,
            'JSON Value: "x" Type: String is not of expected type: float',
        ),
        ([1.5], types_pb2.DT_INT32, "JSON Value: 1.5 Type: Number is not of expected type: int32"),
        ([True], types_pb2.DT_FLOAT, "JSON Value: true Type: True is not of expected type: float"),
        ([1], types_pb2.DT_BOOL, "JSON Value: 1 Type: Number is not of expected type: bool"),
        (
            [2**31],
            types_pb2.DT_INT32,
            "JSON Value: 2147483648 Type: Number is not of expected type: int32",
        ),
        (
            [2**24 + 1],
            types_pb2.DT_FLOAT,
            "Cannot convert JSON value: 16777217 to float without loss of precision.",
        ),
        (
            [1e39],
            types_pb2.DT_FLOAT,
            "Cannot convert JSON value: 1e+39 to float without loss of precision.",
        ),
        (
            [[1, 2], [3]],
            types_pb2.DT_FLOAT,
            "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
        ),
        (
            [[1, 2], 3],
            types_pb2.DT_FLOAT,
            "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2",
        ),
        ([1, [2]], types_pb2.DT_FLOAT, "Encountered list at unexpected level: 1 expected < 1"),
        ([{"b64": "not base64!"}], types_pb2.DT_STRING, "Unable to base64 decode"),
        ([{"b64": "AA==", "x": 1}], types_pb2.DT_STRING, "not formatted correctly for base64 data"),
        (
            [{"b64": "AA=="}],
            types_pb2.DT_FLOAT,
            'JSON Value: {"b64": "AA=="} Type: Object is not of expected type: float',
        ),
    ],
)
def test_decode_rejects_what_tf_serving_rejects(value, dtype, message):
    with pytest.raises(ServingError) as caught:
        json_codec.decode_tensor(value, dtype)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert message in caught.value.message


def test_row_and_columnar_requests_give_the_same_tensors():
    signature = infos(a=types_pb2.DT_FLOAT, b=types_pb2.DT_STRING)
    rows, row_format = json_codec.decode_request_tensors(
        {"instances": [{"a": [1, 2], "b": "x"}, {"a": [3, 4], "b": {"b64": "eQ=="}}]}, signature
    )
    columns, columnar_format = json_codec.decode_request_tensors(
        {"inputs": {"a": [[1, 2], [3, 4]], "b": ["x", "y"]}}, signature
    )
    assert row_format and not columnar_format
    for name in ("a", "b"):
        np.testing.assert_array_equal(rows[name], columns[name])
    assert rows["a"].shape == (2, 2) and rows["b"].tolist() == [b"x", b"y"]


def test_single_input_row_format_is_a_plain_list():
    tensors, _ = json_codec.decode_request_tensors(
        {"instances": [[1, 2, 3], [4, 5, 6]]}, infos(x=types_pb2.DT_FLOAT)
    )
    assert tensors["x"].shape == (2, 3)


@pytest.mark.parametrize(
    "document, message",
    [
        (
            {"instances": [1], "inputs": [1]},
            "expecting only one of 'inputs' or 'instances' keys to exist",
        ),
        ({"instances": 1}, "Excepting 'instances' to be an list/array"),
        ({"instances": []}, "No values in 'instances' array"),
        ({"signature_name": "x"}, "Missing 'inputs' or 'instances' key"),
        (
            {"instances": [[1, 2], [3]]},
            "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting tensor size: 2 but got: 1",
        ),
        ({"instances": [[1, 2], [[3], [4]]]}, "Expecting shape [2] but got: [2,1]"),
    ],
)
def test_request_format_errors(document, message):
    with pytest.raises(ServingError) as caught:
        json_codec.decode_request_tensors(document, infos(x=types_pb2.DT_FLOAT))
    assert message in caught.value.message


def test_multi_input_request_errors():
    signature = infos(a=types_pb2.DT_FLOAT, b=types_pb2.DT_FLOAT)
    cases = [
        ({"instances": [[1, 2]]}, "instances is a plain list, but expecting list of objects"),
        ({"instances": [{"a": 1, "b": 2}, {"a": 1}]}, "keys must be equal to: a,b"),
        ({"instances": [{"a": 1, "b": 2, "c": 3}]}, "does not have named input: c"),
        ({"inputs": [1, 2]}, "inputs is a plain value/list, but expecting an object"),
        ({"inputs": {"a": [1]}}, "Missing named input: b in 'inputs' object."),
    ]
    for document, message in cases:
        with pytest.raises(ServingError) as caught:
            json_codec.decode_request_tensors(document, signature)
        assert message in caught.value.message, document


def test_parse_errors():
    for body, message in [
        (b"", "JSON Parse error: The document is empty"),
        (b"instances = [1, 2]", "JSON Parse error: Expecting value at offset: 0"),
        (b"[1]", "JSON Value: [1] Is not object"),
    ]:
        with pytest.raises(ServingError) as caught:
            json_codec.parse_request_body(body)
        assert caught.value.message == message
    with pytest.raises(ServingError, match="'signature_name' key must be a string value"):
        json_codec.signature_name_of({"signature_name": 100})


def test_encode_floats_shortest_and_special():
    array = np.array([[0.1, 1.0, np.nan], [np.inf, -np.inf, 3e-7]], np.float32)
    assert json_codec.encode_tensor(array) == "[[0.1,1.0,NaN],[Infinity,-Infinity,3e-07]]"
    parsed = np.array(json.loads(json_codec.encode_tensor(array)), np.float32)
    np.testing.assert_array_equal(parsed, array)


def test_encode_other_dtypes_and_empty():
    assert json_codec.encode_tensor(np.array([True, False])) == "[true,false]"
    assert json_codec.encode_tensor(np.array([[1, -2]], np.int64)) == "[[1,-2]]"
    assert json_codec.encode_tensor(np.zeros((2, 0), np.float32)) == "[[],[]]"
    assert json_codec.encode_tensor(np.array(5, np.int32)) == "5"
    strings = np.array([b"caf\xc3\xa9", b"\xff"], dtype=object)
    assert json.loads(json_codec.encode_tensor(strings)) == ["café", {"b64": "/w=="}]
    assert json.loads(json_codec.encode_tensor(strings, binary=True)) == [
        {"b64": "Y2Fmw6k="},
        {"b64": "/w=="},
    ]


def test_encode_responses_row_and_columnar():
    outputs = {
        "y": np.array([[1.5], [2.5]], np.float32),
        "label_bytes": np.array([b"a", b"b"], dtype=object),
    }
    assert json.loads(json_codec.encode_predictions(outputs)) == {
        "predictions": [
            {"label_bytes": {"b64": "YQ=="}, "y": [1.5]},
            {"label_bytes": {"b64": "Yg=="}, "y": [2.5]},
        ]
    }
    assert json.loads(json_codec.encode_outputs(outputs)) == {
        "outputs": {"label_bytes": [{"b64": "YQ=="}, {"b64": "Yg=="}], "y": [[1.5], [2.5]]}
    }
    single = {"y": np.array([3, 4], np.int32)}
    assert json.loads(json_codec.encode_predictions(single)) == {"predictions": [3, 4]}
    assert json.loads(json_codec.encode_outputs(single)) == {"outputs": [3, 4]}
    with pytest.raises(ServingError, match="has inconsistent batch size: 3 expecting: 2"):
        json_codec.encode_predictions({"a": np.zeros(2), "b": np.zeros(3)})
