"""Starting and stopping the server: clean shutdown on SIGTERM / SIGINT, clear errors for bad
settings."""

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving.limits import ServingLimits
from kerasnlp_lab.serving.server import ModelServer
from tests.serving.conftest import WAIT_SECONDS, http_request
from tests.serving.saved_model_factory import install_version

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVE = (
    "import sys; from kerasnlp_lab.serving.server import serve_forever; "
    "serve_forever(sys.argv[1], rest_port=0, grpc_port=0, enable_batching=True)"
)


def lines_of(stream) -> queue.Queue:
    """The lines a process prints, readable with a timeout."""
    lines = queue.Queue()

    def pump():
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_serve_forever_shuts_down_cleanly_on_a_signal(tmp_path, templates, signal_number):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(tmp_path)],
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output = lines_of(process.stdout)
        printed = []
        while True:
            line = output.get(timeout=WAIT_SECONDS)
            assert line is not None, "the server exited early:\n" + "".join(printed)
            printed.append(line)
            match = re.search(
                r"Serving REST on http://127\.0\.0\.1:(\d+)/v1/models/<name> and gRPC", line
            )
            if match:
                break
        port = int(match.group(1))
        assert http_request(port, "GET", "/v1/models/affine")[0] == 200
        process.send_signal(signal_number)
        assert process.wait(timeout=WAIT_SECONDS) == 0
        while (line := output.get(timeout=WAIT_SECONDS)) is not None:
            printed.append(line)
        assert any("Shutting down" in line for line in printed)
        assert not any("Traceback" in line for line in printed), "".join(printed)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_port_in_use_is_a_user_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            UserError,
            match=rf"Cannot serve REST on 127\.0\.0\.1:{port}: the port is already "
            r"in use\. Stop the other server or choose another port with --rest-port",
        ):
            ModelServer(tmp_path, rest_port=port, grpc_port=0).start()
        with pytest.raises(
            UserError, match=rf"Cannot serve gRPC on 127\.0\.0\.1:{port}.*--grpc-port"
        ):
            ModelServer(tmp_path, rest_port=0, grpc_port=port).start()


def test_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="is not a folder"):
        ModelServer(tmp_path / "missing", rest_port=0, grpc_port=0).start()
    bad_config = tmp_path / "models.config"
    bad_config.write_text("model_config_list { config { name: ")
    with pytest.raises(UserError, match="is not a valid ModelServerConfig text proto"):
        ModelServer(tmp_path, rest_port=0, grpc_port=0, model_config_file=bad_config).start()
    bad_batching = tmp_path / "batching.txt"
    bad_batching.write_text("max_batch_size: 4")
    with pytest.raises(UserError, match="is not a valid BatchingParameters text proto"):
        ModelServer(
            tmp_path, rest_port=0, grpc_port=0, batching_parameters_file=bad_batching
        ).start()
    with pytest.raises(UserError, match="Expected rest_port between 0 and 65535, got 70000"):
        ModelServer(tmp_path, rest_port=70000)
    with pytest.raises(
        UserError, match="Expected different REST and gRPC ports, got 8600 for both"
    ):
        ModelServer(tmp_path, rest_port=8600, grpc_port=8600)
    with pytest.raises(UserError, match=r"^Expected --max-batch-rows >= 1, got 0\.$"):
        ServingLimits(max_batch_rows=0)
    with pytest.raises(UserError, match=r"^Expected --unload-timeout-seconds > 0, got 0\.$"):
        ServingLimits(unload_timeout_seconds=0)
    with pytest.raises(
        UserError, match=r"^Expected --tensorflow-inter-op-parallelism >= -1, got -2\.$"
    ):
        ServingLimits(tensorflow_inter_op_parallelism=-2)
    with pytest.raises(
        UserError, match=r"^Expected --tensorflow-intra-op-parallelism >= 0, got -1\.$"
    ):
        ServingLimits(tensorflow_intra_op_parallelism=-1)
    with pytest.raises(
        UserError,
        match=r"^Expected --max-buffered-request-bytes >= --max-request-bytes \(1024\), "
        r"got 512\.$",
    ):
        ServingLimits(max_request_bytes=1024, max_buffered_request_bytes=512)
    with pytest.raises(UserError, match="Cannot serve REST on 203.0.113.7:0"):
        ModelServer(tmp_path, host="203.0.113.7", rest_port=0, grpc_port=0).start()


def test_an_empty_folder_serves_and_reports_unknown_models(tmp_path):
    with ModelServer(tmp_path, rest_port=0, grpc_port=0) as server:
        assert http_request(server.rest_port, "GET", "/v1/models/anything") == (
            404,
            {"error": "Could not find any versions of model anything"},
        )
