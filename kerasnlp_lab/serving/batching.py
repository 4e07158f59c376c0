"""Request batching per signature, as TF Serving's `--enable_batching` does it.

Concurrent requests to the same signature wait in a queue; each of `num_batch_threads` threads takes
the oldest request plus the queued requests whose inputs have the same dtypes and inner shapes, up
to `max_batch_size` rows, as soon as the batch is full or the oldest request has waited
`batch_timeout_micros` (with the default 0 a batch forms from whatever queued while the threads were
busy). The batch is concatenated along axis 0 (padded with copies of its first row up to the next
`allowed_batch_sizes` entry), run once, and the outputs are split back per request. Requests larger
than `max_batch_size` are refused before they get here (Servable answers TF Serving's "Task size N
is larger than maximum input batch size M"). A full queue (`max_enqueued_batches` batches) refuses
new requests with UNAVAILABLE, as TF Serving does. A request whose deadline passes while it waits
leaves the queue with DEADLINE_EXCEEDED (once in a running batch, the batch finishes without it).
With `pad_variable_length_inputs`, inputs of the same rank but different inner sizes share a batch,
padded with zeros / empty strings.

The parameters come from the same text file as TF Serving's `--batching_parameters_file`:

    max_batch_size { value: 32 }
    batch_timeout_micros { value: 2000 }
    max_enqueued_batches { value: 100 }
    num_batch_threads { value: 2 }

With per-model parameters (TF Serving's `--enable_per_model_batching_parameters`), a version is
batched with the parameters of the `batching_params.pbtxt` in its folder, with the batch threads of
the common file; a version without one is not batched.
"""

import collections
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

from kerasnlp_lab.errors import UserError
from kerasnlp_lab.export.batching_params import BATCHING_PARAMS_FILE
from kerasnlp_lab.serving.errors import ServingError, invalid_argument

Tensors = Mapping[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """TF Serving's BatchingParameters, with its defaults."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    thread_pool_name: str = "batch_threads"
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self):
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise UserError(
                    f"Expected batching parameter {name} >= 1, got {getattr(self, name)}."
                )
        if self.batch_timeout_micros < 0:
            raise UserError(
                f"Expected batching parameter batch_timeout_micros >= 0, "
                f"got {self.batch_timeout_micros}."
            )
        sizes = list(self.allowed_batch_sizes)
        if sizes and (
            sizes != sorted(set(sizes)) or sizes[0] < 1 or sizes[-1] != self.max_batch_size
        ):
            raise UserError(
                "Expected allowed_batch_sizes in increasing order with the last one equal to "
                f"max_batch_size ({self.max_batch_size}), got {sizes}."
            )


def read_batching_parameters(path: str | Path) -> BatchingParameters:
    """Reads a BatchingParameters text proto file (the `--batching_parameters_file` format)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserError(
            f"Cannot read the batching parameters file {str(path)!r}: {error.strerror}."
        ) from error
    message = _batching_parameters_class()()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise UserError(
            f"The batching parameters file {str(path)!r} is not a valid BatchingParameters "
            f"text proto: {error}"
        ) from error
    values = {
        field.name: getattr(message, field.name).value
        for field in message.DESCRIPTOR.fields
        if field.message_type is not None and message.HasField(field.name)
    }
    if message.allowed_batch_sizes:
        values["allowed_batch_sizes"] = tuple(message.allowed_batch_sizes)
    values["pad_variable_length_inputs"] = message.pad_variable_length_inputs
    return BatchingParameters(**values)


def version_batching(
    folder: Path, common: BatchingParameters | None, per_model: bool
) -> BatchingParameters | None:
    """The batching parameters of the version in `folder`, as TF Serving chooses them.

    `common` (None: batching off) without `per_model`; with it, the parameters of the folder's
    batching_params.pbtxt (None when there is none) with `common`'s batch threads.
    """
    if common is None or not per_model:
        return common
    path = Path(folder) / BATCHING_PARAMS_FILE
    if not path.is_file():
        return None
    return dataclasses.replace(
        read_batching_parameters(path),
        num_batch_threads=common.num_batch_threads,
        thread_pool_name=common.thread_pool_name,
    )


def _batching_parameters_class():
    """The BatchingParameters message of TF Serving's session_bundle_config.proto (not shipped in
    the tensorflow-serving-api wheel), built in a private descriptor pool."""
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="kerasnlp_lab/serving/batching_parameters.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    message = file_proto.message_type.add(name="BatchingParameters")
    optional, repeated = (
        descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )
    wrapped = [
        ("max_batch_size", 1, "Int64Value"),
        ("batch_timeout_micros", 2, "Int64Value"),
        ("max_enqueued_batches", 3, "Int64Value"),
        ("num_batch_threads", 4, "Int64Value"),
        ("thread_pool_name", 5, "StringValue"),
    ]
    for name, number, wrapper in wrapped:
        message.field.add(
            name=name,
            number=number,
            label=optional,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            type_name=f".google.protobuf.{wrapper}",
        )
    message.field.add(
        name="allowed_batch_sizes",
        number=6,
        label=repeated,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    )
    message.field.add(
        name="pad_variable_length_inputs",
        number=7,
        label=optional,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file_proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


class _Task:
    """One request waiting in the queue."""

    def __init__(self, inputs: Tensors, key: tuple, deadline: float | None):
        self.inputs = inputs
        self.size = len(next(iter(inputs.values())))
        self.key = key
        self.deadline = deadline
        self.enqueued = time.monotonic()
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: ServingError | None = None


class SignatureBatcher:
    """Batches the calls to one signature.

    Args:
        run: the signature, called with a dict of batched input arrays, returning a dict of arrays.
        parameters: the batching parameters.
        on_batch: called with the number of rows (without padding) of every batch run.
    """

    def __init__(
        self,
        run: Callable[[Tensors], dict[str, np.ndarray]],
        parameters: BatchingParameters,
        on_batch: Callable[[int], None] = lambda size: None,
    ):
        self._run = run
        self._parameters = parameters
        self._on_batch = on_batch
        self._queue: collections.deque[_Task] = collections.deque()
        self._queued_rows = 0
        self._closed = False
        self._condition = threading.Condition()
        self._threads = [
            threading.Thread(
                target=self._work, name=f"{parameters.thread_pool_name}_{index}", daemon=True
            )
            for index in range(parameters.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(self, inputs: Tensors, deadline: float | None = None) -> dict[str, np.ndarray]:
        """Runs one request's inputs as part of a batch; blocks until its outputs are ready, or
        until `deadline` (time.monotonic())."""
        sizes = set()
        for array in inputs.values():
            if array.ndim == 0:
                raise invalid_argument(
                    "Batching Run() input tensors must have at least one dimension"
                )
            sizes.add(array.shape[0])
        if len(sizes) > 1:
            raise invalid_argument(
                "Batching Run() input tensors must have equal 0th-dimension size"
            )
        if not inputs or sizes == {0}:
            return self._run(inputs)
        task = _Task(inputs, self._batch_key(inputs), deadline)
        capacity = self._parameters.max_enqueued_batches * self._parameters.max_batch_size
        with self._condition:
            if self._closed:
                raise ServingError("UNAVAILABLE", "The batch scheduler is shutting down")
            if self._queued_rows + task.size > capacity and self._queue:
                raise ServingError(
                    "UNAVAILABLE",
                    "The batch scheduling queue to which this task was submitted is full",
                )
            self._queue.append(task)
            self._queued_rows += task.size
            self._condition.notify()
        if not task.done.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
            with self._condition:
                if task in self._queue:
                    self._queue.remove(task)
                    self._queued_rows -= task.size
            raise _deadline_exceeded()
        if task.error is not None:
            raise task.error
        return task.outputs

    @property
    def queued_rows(self) -> int:
        """Rows waiting in the queue (not yet taken into a batch)."""
        with self._condition:
            return self._queued_rows

    def close(self, timeout: float | None = None) -> None:
        """Runs what is queued, then stops the batch threads (waits at most `timeout` seconds for
        them)."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _batch_key(self, inputs: Tensors) -> tuple:
        if self._parameters.pad_variable_length_inputs:
            return tuple(
                (name, array.dtype.str, array.ndim) for name, array in sorted(inputs.items())
            )
        return tuple(
            (name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items())
        )

    def _work(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closed:
                    self._condition.wait()
                if not self._queue:
                    return
                deadline = self._queue[0].enqueued + self._parameters.batch_timeout_micros / 1e6
                while not self._closed and self._ready_rows() < self._parameters.max_batch_size:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._queue:
                        break
                    self._condition.wait(remaining)
                batch = self._take_batch()
            if batch:
                self._process(batch)

    def _ready_rows(self) -> int:
        if not self._queue:
            return 0
        key = self._queue[0].key
        return sum(task.size for task in self._queue if task.key == key)

    def _take_batch(self) -> list[_Task]:
        """The oldest live request plus the queued ones that fit with it; drops expired requests."""
        now = time.monotonic()
        batch, rows, kept = [], 0, collections.deque()
        while self._queue:
            task = self._queue.popleft()
            if task.deadline is not None and task.deadline < now:
                self._queued_rows -= task.size
                task.error = _deadline_exceeded()
                task.done.set()
            elif not batch or (
                task.key == batch[0].key and rows + task.size <= self._parameters.max_batch_size
            ):
                batch.append(task)
                rows += task.size
            else:
                kept.append(task)
        self._queue = kept
        self._queued_rows -= rows
        return batch

    def _process(self, batch: list[_Task]) -> None:
        rows = sum(task.size for task in batch)
        try:
            padded_rows = self._padded_size(rows)
            inputs = {
                name: self._concatenate([task.inputs[name] for task in batch], padded_rows)
                for name in batch[0].inputs
            }
            outputs = self._run(inputs)
            for array in outputs.values():
                if array.ndim == 0 or array.shape[0] != padded_rows:
                    raise ServingError(
                        "INTERNAL",
                        "Batched output tensor's 0th dimension does not equal "
                        "the sum of the 0th dimension sizes of the input tensors",
                    )
            self._on_batch(rows)
            start = 0
            for task in batch:
                task.outputs = {
                    name: array[start : start + task.size] for name, array in outputs.items()
                }
                start += task.size
        except ServingError as error:
            for task in batch:
                task.error = error
        except Exception as error:  # a failing batch must fail its requests, never the thread
            for task in batch:
                task.error = ServingError("INTERNAL", f"Batch failed: {error}")
        finally:
            for task in batch:
                task.done.set()

    def _padded_size(self, rows: int) -> int:
        for size in self._parameters.allowed_batch_sizes:
            if size >= rows:
                return size
        return rows

    def _concatenate(self, arrays: list[np.ndarray], padded_rows: int) -> np.ndarray:
        if self._parameters.pad_variable_length_inputs:
            inner = np.max([array.shape[1:] for array in arrays], axis=0)
            fill = b"" if arrays[0].dtype == object else 0
            arrays = [
                np.pad(
                    array,
                    [(0, 0)]
                    + [
                        (0, int(size - have))
                        for size, have in zip(inner, array.shape[1:], strict=True)
                    ],
                    constant_values=fill,
                )
                for array in arrays
            ]
        batch = np.concatenate(arrays)
        if padded_rows > len(batch):
            batch = np.concatenate([batch, np.repeat(batch[:1], padded_rows - len(batch), axis=0)])
        return batch


def _deadline_exceeded() -> ServingError:
    return ServingError(
        "DEADLINE_EXCEEDED", "The request's deadline passed while it waited for a batch"
    )
