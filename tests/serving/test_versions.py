"""Version lifecycle while serving: new, removed, corrupt, incomplete and fixed versions, load
retries once a poll, warmup, config reloads, and unloading beside a hung request."""

import collections
import contextlib
import functools
import os
import shutil
import threading

import numpy as np
import pytest

from kerasnlp_lab.serving import model_manager
from kerasnlp_lab.serving.client import ServingClient
from kerasnlp_lab.serving.errors import ServingError
from kerasnlp_lab.serving.limits import ServingLimits
from kerasnlp_lab.serving.metrics import BATCH_SIZE
from kerasnlp_lab.serving.model_config import models_in_folder
from kerasnlp_lab.serving.server import ModelServer
from tests.serving.conftest import versions_in, wait_until
from tests.serving.saved_model_factory import (
    affine_expected,
    install_version,
    write_warmup_requests,
)

POLL_SECONDS = 0.05


@contextlib.contextmanager
def serving(root, **kwargs):
    server = ModelServer(root, rest_port=0, grpc_port=0, poll_seconds=POLL_SECONDS, **kwargs)
    server.start()
    try:
        yield server, ServingClient(f"http://127.0.0.1:{server.rest_port}")
    finally:
        server.stop()


def status_or_none(client, model):
    try:
        return versions_in(client.status(model))
    except ServingError:
        return None


def version_answering(client, model, **kwargs) -> int:
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    y = client.predict(model, {"x": x}, **kwargs)["y"]
    for version in (1, 2, 3):
        if np.array_equal(y, affine_expected(x, version)):
            return version
    raise AssertionError(f"unexpected output {y}")


def test_new_version_while_clients_are_busy(tmp_path, templates):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    stop = threading.Event()
    seen: list[list[int]] = [[] for _ in range(8)]
    failures: list[str] = []

    with serving(tmp_path, enable_batching=True) as (server, client):
        urls = [f"http://127.0.0.1:{server.rest_port}", f"grpc://127.0.0.1:{server.grpc_port}"]

        def busy_client(index):
            rng = np.random.default_rng(index)
            with ServingClient(urls[index % 2]) as own:
                while not stop.is_set():
                    x = rng.normal(size=(1 + index % 3, 3)).astype(np.float32)
                    try:
                        y = own.predict("affine", {"x": x})["y"]
                    except Exception as error:  # every failure is a test failure, reported below
                        failures.append(f"client {index}: {error!r}")
                        return
                    matches = [
                        version
                        for version in (1, 2)
                        if np.array_equal(y, affine_expected(x, version))
                    ]
                    if len(matches) != 1:
                        failures.append(f"client {index}: {y} is not its own answer for {x}")
                        return
                    seen[index].append(matches[0])

        threads = [threading.Thread(target=busy_client, args=(index,)) for index in range(8)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: all(seen) or failures, "every client to get answers from version 1")
            install_version(templates["affine2"], tmp_path / "affine", 2)
            wait_until(
                lambda: status_or_none(client, "affine") == {"2": "AVAILABLE", "1": "END"},
                "version 2 to replace version 1",
            )
            counts = [len(answers) for answers in seen]
            wait_until(
                lambda: (
                    all(
                        len(answers) > count + 2
                        for answers, count in zip(seen, counts, strict=True)
                    )
                    or failures
                ),
                "every client to get answers from version 2",
            )
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
    assert failures == []
    for answers in seen:
        assert answers[0] == 1 and answers[-1] == 2
        switch = answers.index(2)
        assert set(answers[switch:]) == {2}, "a client got version 1 after version 2 answered"


def test_removed_version_is_unloaded_and_the_older_one_served_again(tmp_path, templates):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    install_version(templates["affine2"], tmp_path / "affine", 2)
    with serving(tmp_path) as (server, client):
        assert versions_in(client.status("affine")) == {"2": "AVAILABLE"}
        assert version_answering(client, "affine") == 2
        shutil.rmtree(tmp_path / "affine" / "2")
        wait_until(
            lambda: status_or_none(client, "affine") == {"2": "END", "1": "AVAILABLE"},
            "version 1 to replace the removed version 2",
        )
        assert version_answering(client, "affine") == 1
        with pytest.raises(
            ServingError, match=r"Servable not found for request: Specific\(affine, 2\)"
        ):
            client.predict("affine", {"x": [[1.0, 2.0, 3.0]]}, version=2)


def test_per_model_batching_parameters(tmp_path, templates):
    models = tmp_path / "models"
    batched = install_version(templates["affine1"], models / "batched", 1)
    (batched / "batching_params.pbtxt").write_text("max_batch_size { value: 4 }\n")
    install_version(templates["affine1"], models / "unbatched", 1)
    broken = install_version(templates["affine1"], models / "broken", 1)
    (broken / "batching_params.pbtxt").write_text("max_batch_size: 4")
    common = tmp_path / "batching_parameters.txt"
    common.write_text("max_batch_size { value: 32 }\nnum_batch_threads { value: 1 }\n")
    x = np.ones((5, 3), np.float32)
    with serving(
        models, batching_parameters_file=common, enable_per_model_batching_parameters=True
    ) as (server, client):
        with pytest.raises(ServingError) as refused:
            client.predict("batched", {"x": x})
        assert refused.value.code == "INVALID_ARGUMENT"
        assert "Task size 5 is larger than maximum input batch size 4" in refused.value.message
        np.testing.assert_array_equal(
            client.predict("batched", {"x": x[:4]})["y"], affine_expected(x[:4], 1)
        )
        np.testing.assert_array_equal(
            client.predict("unbatched", {"x": x})["y"], affine_expected(x, 1)
        )
        batch_lines = [
            line for line in server.metrics.render().splitlines() if line.startswith(BATCH_SIZE)
        ]
        assert (
            f'{BATCH_SIZE}_sum{{model_name="batched",signature_name="serving_default"}} 4.0'
            in batch_lines
        )
        assert not [line for line in batch_lines if 'model_name="unbatched"' in line]
        status = client.status("broken")["model_version_status"][0]
        assert status["state"] == "END"
        assert status["status"]["error_code"] == "INVALID_ARGUMENT"
        assert "batching_params.pbtxt" in status["status"]["error_message"]


def test_corrupt_version_is_reported_and_the_others_keep_serving(tmp_path, templates):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    with serving(tmp_path) as (server, client):
        corrupt = tmp_path / "affine" / ".staging-corrupt"
        corrupt.mkdir()
        (corrupt / "saved_model.pb").write_bytes(b"this is not a SavedModel protocol buffer")
        corrupt.rename(tmp_path / "affine" / "3")
        wait_until(
            lambda: (status_or_none(client, "affine") or {}).get("3") == "END",
            "the corrupt version to fail",
        )
        status = {
            entry["version"]: entry for entry in client.status("affine")["model_version_status"]
        }
        assert status["1"]["state"] == "AVAILABLE"
        assert status["3"]["state"] == "END"
        assert status["3"]["status"]["error_code"] == "DATA_LOSS"
        assert "saved_model.pb" in status["3"]["status"]["error_message"]
        assert version_answering(client, "affine") == 1
        assert client.status("affine", version=3)["model_version_status"][0]["state"] == "END"

        (tmp_path / "affine" / "4").mkdir()  # an empty version folder
        wait_until(
            lambda: (status_or_none(client, "affine") or {}).get("4") == "END",
            "the empty version to fail",
        )
        empty = client.status("affine", version=4)["model_version_status"][0]
        assert (empty["state"], empty["status"]["error_code"]) == ("END", "NOT_FOUND")
        assert version_answering(client, "affine") == 1

        # Fixing a version folder in place gets it loaded on a later poll.
        shutil.rmtree(tmp_path / "affine" / "3")
        shutil.rmtree(tmp_path / "affine" / "4")
        install_version(templates["affine3"], tmp_path / "affine", 3)
        wait_until(
            lambda: (status_or_none(client, "affine") or {}).get("3") == "AVAILABLE",
            "the fixed version 3 to load",
        )
        assert version_answering(client, "affine") == 3


def test_warmup_requests_run_before_the_version_is_available(tmp_path, templates):
    folder = install_version(templates["counting"], tmp_path / "counting", 1)
    write_warmup_requests(folder, "counting", [{"x": np.zeros(2, np.float32)}] * 3)
    with serving(tmp_path) as (server, client):
        assert versions_in(client.status("counting")) == {"1": "AVAILABLE"}
        assert client.predict("counting", {"x": np.zeros(1, np.float32)})["calls"].tolist() == [4]

        bad = install_version(templates["counting"], tmp_path / ".unused", 2)
        write_warmup_requests(bad, "counting", [{"nope": np.zeros(2, np.float32)}])
        bad.rename(tmp_path / "counting" / "2")
        wait_until(
            lambda: (status_or_none(client, "counting") or {}).get("2") == "END",
            "version 2 to fail",
        )
        failed = client.status("counting", version=2)["model_version_status"][0]
        assert failed["state"] == "END"
        assert failed["status"] == {
            "error_code": "INVALID_ARGUMENT",
            "error_message": "input tensor alias not found in signature: nope. "
            "Inputs expected to be in the set {x}.",
        }
        assert client.predict("counting", {"x": np.zeros(1, np.float32)})["calls"].tolist() == [5]


def test_config_file_changes_are_picked_up(tmp_path, templates):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    install_version(templates["affine2"], tmp_path / "affine", 2)
    install_version(templates["text"], tmp_path / "text", 1)
    config = tmp_path / "models.config"

    def write_config(stable: int, with_text: bool) -> None:
        text_model = (
            'config { name: "text" base_path: "/models/text" model_platform: "tensorflow" }'
        )
        config.write_text(
            'model_config_list { config { name: "affine" base_path: "/models/affine" '
            'model_platform: "tensorflow" model_version_policy { all {} } '
            f'version_labels {{ key: "stable" value: {stable} }} }} '
            f"{text_model if with_text else ''} }}"
        )
        os.utime(config, ns=(stable * 10**9, stable * 10**9))

    write_config(stable=1, with_text=False)
    with serving(tmp_path, model_config_file=config) as (server, client):
        assert version_answering(client, "affine", label="stable") == 1
        with pytest.raises(ServingError, match="Could not find any versions of model text"):
            client.status("text")
        write_config(stable=2, with_text=True)
        wait_until(
            lambda: status_or_none(client, "text") == {"1": "AVAILABLE"}, "the new model to load"
        )
        assert version_answering(client, "affine", label="stable") == 2


def test_new_model_folder_is_picked_up(tmp_path, templates):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    with serving(tmp_path) as (server, client):
        assert status_or_none(client, "affine2") is None
        install_version(templates["affine2"], tmp_path / ".staging" / "affine2", 7)
        (tmp_path / ".staging" / "affine2").rename(tmp_path / "affine2")
        wait_until(
            lambda: status_or_none(client, "affine2") == {"7": "AVAILABLE"}, "the new model folder"
        )
        assert version_answering(client, "affine2") == 2


def test_a_failed_load_is_retried_once_the_variables_arrive(tmp_path, templates):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    with serving(tmp_path) as (server, client):
        # Version 2 is copied in two steps, its variables' data last, as a slow copy would leave it.
        staging = tmp_path / "affine" / ".staging-2"
        shutil.copytree(templates["affine2"], staging)
        (data,) = (staging / "variables").glob("variables.data-*")
        held_back = tmp_path / data.name
        data.rename(held_back)
        staging.rename(tmp_path / "affine" / "2")
        wait_until(
            lambda: (status_or_none(client, "affine") or {}).get("2") == "END",
            "the incomplete version to fail",
        )
        assert version_answering(client, "affine") == 1
        held_back.rename(tmp_path / "affine" / "2" / "variables" / data.name)
        wait_until(
            lambda: status_or_none(client, "affine") == {"2": "AVAILABLE", "1": "END"},
            "version 2 to load once complete",
        )
        assert version_answering(client, "affine") == 2


def test_a_hung_request_never_holds_up_loading(tmp_path, templates):
    install_version(templates["gate"], tmp_path / "gate", 1)
    gate = tmp_path / "open"
    limits = ServingLimits(unload_timeout_seconds=0.2)
    with serving(tmp_path, limits=limits) as (server, client):
        answers = []
        hung = threading.Thread(
            target=lambda: answers.append(
                client.predict(
                    "gate", {"entered": [str(tmp_path / "entered")], "gate": [str(gate)]}
                )
            )
        )
        hung.start()
        wait_until((tmp_path / "entered").exists, "the request to run on version 1")
        install_version(templates["gate"], tmp_path / "gate", 2)
        # Version 2 loads and serves while version 1's request hangs; version 1 is closed after the
        # unload timeout even so.
        wait_until(
            lambda: status_or_none(client, "gate") == {"2": "AVAILABLE", "1": "END"},
            "version 2 to load and version 1 to be unloaded",
        )
        gate.write_text("")
        assert client.predict(
            "gate", {"entered": [str(tmp_path / "second")], "gate": [str(gate)]}, version=2
        )["opened"].tolist() == [1]
        hung.join(60)
        assert [answer["opened"].tolist() for answer in answers] == [[1]]


def install_corrupt_version(base_path, version):
    """A version folder whose saved_model.pb is not a SavedModel, renamed into place."""
    staging = base_path / f".staging-{version}"
    staging.mkdir()
    (staging / "saved_model.pb").write_bytes(b"this is not a SavedModel protocol buffer")
    staging.rename(base_path / str(version))


@contextlib.contextmanager
def polled_by_hand(root, monkeypatch, **limits):
    """(a ModelManager over `root` that polls only when told, {version: load attempts})."""
    attempts = collections.Counter()
    servable = model_manager.Servable

    def counting(name, version, *args):
        attempts[version] += 1
        return servable(name, version, *args)

    monkeypatch.setattr(model_manager, "Servable", counting)
    manager = model_manager.ModelManager(
        functools.partial(models_in_folder, root), limits=ServingLimits(**limits)
    )
    try:
        yield manager, attempts
    finally:
        manager.close()


def states(manager, model):
    """{version: state name} of a model, as GetModelStatus reports it."""
    entries = manager.status(model).model_version_status
    return {entry.version: type(entry).State.Name(entry.state) for entry in entries}


def served_version(manager, model):
    with manager.acquire(model) as servable:
        return servable.version


def test_a_failed_load_is_tried_once_a_poll_up_to_the_retry_limit(tmp_path, templates, monkeypatch):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    install_corrupt_version(tmp_path / "affine", 2)
    with polled_by_hand(tmp_path, monkeypatch, max_num_load_retries=2) as (manager, attempts):
        per_poll = []
        for _ in range(6):
            before = attempts[2]
            manager.poll_once()
            per_poll.append(attempts[2] - before)
            assert served_version(manager, "affine") == 1
        assert per_poll == [1, 1, 1, 0, 0, 0]  # the first try, then 2 retries, one a poll
        assert attempts[1] == 1
        assert states(manager, "affine") == {2: "END", 1: "AVAILABLE"}
        [failed] = manager.status("affine", 2).model_version_status
        assert "Can't parse saved_model.pb" in failed.status.error_message

        # A version whose files change is tried again, once, and takes over.
        shutil.rmtree(tmp_path / "affine" / "2")
        install_version(templates["affine2"], tmp_path / "affine", 2)
        manager.poll_once()
        assert attempts[2] == 4
        assert served_version(manager, "affine") == 2
        wait_until(lambda: states(manager, "affine") == {2: "AVAILABLE", 1: "END"}, "v1 unloaded")


def test_the_served_version_outlives_its_folder_until_a_new_one_loads(
    tmp_path, templates, monkeypatch
):
    install_version(templates["affine1"], tmp_path / "affine", 1)
    with polled_by_hand(tmp_path, monkeypatch, max_num_load_retries=1) as (manager, attempts):
        manager.poll_once()
        install_corrupt_version(tmp_path / "affine", 2)
        shutil.rmtree(tmp_path / "affine" / "1")
        for _ in range(4):  # the broken version 2 fails, and then has no retries left
            manager.poll_once()
            assert served_version(manager, "affine") == 1
            assert states(manager, "affine") == {2: "END", 1: "AVAILABLE"}
        assert attempts == {1: 1, 2: 2}
        install_version(templates["affine3"], tmp_path / "affine", 3)
        manager.poll_once()
        assert served_version(manager, "affine") == 3
        wait_until(
            lambda: states(manager, "affine") == {3: "AVAILABLE", 2: "END", 1: "END"},
            "version 1 to be unloaded once version 3 is available",
        )
