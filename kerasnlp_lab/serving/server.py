"""The embedded TF-Serving-compatible model server: REST and gRPC over one model manager.

`ModelServer(...).start()` binds both ports (0 picks a free one), loads the models, starts serving
and returns the bound ports; `.stop()` shuts down cleanly. `serve_forever(...)` does the same until
SIGINT or SIGTERM (what `kerasnlp-lab serve` calls).

Without a model config file, every subfolder of `saved_models` is a model served with policy latest
(new model subfolders are picked up too). With one, the file (TF Serving's ModelServerConfig text
format) lists the models and `saved_models` is not used; see model_config for how its base paths are
resolved. A batching parameters file, or per-model batching parameters, turn batching on. `limits`
(ServingLimits) bounds what requests may cost; one Admission (in-flight requests per model) is
shared by both APIs.
"""

import functools
import logging
import os
import signal
import threading
from pathlib import Path

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving.admission import Admission
from kerasnlp_lab.serving.batching import BatchingParameters, read_batching_parameters
from kerasnlp_lab.serving.grpc_service import create_grpc_server
from kerasnlp_lab.serving.limits import ServingLimits
from kerasnlp_lab.serving.metrics import PROMETHEUS_PATH, Metrics
from kerasnlp_lab.serving.model_config import ConfigFileWatcher, models_in_folder
from kerasnlp_lab.serving.model_manager import ModelManager
from kerasnlp_lab.serving.rest import RestServer

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


class ModelServer:
    """A non-blocking server: start() returns (rest_port, grpc_port), stop() shuts it down.

    Args:
        saved_models: the folder with one subfolder per model (used without a model config file).
        host: the address to listen on (127.0.0.1: this machine only).
        rest_port, grpc_port: ports to listen on; 0 picks a free port.
        model_config_file: a ModelServerConfig text file, as TF Serving's --model_config_file.
        batching_parameters_file: a BatchingParameters text file (implies batching).
        enable_batching: batch concurrent requests (TF Serving's defaults unless a file is given).
        enable_per_model_batching_parameters: batch each version with the batching_params.pbtxt of
            its folder, as TF Serving's flag of that name (implies batching; the batch threads
            stay those of `batching_parameters_file`).
        poll_seconds: how often to look for new, removed or changed versions and config.
        limits: the request limits (ServingLimits' defaults when None).
    """

    def __init__(
        self,
        saved_models: str | Path,
        host: str = "127.0.0.1",
        rest_port: int = 8501,
        grpc_port: int = 8500,
        model_config_file: str | Path | None = None,
        batching_parameters_file: str | Path | None = None,
        enable_batching: bool = False,
        enable_per_model_batching_parameters: bool = False,
        poll_seconds: float = 2.0,
        limits: ServingLimits | None = None,
    ):
        for name, port in (("rest_port", rest_port), ("grpc_port", grpc_port)):
            if not 0 <= port <= 65535:
                raise UserError(f"Expected {name} between 0 and 65535, got {port}.")
        if rest_port == grpc_port != 0:
            raise UserError(f"Expected different REST and gRPC ports, got {rest_port} for both.")
        if poll_seconds <= 0:
            raise UserError(f"Expected poll_seconds > 0, got {poll_seconds}.")
        self.saved_models = Path(saved_models)
        self.host = host
        self.rest_port = rest_port
        self.grpc_port = grpc_port
        self.model_config_file = model_config_file
        self.batching_parameters_file = batching_parameters_file
        self.enable_per_model_batching_parameters = enable_per_model_batching_parameters
        self.enable_batching = (
            enable_batching
            or batching_parameters_file is not None
            or enable_per_model_batching_parameters
        )
        self.poll_seconds = poll_seconds
        self.limits = limits or ServingLimits()
        self.metrics = Metrics()
        self.admission: Admission | None = None
        self.manager: ModelManager | None = None
        self._rest: RestServer | None = None
        self._grpc = None

    def start(self) -> tuple[int, int]:
        """Binds, loads the models, serves; returns (rest_port, grpc_port). Bad settings raise
        UserError."""
        batching = None
        if self.enable_batching:
            batching = (
                read_batching_parameters(self.batching_parameters_file)
                if self.batching_parameters_file
                else BatchingParameters()
            )
        if self.model_config_file is not None:
            list_models = ConfigFileWatcher(self.model_config_file, on_error=logger.error)
        else:
            models_in_folder(
                self.saved_models
            )  # fails now, with a clear message, if it is not a folder
            list_models = functools.partial(models_in_folder, self.saved_models)
        self.manager = ModelManager(
            list_models,
            batching,
            self.enable_per_model_batching_parameters,
            on_batch=self.metrics.observe_batch,
            limits=self.limits,
        )
        admission = self.admission = Admission(
            self.limits.max_concurrent_requests_per_model, self.limits.max_queued_requests_per_model
        )
        self.metrics.watch_predict_requests(admission.snapshot)
        try:
            self._rest = RestServer(
                self.manager, self.metrics, self.host, self.rest_port, self.limits, admission
            )
            self._grpc, self.grpc_port = create_grpc_server(
                self.manager, self.metrics, self.host, self.grpc_port, self.limits, admission
            )
            self.rest_port = self._rest.port
            self.manager.poll_once()
            self._rest.start()
            self._grpc.start()
            self.manager.start_polling(self.poll_seconds)
        except BaseException:
            self.stop(grace_seconds=0)
            raise
        return self.rest_port, self.grpc_port

    def stop(self, grace_seconds: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stops accepting requests, lets those in flight finish (up to the grace period),
        unloads."""
        if self._rest is not None:
            self._rest.stop(grace_seconds)
            self._rest = None
        if self._grpc is not None:
            self._grpc.stop(grace_seconds).wait()
            self._grpc = None
        if self.manager is not None:
            self.manager.close()

    def __enter__(self) -> "ModelServer":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def serve_forever(
    saved_models: str,
    host: str = "127.0.0.1",
    rest_port: int = 8501,
    grpc_port: int = 8500,
    model_config_file: str | None = None,
    batching_parameters_file: str | None = None,
    enable_batching: bool = False,
    enable_per_model_batching_parameters: bool = False,
    poll_seconds: float = 2.0,
    limits: ServingLimits | None = None,
) -> None:
    """Serves until SIGINT (Ctrl-C) or SIGTERM, then shuts down cleanly. Bad settings raise
    UserError."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = ModelServer(
        saved_models,
        host,
        rest_port,
        grpc_port,
        model_config_file,
        batching_parameters_file,
        enable_batching,
        enable_per_model_batching_parameters,
        poll_seconds,
        limits,
    )
    stop_requested = threading.Event()
    previous = {
        number: signal.signal(number, lambda *args: stop_requested.set())
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        rest, grpc = server.start()
        shown_host = f"[{host}]" if ":" in host else host
        print(
            f"Serving REST on http://{shown_host}:{rest}/v1/models/<name> "
            f"and gRPC on {shown_host}:{grpc} "
            f"(metrics at http://{shown_host}:{rest}{PROMETHEUS_PATH}). Ctrl-C stops.",
            flush=True,
        )
        while not stop_requested.wait(0.5):
            pass
        print("Shutting down...", flush=True)
        server.stop()
        running = sum(running for running, _ in server.admission.snapshot().values())
        if running:
            # Python waits for every worker thread at exit, and a TensorFlow call cannot be
            # interrupted.
            print(
                f"{running} requests still running in TensorFlow after the grace period; "
                "exiting without them.",
                flush=True,
            )
            os._exit(0)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
