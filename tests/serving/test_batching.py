"""The batching layer: parameters file, batch forming, splitting results back, limits."""

import threading
import time

import numpy as np
import pytest

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.serving.batching import (
    BatchingParameters,
    SignatureBatcher,
    read_batching_parameters,
    version_batching,
)
from kerasnlp_lab.serving.errors import ServingError


class RecordingModel:
    """A signature computing y = 2 x and first = x[:, 0] row by row, recording every batch's row
    count. With a gate, each call waits for the gate (and sets `entered` first)."""

    def __init__(self, gate: threading.Event | None = None):
        self.batches: list[int] = []
        self.gate = gate
        self.entered = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, inputs):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=30)
        x = inputs["x"]
        with self.lock:
            self.batches.append(len(x))
        return {"y": x * 2.0, "first": x[:, 0].copy()}


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def run_concurrently(batcher, requests):
    results, errors = [None] * len(requests), []
    barrier = threading.Barrier(len(requests))

    def client(index):
        barrier.wait()
        try:
            results[index] = batcher.run(requests[index])
        except Exception as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_parameters_file_like_tf_serving(tmp_path):
    path = tmp_path / "batching_parameters.txt"
    path.write_text("""
        # TF Serving --batching_parameters_file
        max_batch_size { value: 8 }
        batch_timeout_micros { value: 2000 }
        max_enqueued_batches { value: 100 }
        num_batch_threads { value: 3 }
        thread_pool_name { value: "my_batch_threads" }
        allowed_batch_sizes: 2
        allowed_batch_sizes: 4
        allowed_batch_sizes: 8
        pad_variable_length_inputs: true
    """)
    assert read_batching_parameters(path) == BatchingParameters(
        max_batch_size=8,
        batch_timeout_micros=2000,
        max_enqueued_batches=100,
        num_batch_threads=3,
        thread_pool_name="my_batch_threads",
        allowed_batch_sizes=(2, 4, 8),
        pad_variable_length_inputs=True,
    )
    path.write_text("max_batch_size { value: 4 }")
    parameters = read_batching_parameters(path)
    assert parameters.max_batch_size == 4 and parameters.batch_timeout_micros == 0
    assert parameters.max_enqueued_batches == 10


def test_version_batching_like_tf_serving(tmp_path):
    common = BatchingParameters(max_batch_size=32, batch_timeout_micros=1000, num_batch_threads=3)
    own, bare = tmp_path / "own", tmp_path / "bare"
    own.mkdir()
    bare.mkdir()
    (own / "batching_params.pbtxt").write_text(
        "max_batch_size { value: 8 }\n"
        "batch_timeout_micros { value: 10000 }\n"
        "num_batch_threads { value: 7 }\n"
    )
    # per model: the folder's parameters, with the common file's batch threads
    assert version_batching(own, common, per_model=True) == BatchingParameters(
        max_batch_size=8, batch_timeout_micros=10000, num_batch_threads=3
    )
    assert version_batching(bare, common, per_model=True) is None  # no file: not batched
    assert version_batching(own, common, per_model=False) is common
    assert version_batching(own, None, per_model=True) is None  # batching off


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_batch_size: 8", "not a valid BatchingParameters text proto"),
        ("max_batch_sise { value: 8 }", "not a valid BatchingParameters text proto"),
        ("max_batch_size { value: 0 }", "max_batch_size >= 1"),
        ("max_batch_size { value: 8 } allowed_batch_sizes: 4", "last one equal to max_batch_size"),
        (
            "max_batch_size { value: 8 } "
            "allowed_batch_sizes: 4 allowed_batch_sizes: 2 allowed_batch_sizes: 8",
            "increasing order",
        ),
    ],
)
def test_bad_parameters_files(tmp_path, text, message):
    path = tmp_path / "batching_parameters.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_batching_parameters(path)
    with pytest.raises(UserError, match="Cannot read the batching parameters file"):
        read_batching_parameters(tmp_path / "missing.txt")


def test_concurrent_requests_are_batched_and_split_back_exactly():
    model = RecordingModel()
    batcher = SignatureBatcher(
        model,
        BatchingParameters(max_batch_size=8, batch_timeout_micros=50_000, num_batch_threads=1),
    )
    rng = np.random.default_rng(0)
    requests = [
        {"x": rng.normal(size=(1 + index % 3, 4)).astype(np.float32)} for index in range(24)
    ]
    try:
        results, errors = run_concurrently(batcher, requests)
    finally:
        batcher.close()
    assert errors == []
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result["y"], request["x"] * 2.0)
        np.testing.assert_array_equal(result["first"], request["x"][:, 0])
    assert sum(model.batches) == sum(len(request["x"]) for request in requests)
    assert max(model.batches) <= 8
    assert len(model.batches) < len(requests)  # requests did share batches


def test_allowed_batch_sizes_pad_and_outputs_are_trimmed():
    model = RecordingModel()
    batcher = SignatureBatcher(
        model,
        BatchingParameters(
            max_batch_size=8,
            batch_timeout_micros=10_000,
            num_batch_threads=1,
            allowed_batch_sizes=(4, 8),
        ),
    )
    requests = [{"x": np.full((1, 2), index, np.float32)} for index in range(5)]
    try:
        results, errors = run_concurrently(batcher, requests)
    finally:
        batcher.close()
    assert errors == []
    assert all(size in (4, 8) for size in model.batches)
    for index, result in enumerate(results):
        np.testing.assert_array_equal(result["y"], np.full((1, 2), 2.0 * index))


def test_mixed_shapes_do_not_share_batches():
    model = RecordingModel()
    batcher = SignatureBatcher(
        model,
        BatchingParameters(max_batch_size=4, batch_timeout_micros=20_000, num_batch_threads=1),
    )
    requests = [
        {"x": np.ones((2, 3), np.float32)},
        {"x": np.ones((1, 5), np.float32)},
        {"x": np.ones((1, 3), np.float32)},
    ]
    try:
        results, errors = run_concurrently(batcher, requests)
    finally:
        batcher.close()
    assert errors == []
    assert [result["y"].shape for result in results] == [(2, 3), (1, 5), (1, 3)]
    assert sum(model.batches) == 4 and len(model.batches) >= 2


def test_a_request_whose_deadline_passes_in_the_queue_leaves_it():
    gate = threading.Event()
    model = RecordingModel(gate)
    batcher = SignatureBatcher(model, BatchingParameters(max_batch_size=1, num_batch_threads=1))
    one_row = {"x": np.ones((1, 1), np.float32)}
    running = threading.Thread(target=batcher.run, args=(one_row,))
    try:
        running.start()
        wait_for(model.entered.is_set)  # the only batch thread is busy
        with pytest.raises(ServingError) as caught:
            batcher.run(one_row, deadline=time.monotonic())
        assert (caught.value.code, caught.value.message) == (
            "DEADLINE_EXCEEDED",
            "The request's deadline passed while it waited for a batch",
        )
        assert batcher.queued_rows == 0
    finally:
        gate.set()
        running.join(30)
        batcher.close()
    assert model.batches == [1]


def test_pad_variable_length_inputs():
    model = RecordingModel()
    batcher = SignatureBatcher(
        model,
        BatchingParameters(
            max_batch_size=4,
            batch_timeout_micros=50_000,
            num_batch_threads=1,
            pad_variable_length_inputs=True,
        ),
    )
    requests = [{"x": np.ones((1, 2), np.float32)}, {"x": np.ones((1, 3), np.float32)}]
    try:
        results, errors = run_concurrently(batcher, requests)
    finally:
        batcher.close()
    assert errors == [] and model.batches == [2]
    assert [result["y"].shape for result in results] == [(1, 3), (1, 3)]
    np.testing.assert_array_equal(results[0]["y"], [[2.0, 2.0, 0.0]])


def test_queue_full_is_unavailable():
    gate = threading.Event()
    model = RecordingModel(gate)
    batcher = SignatureBatcher(
        model, BatchingParameters(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1)
    )
    one_row = {"x": np.ones((1, 1), np.float32)}
    running = threading.Thread(target=batcher.run, args=(one_row,))
    queued = threading.Thread(target=batcher.run, args=(one_row,))
    try:
        running.start()
        wait_for(model.entered.is_set)  # the only batch thread is busy with the first request
        queued.start()
        wait_for(lambda: batcher.queued_rows == 1)  # the second fills the queue (1 batch of 1 row)
        with pytest.raises(ServingError) as caught:
            batcher.run(one_row)
        assert caught.value.code == "UNAVAILABLE"
        assert (
            caught.value.message
            == "The batch scheduling queue to which this task was submitted is full"
        )
    finally:
        gate.set()
        running.join(30)
        queued.join(30)
        batcher.close()
    assert model.batches == [1, 1]


def test_input_checks_and_errors():
    def failing(inputs):
        raise ServingError("INVALID_ARGUMENT", "the model refused")

    batcher = SignatureBatcher(failing, BatchingParameters(num_batch_threads=1))
    try:
        with pytest.raises(ServingError, match="must have at least one dimension"):
            batcher.run({"x": np.float32(1.0)})
        with pytest.raises(ServingError, match="must have equal 0th-dimension size"):
            batcher.run({"x": np.ones(2), "z": np.ones(3)})
        with pytest.raises(ServingError, match="the model refused"):
            batcher.run({"x": np.ones(2)})
    finally:
        batcher.close()
    with pytest.raises(ServingError, match="shutting down"):
        batcher.run({"x": np.ones(2)})


def test_a_request_larger_than_max_batch_size_is_refused_like_tf_serving(templates):
    from kerasnlp_lab.serving.servable import Servable

    servable = Servable(
        "affine",
        1,
        templates["affine1"],
        BatchingParameters(max_batch_size=4, num_batch_threads=1),
        max_rows=100,
    )
    try:
        assert servable.predict("", {"x": np.ones((4, 3), np.float32)})[1]["y"].shape == (4, 3)
        with pytest.raises(ServingError) as caught:
            servable.predict("", {"x": np.ones((5, 3), np.float32)})
        assert (caught.value.code, caught.value.message) == (
            "INVALID_ARGUMENT",
            "Task size 5 is larger than maximum input batch size 4",
        )
    finally:
        servable.close()
