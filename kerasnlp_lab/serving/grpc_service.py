"""The TF Serving gRPC API: PredictionService (Predict, GetModelMetadata) and ModelService
(GetModelStatus), with the service definitions of the tensorflow-serving-api package. Errors are
gRPC statuses with TF Serving's codes (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION, ...).
Classify, Regress, MultiInference and HandleReloadConfigRequest answer UNIMPLEMENTED."""

import concurrent.futures
import logging
import time
from typing import Callable

import grpc
from tensorflow_serving.apis import (model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving import messages
from kerasnlp_lab.serving.errors import ServingError, invalid_argument
from kerasnlp_lab.serving.metrics import Metrics
from kerasnlp_lab.serving.model_manager import ModelManager
from kerasnlp_lab.serving.tensor_proto import from_tensor_proto, to_tensor_proto

logger = logging.getLogger(__name__)

GRPC_WORKERS = 64


def _version_and_label(model_spec) -> tuple[int | None, str | None]:
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return model_spec.version.value, None
    if choice == "version_label":
        return None, model_spec.version_label
    return None, None


class _Service:
    def __init__(self, manager: ModelManager, metrics: Metrics):
        self.manager = manager
        self.metrics = metrics

    def _answer(self, api: str, request, context, compute: Callable):
        """Runs compute(); turns ServingError into the gRPC status and records metrics."""
        started, status = time.monotonic(), "OK"
        name = request.model_spec.name
        try:
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            return compute()
        except ServingError as error:
            status = error.code
            context.abort(error.grpc_code, error.message)
        except Exception as error:  # a bad request must never take the server down
            status = "INTERNAL"
            logger.exception("gRPC %s failed", api)
            context.abort(grpc.StatusCode.INTERNAL, f"Internal error: {error}")
        finally:
            known = name if self.manager.is_model(name) else ""
            self.metrics.observe_request(known, api, "GRPC", status, time.monotonic() - started)


class PredictionServicer(_Service, prediction_service_pb2_grpc.PredictionServiceServicer):
    """PredictionService.Predict and GetModelMetadata."""

    def Predict(self, request, context):
        return self._answer("predict", request, context, lambda: self._predict(request))

    def GetModelMetadata(self, request, context):
        return self._answer("metadata", request, context, lambda: self._metadata(request))

    def _predict(self, request) -> predict_pb2.PredictResponse:
        spec = request.model_spec
        version, label = _version_and_label(spec)
        with self.manager.acquire(spec.name, version, label) as servable:
            try:
                inputs = {name: from_tensor_proto(proto) for name, proto in request.inputs.items()}
            except (TypeError, ValueError) as error:
                raise invalid_argument(f"Cannot read an input TensorProto: {error}") from None
            signature_name, outputs = servable.predict(spec.signature_name, inputs, request.output_filter)
            response = predict_pb2.PredictResponse(
                model_spec=messages.model_spec(spec.name, servable.version, signature_name))
        for name, array in outputs.items():
            response.outputs[name].CopyFrom(to_tensor_proto(array))
        return response

    def _metadata(self, request):
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != messages.SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        version, label = _version_and_label(request.model_spec)
        return self.manager.metadata(request.model_spec.name, version, label)


class ModelServicer(_Service, model_service_pb2_grpc.ModelServiceServicer):
    """ModelService.GetModelStatus."""

    def GetModelStatus(self, request, context):
        def status():
            version, label = _version_and_label(request.model_spec)
            return self.manager.status(request.model_spec.name, version, label)
        return self._answer("status", request, context, status)


def create_grpc_server(manager: ModelManager, metrics: Metrics, host: str, port: int,
                       max_request_bytes: int) -> tuple[grpc.Server, int]:
    """A gRPC server bound to host:port (0 picks a free port), not started; returns it and its port."""
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS,
                                                               thread_name_prefix="grpc"),
                         options=[("grpc.so_reuseport", 0),
                                  ("grpc.max_receive_message_length", max_request_bytes),
                                  ("grpc.max_send_message_length", -1)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, metrics), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager, metrics), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as error:
        bound = 0
        reason = str(error)
    else:
        reason = ""
    if not bound:
        server.stop(None)
        raise UserError(f"Cannot serve gRPC on {address}: the port is in use or the address is not "
                        f"local ({reason or 'bind failed'}). Choose another port with --grpc-port or "
                        "another --host.")
    return server, bound
