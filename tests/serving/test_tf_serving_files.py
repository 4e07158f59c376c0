"""The files real TF Serving mounts (serving/) are the ones the embedded server reads too."""

import re
from pathlib import Path

from kerasnlp_lab.serving.batching import BatchingParameters, read_batching_parameters
from kerasnlp_lab.serving.metrics import PROMETHEUS_PATH

SERVING_FOLDER = Path(__file__).resolve().parents[2] / "serving"


def test_batching_parameters_file_parses():
    assert read_batching_parameters(
        SERVING_FOLDER / "batching_parameters.txt"
    ) == BatchingParameters(
        max_batch_size=32, batch_timeout_micros=1000, max_enqueued_batches=100, num_batch_threads=2
    )


def test_monitoring_config_serves_prometheus_where_the_embedded_server_does():
    text = (SERVING_FOLDER / "monitoring.config").read_text()
    assert re.search(r"prometheus_config\s*\{[^}]*enable:\s*true", text)
    assert re.search(r'path:\s*"([^"]+)"', text).group(1) == PROMETHEUS_PATH


def test_compose_mounts_every_file_it_names():
    compose = (SERVING_FOLDER / "docker-compose.yml").read_text()
    mounted = dict(re.findall(r"-\s+\.{1,2}/(\S+):(/\S+?)(?::ro)?\s*$", compose, flags=re.M))
    assert mounted == {
        "saved_models": "/models",
        "batching_parameters.txt": "/config/batching_parameters.txt",
        "monitoring.config": "/config/monitoring.config",
    }
    flags = dict(re.findall(r"-\s+--(\w+)=(\S+)", compose))
    assert flags["model_config_file"] == "/models/models.config"
    assert flags["batching_parameters_file"] in mounted.values()
    assert flags["enable_per_model_batching_parameters"] == "true"  # the exports' own files
    assert flags["monitoring_config_file"] in mounted.values()
    for local in ("batching_parameters.txt", "monitoring.config"):
        assert (SERVING_FOLDER / local).is_file()
    assert re.search(r"image:\s*tensorflow/serving:2\.21\.\d+", compose)
