"""tf.distribute: TF_CONFIG checks, and real two-worker clusters on loopback.

Each worker is a `kerasnlp-lab train ... --strategy multi_worker` process with its own
TF_CONFIG (ports picked free at run time). A cluster's chief must end with the weights of
one process training on the same global batches, also after a worker is killed and the
cluster restarted. The workers are processes of their own; the one-process reference runs
and the evaluate and export of a cluster's run call `cli.main` in the test's process.
"""

import csv
import json
import os
import signal
import subprocess
import time

import keras
import numpy as np
import pytest

from kerasnlp_lab import cli
from kerasnlp_lab.data import catalog
from kerasnlp_lab.errors import UserError
from kerasnlp_lab.models import transformer
from kerasnlp_lab.training import checkpoints, distribute
from tests.cli_runner import CLI, call_cli
from tests.data.test_translation_pipeline import write_toy_tsv
from tests.training.test_char_generator_training import write_corpus

CLUSTER_TIMEOUT = 300  # seconds a cluster may take before the test fails (not a pass condition)
AUTOENCODER_EPOCHS = 3  # of 32 steps (tiny: 4,096 images, global batch 128)


class Cluster:
    """Two `kerasnlp-lab train` workers on loopback; stdout/stderr go to files."""

    def __init__(self, folder, args, scratch, attempt=0):
        self.folder, self.args, self.scratch, self.attempt = folder, args, scratch, attempt
        self.tf_configs = distribute.loopback_tf_configs(2)
        self.processes = [self.start(index) for index in range(2)]

    def start(self, index):
        attempt = self.attempt
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "TF_CONFIG": self.tf_configs[index],
            "TMPDIR": str(self.scratch),  # where non-chief workers write
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        with (
            open(self.folder / f"out{index}-{attempt}.txt", "w") as out,
            open(self.folder / f"err{index}-{attempt}.txt", "w") as err,
        ):
            return subprocess.Popen([*CLI, *map(str, self.args)], stdout=out, stderr=err, env=env)

    def wait(self):
        """Waits for both workers; returns [(returncode, stdout, stderr)] by worker."""
        attempt = self.attempt
        deadline = time.monotonic() + CLUSTER_TIMEOUT
        try:
            for process in self.processes:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            for process in self.processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        return [
            (
                process.returncode,
                (self.folder / f"out{index}-{attempt}.txt").read_text(),
                (self.folder / f"err{index}-{attempt}.txt").read_text(),
            )
            for index, process in enumerate(self.processes)
        ]


def run_cluster(folder, scratch, *args):
    """Trains with two workers to the end; returns their (stdout, stderr) after checks."""
    results = Cluster(folder, ["train", *args, "--strategy", "multi_worker"], scratch).wait()
    for index, (code, out, err) in enumerate(results):
        assert code == 0, f"worker {index} exited {code}\n{out[-2000:]}\n{err[-4000:]}"
    return results


def assert_same_weights(actual, expected, skip=()):
    assert [w.path for w in actual.weights] == [w.path for w in expected.weights]
    for got, want in zip(actual.weights, expected.weights, strict=True):
        if not any(name in got.path for name in skip):
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5, err_msg=got.path)


def test_tf_config_is_read_and_checked():
    configs = [json.loads(config) for config in distribute.loopback_tf_configs(2)]
    workers = configs[0]["cluster"]["worker"]
    assert [config["cluster"] for config in configs] == [{"worker": workers}] * 2
    assert len(set(workers)) == 2 and all(address.startswith("127.0.0.1:") for address in workers)
    assert [config["task"] for config in configs] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
    ]
    config = json.dumps(configs[1])
    assert distribute.read_tf_config({"TF_CONFIG": config})["task"] == {
        "type": "worker",
        "index": 1,
    }
    assert distribute.read_tf_config({}) is None
    assert distribute.resolve("auto", {"TF_CONFIG": config}) == "multi_worker"
    assert (
        distribute.resolve("auto", {"TF_CONFIG": distribute.loopback_tf_configs(1)[0]}) == "default"
    )
    assert distribute.resolve("auto", {}) == "default"
    assert distribute.resolve("mirrored", {"TF_CONFIG": "not json"}) == "mirrored"
    bad = {
        "not json": "TF_CONFIG is not valid JSON",
        "[]": "TF_CONFIG must be a JSON object, got list",
        '{"task": {"type": "worker", "index": 0}}': 'TF_CONFIG has no "cluster" object',
        '{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}': "names a 'ps' task",
        '{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}': (
            "has the address 'a' for worker: expected HOST:PORT"
        ),
        '{"cluster": {"worker": ["a:1"]}}': 'TF_CONFIG has no "task" object',
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}': (
            "says this task is a 'chief', but its cluster has no 'chief'"
        ),
        '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}': (
            "says this task is worker 1, but the cluster has 1 worker address(es)"
        ),
    }
    for text, message in bad.items():
        with pytest.raises(UserError, match="Expected e.g. TF_CONFIG=") as error:
            distribute.resolve("multi_worker", {"TF_CONFIG": text})
        assert message in str(error.value)
    with pytest.raises(UserError, match="which is not set"):
        distribute.resolve("multi_worker", {})
    with pytest.raises(UserError, match="Unknown strategy 'ring'"):
        distribute.resolve("ring", {})


def test_cli_strategy_flags_and_errors(monkeypatch, capsys):
    parser = cli.build_parser()
    assert parser.parse_args(["train", "autoencoder"]).strategy == "auto"
    for name in distribute.STRATEGIES:
        assert parser.parse_args(["train", "autoencoder", "--strategy", name]).strategy == name
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "autoencoder", "--strategy", "ring"])
    capsys.readouterr()
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cli.main(["train", "autoencoder", "--strategy", "multi_worker"]) == 2
    assert "reads the cluster from the TF_CONFIG environment variable" in capsys.readouterr().err
    monkeypatch.setenv("TF_CONFIG", "{oops")
    assert cli.main(["train", "autoencoder", "--strategy", "auto"]) == 2
    assert capsys.readouterr().err.startswith("kerasnlp-lab: error: TF_CONFIG is not valid JSON")


def test_global_batch_must_split_over_replicas():
    cluster = distribute.Cluster("default", None)
    cluster.strategy = type("TwoReplicas", (), {"num_replicas_in_sync": 2})()
    cluster.check_batch_size(128)
    with pytest.raises(UserError, match="global batch of 33 does not split evenly over 2"):
        cluster.check_batch_size(33)


@pytest.fixture(scope="module")
def autoencoder_reference(tmp_path_factory):
    """A one-process run of the tiny autoencoder (data prepared once for the workers)."""
    catalog.prepare("local_fashion_mnist")
    workdir = tmp_path_factory.mktemp("autoencoder") / "single"
    call_cli(
        "train", "autoencoder", "--preset", "tiny", "--epochs", AUTOENCODER_EPOCHS,
        "--workdir", workdir, "--strategy", "default",
    )  # fmt: skip
    return keras.saving.load_model(workdir / "model.keras")


def test_killed_worker_restarts_and_the_cluster_ends_as_one_process(
    autoencoder_reference, tmp_path
):
    workdir, scratch = tmp_path / "run", tmp_path / "scratch"
    scratch.mkdir()
    args = [
        "train", "autoencoder", "--preset", "tiny", "--epochs", AUTOENCODER_EPOCHS,
        "--workdir", workdir, "--strategy", "multi_worker",
    ]  # fmt: skip
    cluster = Cluster(tmp_path / "logs", args, scratch)
    deadline = time.monotonic() + CLUSTER_TIMEOUT
    while not checkpoints.completed_checkpoints(workdir / "checkpoints"):
        assert cluster.processes[0].poll() is None, (tmp_path / "logs/err0-0.txt").read_text()
        assert time.monotonic() < deadline, "no epoch checkpoint in time"
        time.sleep(0.02)
    cluster.processes[1].send_signal(signal.SIGKILL)  # mid-run: epochs 2 and 3 remain
    (chief_code, _, chief_err), (worker_code, _, _) = cluster.wait()
    assert worker_code == -signal.SIGKILL
    assert chief_code == 2, chief_err[-3000:]
    assert "Training stopped: a worker of the cluster is gone" in chief_err
    assert checkpoints.is_unfinished(workdir) and not (workdir / "model.keras").exists()
    done = checkpoints.completed_checkpoints(workdir / "checkpoints")[-1][0]
    assert 1 <= done < AUTOENCODER_EPOCHS

    # Restarted with the same command, as Kubernetes restarts failed pods.
    results = Cluster(tmp_path / "logs", args, scratch, attempt=1).wait()
    for index, (code, out, err) in enumerate(results):
        assert code == 0, f"worker {index} exited {code}\n{out[-2000:]}\n{err[-3000:]}"
        assert f"Continuing the unfinished multi-worker run in {workdir}" in out
        assert f"Resuming from epoch {done} of {AUTOENCODER_EPOCHS}" in out
    assert "worker 0 (chief), 2 replicas in sync" in results[0][1]
    assert "worker 1 (writing to a temporary folder)" in results[1][1]
    # The restarted worker removed its temporary folder; the killed one could not.
    assert len(list(scratch.glob("kerasnlp-lab-worker1-*"))) == 1
    assert not checkpoints.is_unfinished(workdir)
    with open(workdir / "history.csv") as file:
        assert [int(row["epoch"]) for row in csv.DictReader(file)] == list(
            range(AUTOENCODER_EPOCHS)
        )
    model = keras.saving.load_model(workdir / "model.keras")
    steps = AUTOENCODER_EPOCHS * 32
    assert int(model.optimizer.iterations) == int(autoencoder_reference.optimizer.iterations)
    assert int(model.optimizer.iterations) == steps
    assert_same_weights(model, autoencoder_reference)


def test_two_workers_train_the_transformer_as_one_process(tmp_path):
    dataset = write_toy_tsv(tmp_path / "toy.tsv", count=200)
    common = ("transformer_translator", "--preset", "tiny", "--epochs", 1, "--dataset", dataset)
    single, two = tmp_path / "single", tmp_path / "two"
    call_cli("train", *common, "--workdir", single, "--strategy", "default")
    (_, out, _), _ = run_cluster(tmp_path / "logs", tmp_path, *common, "--workdir", two)
    assert "1 epochs of 7 bucketed batches of 32" in out
    expected = keras.saving.load_model(single / "model.keras")
    actual = keras.saving.load_model(two / "model.keras")
    # Keys' biases shift every score of a query alike, so softmax cancels them: their
    # gradient is zero up to rounding, which Adam scales up to steps of the learning rate.
    # They are compared through the outputs instead.
    assert_same_weights(actual, expected, skip=("key_bias",))
    ids = np.random.default_rng(0).integers(1, 20, size=(4, 9)).astype("int32")
    inputs = {"source": ids, "target_in": ids}
    np.testing.assert_allclose(actual(inputs), expected(inputs), atol=1e-5)
    assert actual.name == transformer.MODEL_NAME


@pytest.mark.parametrize("model", ["char_generator", "attention_nmt"])
def test_two_workers_train_a_model_that_evaluate_and_export_accept(model, tmp_path):
    if model == "char_generator":
        dataset, limit = write_corpus(tmp_path / "words.txt"), 2000  # characters
    else:
        dataset, limit = write_toy_tsv(tmp_path / "toy.tsv", count=200), 8  # pairs
    workdir = tmp_path / "run"
    args = (model, "--preset", "tiny", "--epochs", 1, "--dataset", dataset, "--workdir", workdir)
    (_, chief_out, _), (_, worker_out, _) = run_cluster(tmp_path / "logs", tmp_path, *args)
    assert "2 replicas in sync" in chief_out and "(chief)" in chief_out
    assert "writing to a temporary folder" in worker_out
    assert [epochs for epochs, _ in checkpoints.completed_checkpoints(workdir / "checkpoints")] == [
        1
    ]
    evaluated = call_cli("evaluate", model, "--workdir", workdir, "--limit", limit)
    metrics = json.loads(evaluated.stdout)
    assert metrics["dataset"] == dataset and metrics["preset"] == "tiny"
    exported = call_cli("export", model, "--workdir", workdir, "--saved-models", tmp_path / "sm")
    assert exported.stdout.strip() == f"Exported {model} to {tmp_path / 'sm'}/{model}/1"


def test_a_worker_cannot_prepare_a_preset_run(monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", distribute.loopback_tf_configs(2)[0])
    monkeypatch.setattr(distribute, "start", lambda name: distribute.Cluster("multi_worker", None))
    code = cli.main(
        ["train", "autoencoder", "--resume", "presets/autoencoder", "--epochs", "61",
         "--strategy", "multi_worker"]
    )  # fmt: skip
    assert code == 2
    assert "several workers cannot do at once" in capsys.readouterr().err
