"""The limits that keep one request (or many) from taking the server down, with their defaults.

Each ServingLimits field is a `kerasnlp-lab serve` flag (underscores as dashes), named as TF
Serving's flag where it has one (TF_SERVING_FLAGS). LIMITS is the one text of every limit, fixed
or set by a flag: what it bounds, the answer beyond it and why its default is what it is. The
`serve --help` text and the README's limits table are generated from it.
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
# The fields that carry the name of a TF Serving flag.
TF_SERVING_FLAGS = frozenset(
    {
        "rest_api_num_threads",
        "rest_api_timeout_in_ms",
        "grpc_max_threads",
        "max_num_load_retries",
        "tensorflow_inter_op_parallelism",
        "tensorflow_intra_op_parallelism",
    }
)


@dataclasses.dataclass(frozen=True)
class ServingLimits:
    """The limits of one server; LIMITS says what each field bounds."""

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
            flag = flag_of(field.name)
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


@dataclasses.dataclass(frozen=True)
class Limit:
    """One limit, a row of the README's table: `flags` maps ServingLimits fields to their help
    (what each bounds and, where it has one, the answer beyond); a limit without flags is fixed at
    `bound`. `answer` adds what the help leaves out, `why` explains the default."""

    name: str
    why: str
    flags: dict[str, str] = dataclasses.field(default_factory=dict)
    bound: str = ""
    answer: str = ""


LIMITS = (
    Limit(
        "request body",
        flags={
            "max_request_bytes": "the largest REST body or gRPC message, counted while reading "
            "whatever the headers say; larger ones get 413 / gRPC RESOURCE_EXHAUSTED"
        },
        answer="a declared `Content-Length` above it is refused before reading; a malformed one "
        "such as `-1` is a 400 and the connection closes",
        why="above the largest valid request at the default rows limit (128 rows × 784 floats ≈ "
        "2.3 MB of JSON; 128 strings of 16 KiB ≈ 2.1 MB); Python's objects for JSON take up to "
        "~25× its text, so one body costs at most ~100 MB decoded; 64 gRPC calls of 3.8 MB in "
        "flight at once measured +520 MiB of peak RSS (+920 MiB with 8 MiB)",
    ),
    Limit(
        "bodies held at once (REST)",
        flags={
            "max_buffered_request_bytes": "REST request bodies held at once (read, not yet "
            "decoded); a body that would go over gets 429 RESOURCE_EXHAUSTED"
        },
        why="8 bodies of the largest size; bodies over 1 MiB are decoded one at a time, so raw "
        "plus decoded bodies stay under ~150 MB",
    ),
    Limit(
        "rows per request",
        flags={
            "max_batch_rows": "rows per request with batching off (with batching on, the "
            "batching max_batch_size); more get 400 / INVALID_ARGUMENT, TF Serving's 'Task size "
            "N is larger than maximum input batch size M'"
        },
        why="beam search keeps 4 hypotheses per row: 128 rows of the `small` Transformer stay in "
        "the hundreds of MB (a 200,000-sentence request used to take 24 GB)",
    ),
    Limit(
        "declared tensor size",
        bound="always",
        answer='400 / INVALID_ARGUMENT; gRPC: "tensor parsing error: NAME (its shape [4] has 4 '
        'elements, got 1 values in string_val)"',
        why="a TensorProto's shape is checked against the signature and the rows limit, and its "
        "values (typed field or `tensor_content`) against its shape, before any array is made: "
        "a 100-byte request declaring 10⁹ strings used to allocate 22 GB",
    ),
    Limit(
        "string element",
        flags={
            "max_string_bytes": "the longest string element of an input tensor, in bytes; longer "
            "ones get 400 / INVALID_ARGUMENT"
        },
        why="a prompt or a sentence; 128 of them stay within the body limit",
    ),
    Limit(
        "JSON",
        bound="nesting depth 1,024; numbers must fit a double",
        answer='400 "JSON Parse error: The document nests deeper than 1024 levels", "JSON Parse '
        "error: Number too big to be stored in double. at offset: N\" (TF Serving's parser's "
        "message)",
        why="orjson's depth limit; `1e999` and 5,000-digit integers are errors, not infinity; "
        "integers beyond 64 bits become doubles, and `NaN`/`Infinity` are taken for float inputs "
        "only, as in TF Serving",
    ),
    Limit(
        "request line and headers",
        bound="64 KiB",
        answer="400",
        why="the parser itself sets no bound",
    ),
    Limit(
        "connections and requests at once",
        bound="1,000",
        answer="503 (uvicorn's)",
        why="a backstop: each costs a few KB",
    ),
    Limit(
        "predict requests per model",
        flags={
            "max_concurrent_requests_per_model": "predict requests of one model running at once",
            "max_queued_requests_per_model": "predict requests of one model waiting for a running "
            "slot; beyond, 429 / RESOURCE_EXHAUSTED",
        },
        why="32 = one full batch of serving/batching_parameters.txt (a batch forms only from "
        "requests in flight); the queue holds two batches more",
    ),
    Limit(
        "threads",
        flags={
            "rest_api_num_threads": "threads decoding and running REST predict requests",
            "grpc_max_threads": "threads running gRPC calls; twice as many calls may be in "
            "flight, more get RESOURCE_EXHAUSTED",
        },
        why="one thread per running request, so a full batch can form; TF Serving's default is "
        "4 × cores",
    ),
    Limit(
        "TensorFlow threads (a setting, not a limit)",
        flags={
            "tensorflow_inter_op_parallelism": "each model Session's inter-op threads: 0 shares "
            "TensorFlow's pool (TF Serving's default), -1 runs every op in the calling thread",
            "tensorflow_intra_op_parallelism": "threads inside one op (a matmul); 0 lets "
            "TensorFlow pick",
        },
        why="as TF Serving. Whatever the flag, a model whose "
        "graph has no loop (the autoencoder) runs a call in the calling thread while no other "
        "call of it runs (`RunOptions.inter_op_thread_pool = -1`, TensorFlow's advice for simple "
        "graphs): that took the dense model's REST p50 at one client from 0.68 to 0.49-0.56 ms, "
        "with the same requests/s at 8 and 32 clients. `-1` runs every call of every model so, "
        "which costs the `small` Transformer ~20% of its sentences/s (its decoding loop runs "
        "independent ops in parallel on the pool)",
    ),
    Limit(
        "time",
        flags={
            "rest_api_timeout_in_ms": "a REST request's time limit, then 504 DEADLINE_EXCEEDED; "
            "also the longest wait in a model's queue for a gRPC call without a deadline"
        },
        answer="gRPC calls end at their deadline (DEADLINE_EXCEEDED)",
        why="waits in a model's queue and for a batch end at the deadline; a TensorFlow call "
        "already running cannot be stopped: it finishes in the background and keeps its slot (and "
        "its thread) until then, so the running count still bounds the work",
    ),
    Limit(
        "model loading",
        flags={
            "max_num_load_retries": "a version that failed to load (status END with the error) "
            "is tried again once a poll, on this many polls, and whenever a file of it changes",
            "unload_timeout_seconds": "how long an unload waits for the requests still using a "
            "version",
        },
        why="a version whose variables were still being copied loads once they are there, and a "
        "broken one costs one attempt a poll, a few times (TF Serving waits "
        "`load_retry_interval_micros` between retries); unloading waits beside the poller, so a "
        "hung request never holds up loading other versions",
    ),
)


def flag_of(name: str) -> str:
    """The `serve` flag of a ServingLimits field."""
    return "--" + name.replace("_", "-")


def shown(value) -> str:
    """A default as the help and the README show it: whole MiB as such, 30.0 as 30."""
    if isinstance(value, int) and value >= MIB and value % MIB == 0:
        return f"{value // MIB} MiB"
    return f"{value:g}" if isinstance(value, float) else str(value)
