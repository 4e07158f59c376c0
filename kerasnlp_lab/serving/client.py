"""One small client for TF Serving (real or embedded), over REST or gRPC.

    client = ServingClient("http://127.0.0.1:8501")     # or "grpc://127.0.0.1:8500"
    client.predict("autoencoder", {"images": images})  # -> {"reconstructions": array}
    client.metadata("autoencoder")                     # the REST metadata JSON, as a dict
    client.status("autoencoder")                       # {"model_version_status": [...]}

Both transports return the same values: NumPy arrays with the signature's dtypes (DT_STRING outputs
as object arrays of bytes) and the dictionaries TF Serving's REST API prints. The client reads a
signature's dtypes from the metadata API once per model, version, label and signature (REST needs
the output dtypes to decode JSON; inputs are cast to the signature's dtypes for both transports).
Server errors raise ServingError (a UserError) with the server's message and status code.
"""

import dataclasses
import json
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

import grpc
import httptools
import numpy as np
import orjson
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving import json_codec, messages
from kerasnlp_lab.serving.errors import HTTP_STATUS, ServingError
from kerasnlp_lab.serving.http_client import ConnectionClosed, HttpConnection
from kerasnlp_lab.serving.tensor_proto import (
    as_string_array,
    from_tensor_proto,
    numpy_dtype,
    to_tensor_proto,
)

DEFAULT_SIGNATURE = "serving_default"
DEFAULT_TIMEOUT_SECONDS = 60.0


class ServingClient:
    """A client for the TF Serving APIs.

    Args:
        url: `http://host:port` for REST or `grpc://host:port` for gRPC.
        timeout: seconds to wait for each call.
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "grpc") or not parsed.hostname or parsed.port is None:
            raise UserError(
                f"Expected a server URL like http://127.0.0.1:8501 (REST) or "
                f"grpc://127.0.0.1:8500 (gRPC), got {url!r}."
            )
        self.url = url
        self.timeout = timeout
        self._transport = (_RestTransport if parsed.scheme == "http" else _GrpcTransport)(
            parsed.hostname, parsed.port, timeout
        )
        self._signatures: dict[tuple, _SignatureTypes] = {}
        self._signatures_lock = threading.Lock()

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        signature_name: str = DEFAULT_SIGNATURE,
        version: int | None = None,
        label: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Runs a signature on named inputs (array-likes, batch first); returns the named outputs.
        Numeric inputs are cast to the signature's dtypes where NumPy's same-kind casting allows it
        (so Python floats reach a float32 input over gRPC as over REST)."""
        if version is not None and label is not None:
            raise UserError(
                f"Expected a version or a label, got both (version {version}, label {label!r})."
            )
        types = self._signature_types(model, version, label, signature_name)
        arrays = {name: _as_array(value, types.inputs.get(name)) for name, value in inputs.items()}
        return self._transport.predict(model, arrays, signature_name, version, label, types.outputs)

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        """`{"model_spec": ..., "metadata": {"signature_def": {"signature_def": {...}}}}`."""
        return self._transport.metadata(model, version, label)

    def status(self, model: str, version: int | None = None, label: str | None = None) -> dict:
        """`{"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {...}}]}`."""
        return self._transport.status(model, version, label)

    def close(self) -> None:
        self._transport.close()

    def _signature_types(self, model, version, label, signature_name) -> "_SignatureTypes":
        """The input and output DataTypes of a signature, from the metadata API (cached); empty when
        the signature does not exist (the server's predict answer then says so)."""
        key = (model, version, label, signature_name)
        with self._signatures_lock:
            if key in self._signatures:
                return self._signatures[key]
        signatures = self.metadata(model, version, label)["metadata"]["signature_def"][
            "signature_def"
        ]
        signature = signatures.get(signature_name, {})
        types = _SignatureTypes(
            inputs={
                name: types_pb2.DataType.Value(info["dtype"])
                for name, info in signature.get("inputs", {}).items()
            },
            outputs={
                name: types_pb2.DataType.Value(info["dtype"])
                for name, info in signature.get("outputs", {}).items()
            },
        )
        with self._signatures_lock:
            self._signatures[key] = types
        return types

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class _SignatureTypes:
    inputs: dict[str, int]
    outputs: dict[str, int]


def _as_array(value: Any, dtype: int | None) -> np.ndarray:
    try:
        array = np.asarray(value)
    except UnicodeDecodeError:  # a mix of str and non-UTF-8 bytes
        array = np.asarray(value, dtype=object)
    if array.dtype.kind in "OSU":
        return as_string_array(array)
    if dtype is not None and dtype != types_pb2.DT_STRING:
        target = numpy_dtype(dtype)
        if array.dtype != target and np.can_cast(array.dtype, target, casting="same_kind"):
            return array.astype(target)
    return array


class _RestTransport:
    """REST over one keep-alive HTTP connection per thread (serving.http_client)."""

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self._local = threading.local()

    def predict(self, model, arrays, signature_name, version, label, output_types):
        body = (
            '{"signature_name": '
            + json.dumps(signature_name)
            + ', "inputs": {'
            + ",".join(
                f"{json.dumps(name)}: {json_codec.encode_tensor(array)}"
                for name, array in arrays.items()
            )
            + "}}"
        )
        outputs = self._request(
            "POST", _model_path(model, version, label) + ":predict", body.encode()
        )["outputs"]
        if len(output_types) == 1:  # a single output comes without its name
            outputs = {next(iter(output_types)): outputs}
        # Each output holds one dtype, so NumPy may read numeric outputs at once (exact=False).
        return {
            name: json_codec.decode_tensor(value, output_types[name], exact=False)
            for name, value in outputs.items()
        }

    def metadata(self, model, version, label):
        return self._request("GET", _model_path(model, version, label) + "/metadata")

    def status(self, model, version, label):
        return self._request("GET", _model_path(model, version, label))

    def close(self):
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _request(self, method: str, path: str, body: bytes | None = None) -> dict:
        for attempt in range(2):
            connection = getattr(self._local, "connection", None)
            reused = connection is not None
            try:
                if connection is None:
                    connection = HttpConnection(self.host, self.port, self.timeout)
                    self._local.connection = connection
                status, payload, keep_alive = connection.request(method, path, body)
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError) as error:
                self.close()
                if reused and attempt == 0:  # the server closed an idle keep-alive connection
                    continue
                raise self._unreachable(error) from None
            except OSError as error:
                self.close()
                raise self._unreachable(error) from None
            except httptools.HttpParserError as error:
                self.close()
                raise ServingError(
                    "UNKNOWN",
                    f"The server at http://{self.host}:{self.port} sent a malformed HTTP "
                    f"response: {error}",
                ) from None
            if not keep_alive:
                self.close()
            document = _json_or_text(payload)
            if status != 200:
                message = document.get("error") if isinstance(document, dict) else None
                raise ServingError(
                    _code_for(status), message or f"HTTP {status}: {payload[:200]!r}"
                )
            return document
        raise AssertionError("unreachable")

    def _unreachable(self, error: Exception) -> ServingError:
        return ServingError(
            "UNAVAILABLE", f"Cannot reach the server at http://{self.host}:{self.port}: {error}"
        )


class _GrpcTransport:
    """gRPC over one channel (thread-safe)."""

    def __init__(self, host: str, port: int, timeout: float):
        self.target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            self.target,
            options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
        )
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._model = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def predict(self, model, arrays, signature_name, version, label, output_types):
        request = predict_pb2.PredictRequest()
        _fill_model_spec(request.model_spec, model, version, label, signature_name)
        for name, array in arrays.items():
            request.inputs[name].CopyFrom(to_tensor_proto(array))
        response = self._call(self._prediction.Predict, request)
        return {name: from_tensor_proto(proto) for name, proto in response.outputs.items()}

    def metadata(self, model, version, label):
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            metadata_field=[messages.SIGNATURE_DEF_FIELD]
        )
        _fill_model_spec(request.model_spec, model, version, label)
        return messages.metadata_to_dict(self._call(self._prediction.GetModelMetadata, request))

    def status(self, model, version, label):
        request = get_model_status_pb2.GetModelStatusRequest()
        _fill_model_spec(request.model_spec, model, version, label)
        return messages.status_to_dict(self._call(self._model.GetModelStatus, request))

    def close(self):
        self._channel.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            code = error.code().name
            if code == "UNAVAILABLE" and "connect" in (error.details() or "").lower():
                raise ServingError(
                    code, f"Cannot reach the server at grpc://{self.target}: {error.details()}"
                ) from None
            raise ServingError(
                code if code in HTTP_STATUS and code != "OK" else "UNKNOWN", error.details() or code
            ) from None


def _fill_model_spec(
    spec, model: str, version: int | None, label: str | None, signature_name: str = ""
) -> None:
    spec.name = model
    spec.signature_name = signature_name
    if version is not None:
        spec.version.value = version
    if label is not None:
        spec.version_label = label


def _model_path(model: str, version: int | None, label: str | None) -> str:
    path = "/v1/models/" + urllib.parse.quote(model, safe="")
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label is not None:
        path += "/labels/" + urllib.parse.quote(label, safe="")
    return path


def _json_or_text(payload: bytes):
    """The parsed JSON answer (orjson; the standard library's parser for NaN and Infinity), or
    None."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(payload)
    except ValueError:
        return None


def _code_for(http_status: int) -> str:
    """The error code behind an HTTP status (the first TF Serving maps to it; 413 is a size
    limit)."""
    if http_status == 413:
        return "RESOURCE_EXHAUSTED"
    for code, status in HTTP_STATUS.items():
        if status == http_status and code != "OK":
            return code
    return "UNKNOWN"
