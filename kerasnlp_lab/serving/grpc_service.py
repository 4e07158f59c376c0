"""The TF Serving gRPC API: PredictionService (Predict, GetModelMetadata) and ModelService
(GetModelStatus), with the service definitions of the tensorflow-serving-api package. Errors are
gRPC statuses with TF Serving's codes (NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION, ...).
Classify, Regress, MultiInference and HandleReloadConfigRequest answer UNIMPLEMENTED.

Calls run on `grpc_max_threads` threads; as many again may wait for one, more are refused by gRPC
with RESOURCE_EXHAUSTED. A Predict's input TensorProtos are checked (names, dtypes, declared shapes
against the signature and the rows limit, values sent against the declared shape) before any array
is made. Deadlines are honoured: the wait in the model's queue and for a batch ends at the deadline
with DEADLINE_EXCEEDED; without a deadline the queue wait is bounded by `rest_api_timeout_in_ms`."""

import concurrent.futures
import logging
import time
from collections.abc import Callable

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving import messages
from kerasnlp_lab.serving.admission import Admission
from kerasnlp_lab.serving.errors import ServingError, invalid_argument
from kerasnlp_lab.serving.limits import ServingLimits
from kerasnlp_lab.serving.metrics import Metrics
from kerasnlp_lab.serving.model_manager import ModelManager
from kerasnlp_lab.serving.tensor_proto import declared_shape, from_tensor_proto, to_tensor_proto

logger = logging.getLogger(__name__)

_NO_DEADLINE_SECONDS = 10**9  # gRPC reports a call without a deadline as one ~300 years away


def _version_and_label(model_spec) -> tuple[int | None, str | None]:
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return model_spec.version.value, None
    if choice == "version_label":
        return None, model_spec.version_label
    return None, None


class _Service:
    def __init__(
        self, manager: ModelManager, metrics: Metrics, limits: ServingLimits, admission: Admission
    ):
        self.manager = manager
        self.metrics = metrics
        self.limits = limits
        self.admission = admission

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
        return self._answer(
            "predict", request, context, lambda: self._admitted_predict(request, context)
        )

    def GetModelMetadata(self, request, context):
        return self._answer("metadata", request, context, lambda: self._metadata(request))

    def _admitted_predict(self, request, context) -> predict_pb2.PredictResponse:
        remaining = context.time_remaining()  # about 2**63 ns when the call has no deadline
        if remaining is None or remaining > _NO_DEADLINE_SECONDS:
            timeout, deadline = self.limits.rest_api_timeout_seconds, None
        else:
            timeout, deadline = remaining, time.monotonic() + remaining
        name = request.model_spec.name
        if not self.manager.is_model(name):  # NOT_FOUND from the manager, no queue
            return self._predict(request, deadline)
        self.admission.enter(name, timeout)
        try:
            response = self._predict(request, deadline)
        finally:
            self.admission.leave(name)
        if deadline is not None and time.monotonic() > deadline:
            raise ServingError("DEADLINE_EXCEEDED", "Deadline exceeded while the request ran")
        return response

    def _predict(self, request, deadline: float | None) -> predict_pb2.PredictResponse:
        spec = request.model_spec
        version, label = _version_and_label(spec)
        with self.manager.acquire(spec.name, version, label) as servable:
            declared = {
                name: (proto.dtype, declared_shape(proto, name))
                for name, proto in request.inputs.items()
            }
            servable.check_inputs(spec.signature_name, declared)
            try:
                inputs = {
                    name: from_tensor_proto(proto, name) for name, proto in request.inputs.items()
                }
            except (TypeError, ValueError) as error:
                raise invalid_argument(f"Cannot read an input TensorProto: {error}") from None
            signature_name, outputs = servable.predict(
                spec.signature_name, inputs, request.output_filter, deadline
            )
            response = predict_pb2.PredictResponse(
                model_spec=messages.model_spec(spec.name, servable.version, signature_name)
            )
        for name, array in outputs.items():
            response.outputs[name].CopyFrom(to_tensor_proto(array))
        return response

    def _metadata(self, request):
        if not request.metadata_field:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
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


def create_grpc_server(
    manager: ModelManager,
    metrics: Metrics,
    host: str,
    port: int,
    limits: ServingLimits,
    admission: Admission,
) -> tuple[grpc.Server, int]:
    """A gRPC server bound to host:port (0 picks a free port), not started; returns it and its
    port."""
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(
            max_workers=limits.grpc_max_threads, thread_name_prefix="grpc"
        ),
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", limits.max_request_bytes),
            ("grpc.max_send_message_length", -1),
        ],
        maximum_concurrent_rpcs=2 * limits.grpc_max_threads,
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionServicer(manager, metrics, limits, admission), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelServicer(manager, metrics, limits, admission), server
    )
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
        raise UserError(
            f"Cannot serve gRPC on {address}: the port is in use or the address is not "
            f"local ({reason or 'bind failed'}). Choose another port with --grpc-port or "
            "another --host."
        )
    return server, bound
