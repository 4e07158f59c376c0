"""The limits that keep one request (or many) from taking the server down, with their defaults.

Each field is a `kerasnlp-lab serve` flag (underscores as dashes); the names are TF Serving's where
it has the flag (`rest_api_num_threads`, `rest_api_timeout_in_ms`, `grpc_max_threads`,
`max_num_load_retries`). The README's serving section says why each default is what it is.
"""

import dataclasses

from kerasnlp_lab.errors import UserError

MIB = 1024 * 1024
# The smallest value of each integer limit that may go below 1 (the others start at 1).
_MINIMUM = {
    "max_num_load_retries": 0,
    "tensorflow_inter_op_parallelism": -1,
    "tensorflow_intra_op_parallelism": 0,
}


@dataclasses.dataclass(frozen=True)
class ServingLimits:
    """Args:
    max_request_bytes: the largest REST body or gRPC message; larger ones get 413 /
        RESOURCE_EXHAUSTED, counted while reading whatever the headers say.
    max_buffered_request_bytes: REST request bodies held at once (read, not yet decoded); a body
        that would go over gets 429 RESOURCE_EXHAUSTED.
    max_batch_rows: rows per request with batching off (with batching on, the batching
        `max_batch_size`); more is INVALID_ARGUMENT "Task size N is larger than maximum input
        batch size M".
    max_string_bytes: the longest string element of an input tensor, in bytes.
    max_concurrent_requests_per_model: predict requests of one model running at once.
    max_queued_requests_per_model: predict requests of one model waiting for a running slot;
        beyond, 429 / RESOURCE_EXHAUSTED.
    rest_api_num_threads: threads decoding and running REST predict requests.
    grpc_max_threads: threads running gRPC calls; twice as many calls may wait for one, more get
        RESOURCE_EXHAUSTED.
    rest_api_timeout_in_ms: a REST request's time limit (504 DEADLINE_EXCEEDED); also the longest
        wait in a model's queue for a gRPC call without a deadline.
    unload_timeout_seconds: how long an unload waits for the requests still using a version.
    max_num_load_retries: failed loads of an unchanged version retried on later polls.
    tensorflow_inter_op_parallelism: each model Session's inter-op threads: 0 shares
        TensorFlow's pool (TF Serving's default), -1 runs every op in the calling thread.
    tensorflow_intra_op_parallelism: threads inside one op (a matmul); 0 lets TensorFlow pick.
    """

    max_request_bytes: int = 4 * MIB
    max_buffered_request_bytes: int = 32 * MIB
    max_batch_rows: int = 128
    max_string_bytes: int = 16 * 1024
    max_concurrent_requests_per_model: int = 32
    max_queued_requests_per_model: int = 64
    rest_api_num_threads: int = 32
    grpc_max_threads: int = 32
    rest_api_timeout_in_ms: int = 30_000
    unload_timeout_seconds: float = 30.0
    max_num_load_retries: int = 5
    tensorflow_inter_op_parallelism: int = 0
    tensorflow_intra_op_parallelism: int = 0

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            flag = "--" + field.name.replace("_", "-")
            if field.name == "unload_timeout_seconds":
                if not value > 0:
                    raise UserError(f"Expected {flag} > 0, got {value}.")
            elif value < _MINIMUM.get(field.name, 1):
                raise UserError(f"Expected {flag} >= {_MINIMUM.get(field.name, 1)}, got {value}.")
        if self.max_buffered_request_bytes < self.max_request_bytes:
            raise UserError(
                f"Expected --max-buffered-request-bytes >= --max-request-bytes "
                f"({self.max_request_bytes}), got {self.max_buffered_request_bytes}."
            )

    @property
    def rest_api_timeout_seconds(self) -> float:
        return self.rest_api_timeout_in_ms / 1000
