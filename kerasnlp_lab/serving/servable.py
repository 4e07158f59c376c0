"""One loaded version of a model: its SignatureDefs, running a signature on NumPy inputs (checked as
TF Serving checks a PredictRequest, plus the rows and string length limits), optional batching per
signature, and warmup replay.

A version is loaded as TF Serving's C++ loader does it: the `serve` MetaGraph into a Session (the
saver's restore op, then the init op), and each signature runs by its SignatureDef's tensor names
through Session callables made once. So an export that stock TF Serving could not run fails here
too, and a call costs no eager dispatch and no Python feed handling. A model whose graph has no loop
(the autoencoder) runs a call in the calling thread when it is the only one running; graphs with
decoding or generation loops, and calls under load, use TensorFlow's inter-op pool."""

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from kerasnlp_lab.export.warmup import WARMUP_FILE
from kerasnlp_lab.serving.batching import BatchingParameters, SignatureBatcher
from kerasnlp_lab.serving.errors import ServingError, code_name, invalid_argument
from kerasnlp_lab.serving.limits import ServingLimits
from kerasnlp_lab.serving.tensor_proto import dtype_enum, dtype_name, from_tensor_proto

DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"
# RunOptions.inter_op_thread_pool: -1 runs a call's ops in the thread that calls, which TensorFlow
# recommends for simple graphs (a call skips two thread hand-offs; see Servable._call); 0 is the
# inter-op pool.
_CALLER_THREAD, _INTER_OP_POOL = -1, 0
LOOP_OPS = frozenset({"While", "StatelessWhile", "LoopCond"})
SERVING_TAG = "serve"
MAX_WARMUP_RECORDS = 1000  # TF Serving's limit


def _not_the_loader_deprecation(record: logging.LogRecord) -> bool:
    """False for TensorFlow's warning that the v1 loader is deprecated: its advice, the eager
    `tf.saved_model.load`, is not how TF Serving loads, and loading as TF Serving does is the
    point of this module."""
    return "saved_model.loader_impl) is deprecated" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_not_the_loader_deprecation)


def read_signature_defs(path: Path) -> dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDefs of the `serve` MetaGraph of a SavedModel folder (init op included, as TF
    Serving's GetModelMetadata lists it)."""
    binary, text = path / "saved_model.pb", path / "saved_model.pbtxt"
    if binary.is_file():
        saved_model = saved_model_pb2.SavedModel.FromString(binary.read_bytes())
    elif text.is_file():
        saved_model = text_format.Parse(
            text.read_text(encoding="utf-8"), saved_model_pb2.SavedModel()
        )
    else:
        raise ServingError(
            "NOT_FOUND",
            f"Could not find SavedModel .pb or .pbtxt at supplied export directory path: {path}",
        )
    for meta_graph in saved_model.meta_graphs:
        if SERVING_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ServingError(
        "NOT_FOUND",
        f"Could not find meta graph def matching supplied tags: "
        f"{{ {SERVING_TAG} }}. To inspect available tag-sets in the SavedModel, "
        f"please use the SavedModel CLI: `saved_model_cli` ({path})",
    )


class Servable:
    """A SavedModel version loaded into a TensorFlow Session, as TF Serving loads it.

    Args:
        name: the model name.
        version: the version number (the folder name).
        path: the version folder.
        batching: batching parameters, or None to run every request on its own.
        on_batch: called with (signature name, rows) for every batch run.
        max_rows: the most rows (leading dimension) of a request with batching off; with batching
            on, the batching `max_batch_size`.
        max_string_bytes: the longest string element of an input, in bytes.
        inter_op_parallelism: the Session's inter-op threads (0: TensorFlow's shared pool; -1:
            every op in the calling thread).
        intra_op_parallelism: the Session's intra-op threads (0: TensorFlow picks).
    """

    def __init__(
        self,
        name: str,
        version: int,
        path: Path,
        batching: BatchingParameters | None = None,
        on_batch: Callable[[str, int], None] = lambda signature, rows: None,
        max_rows: int = ServingLimits.max_batch_rows,
        max_string_bytes: int = ServingLimits.max_string_bytes,
        inter_op_parallelism: int = ServingLimits.tensorflow_inter_op_parallelism,
        intra_op_parallelism: int = ServingLimits.tensorflow_intra_op_parallelism,
    ):
        self.name = name
        self.version = version
        self.path = path
        self.max_rows = batching.max_batch_size if batching is not None else max_rows
        self.max_string_bytes = max_string_bytes
        self.signature_defs = read_signature_defs(path)
        session = tf.compat.v1.Session(
            graph=tf.Graph(),
            config=tf.compat.v1.ConfigProto(
                inter_op_parallelism_threads=inter_op_parallelism,
                intra_op_parallelism_threads=intra_op_parallelism,
            ),
        )
        with session.graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(session, [SERVING_TAG], str(path))
        self.loop_free = not _has_loops(meta_graph.graph_def)
        self._calls_running = 0
        self._calls_lock = threading.Lock()
        self._runners = {
            signature: _SignatureRunner(session, signature_def)
            for signature, signature_def in self.signature_defs.items()
            if signature != INIT_OP_SIGNATURE
        }
        self._batchers: dict[str, SignatureBatcher] = {}
        if batching is not None:
            for signature, runner in self._runners.items():
                if runner.batchable:
                    self._batchers[signature] = SignatureBatcher(
                        functools.partial(self._call, signature),
                        batching,
                        functools.partial(on_batch, signature),
                    )
        self.active_requests = 0  # maintained by the model manager

    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Iterable[str] = (),
        deadline: float | None = None,
    ) -> tuple[str, dict[str, np.ndarray]]:
        """Runs a signature ("" means serving_default); returns its name and the output arrays.
        `deadline` (time.monotonic()) bounds the wait for a batch; a call already running
        finishes."""
        signature_name = signature_name or DEFAULT_SIGNATURE
        self.check_inputs(
            signature_name,
            {name: (dtype_enum(array), array.shape) for name, array in inputs.items()},
        )
        self._check_strings(inputs)
        outputs_wanted = self._check_output_filter(signature_name, list(output_filter))
        batcher = self._batchers.get(signature_name)
        if batcher is not None:
            outputs = batcher.run(inputs, deadline)
        else:
            if deadline is not None and time.monotonic() > deadline:
                raise ServingError(
                    "DEADLINE_EXCEEDED", "The request's deadline passed before it ran"
                )
            outputs = self._call(signature_name, inputs)
        if outputs_wanted:
            outputs = {name: outputs[name] for name in outputs_wanted}
        return signature_name, outputs

    def run_warmup(self) -> int:
        """Replays `assets.extra/tf_serving_warmup_requests` (PredictionLog records); returns how
        many."""
        path = self.path / WARMUP_FILE
        if not path.is_file():
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(str(path)):
            count += 1
            if count > MAX_WARMUP_RECORDS:
                raise invalid_argument(
                    f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}"
                )
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            kind = log.WhichOneof("log_type")
            if kind != "predict_log":
                raise ServingError(
                    "UNIMPLEMENTED",
                    f"Unsupported log_type for warmup: {kind} (only "
                    f"predict_log is served) in {path}",
                )
            request = log.predict_log.request
            inputs = {
                name: from_tensor_proto(proto, name) for name, proto in request.inputs.items()
            }
            self.predict(request.model_spec.signature_name, inputs, request.output_filter)
        return count

    def close(self, timeout: float | None = None) -> None:
        """Finishes queued batches and stops the batch threads (waits at most `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for batcher in self._batchers.values():
            batcher.close(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _call(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature; a loop-free graph runs in the calling thread while no other call of
        this version runs (lowest latency alone; under load the pool keeps threads in check)."""
        with self._calls_lock:
            alone = self._calls_running == 0
            self._calls_running += 1
        try:
            return self._runners[signature_name].run(inputs, self.loop_free and alone)
        except tf.errors.OpError as error:
            raise ServingError(code_name(error.error_code), error.message) from None
        finally:
            with self._calls_lock:
                self._calls_running -= 1

    def check_inputs(
        self, signature_name: str, inputs: Mapping[str, tuple[int, tuple[int, ...]]]
    ) -> None:
        """Checks {input name: (DataType, shape)} against the signature and the rows limit, before
        any array is made (gRPC) or run (REST)."""
        runner = self._runners.get(signature_name or DEFAULT_SIGNATURE)
        if runner is None:
            raise ServingError(
                "FAILED_PRECONDITION", f'Serving signature key "{signature_name}" not found.'
            )
        specs = runner.input_specs
        if set(inputs) != set(specs):
            sent, expected = sorted(inputs), sorted(specs)
            if len(sent) != len(expected):
                raise invalid_argument(
                    f"input size does not match signature: {len(sent)}!={len(expected)} "
                    f"len({{{','.join(sent)}}}) != len({{{','.join(expected)}}}). "
                    f"Sent extra: {{{','.join(sorted(set(sent) - set(expected)))}}}. "
                    f"Missing but required: {{{','.join(sorted(set(expected) - set(sent)))}}}."
                )
            unknown = sorted(set(sent) - set(expected))[0]
            raise invalid_argument(
                f"input tensor alias not found in signature: {unknown}. "
                f"Inputs expected to be in the set {{{','.join(expected)}}}."
            )
        for index, name in enumerate(sorted(specs)):
            spec, (dtype, shape) = specs[name], inputs[name]
            if dtype != spec.dtype.as_datatype_enum:
                raise invalid_argument(
                    f"Expects arg[{index}] to be {dtype_name(spec.dtype.as_datatype_enum)} "
                    f"but {dtype_name(dtype)} is provided"
                )
            if not spec.shape.is_compatible_with(shape):
                raise invalid_argument(
                    f"Input '{name}' has shape {_shape_text(shape)}, which does "
                    f"not match the signature's shape {_shape_text(spec.shape)}"
                )
        rows = max((shape[0] for _, shape in inputs.values() if len(shape)), default=0)
        if rows > self.max_rows:
            raise invalid_argument(
                f"Task size {rows} is larger than maximum input batch size {self.max_rows}"
            )

    def _check_strings(self, inputs: Mapping[str, np.ndarray]) -> None:
        for name, array in sorted(inputs.items()):
            if array.dtype != object:
                continue
            for index, item in enumerate(array.ravel()):
                if len(item) > self.max_string_bytes:
                    raise invalid_argument(
                        f"Input '{name}' element {index} is a string of {len(item)} bytes, "
                        f"longer than the limit of {self.max_string_bytes} bytes "
                        "(max_string_bytes)"
                    )

    def _check_output_filter(self, signature_name: str, output_filter: list[str]) -> list[str]:
        outputs = self.signature_defs[signature_name].outputs
        for index, alias in enumerate(output_filter):
            if alias not in outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs "
                    f"expected to be in the set {{{','.join(sorted(outputs))}}}."
                )
            if alias in output_filter[:index]:
                raise invalid_argument(f"duplicate output tensor alias: {alias}")
        return output_filter


class _SignatureRunner:
    """One signature of a loaded Session: its input specs, and a callable over its tensor names."""

    def __init__(self, session: tf.compat.v1.Session, signature_def: meta_graph_pb2.SignatureDef):
        self.input_specs = _specs(signature_def.inputs)
        self._input_names = sorted(signature_def.inputs)
        self._output_names = sorted(signature_def.outputs)
        # Batching needs a leading batch dimension of any size on every input and output.
        self.batchable = all(
            spec.shape.rank and spec.shape[0] is None
            for spec in [*self.input_specs.values(), *_specs(signature_def.outputs).values()]
        )
        feeds = [signature_def.inputs[name].name for name in self._input_names]
        fetches = [signature_def.outputs[name].name for name in self._output_names]
        self._callables = {
            pool: _session_callable(session, feeds, fetches, pool)
            for pool in (_CALLER_THREAD, _INTER_OP_POOL)
        }

    def run(
        self, inputs: Mapping[str, np.ndarray], in_caller_thread: bool
    ) -> dict[str, np.ndarray]:
        """The outputs; `in_caller_thread` runs the ops in this thread instead of the pool."""
        values = self._callables[_CALLER_THREAD if in_caller_thread else _INTER_OP_POOL](
            *[inputs[name] for name in self._input_names]
        )
        return {
            name: np.asarray(value) for name, value in zip(self._output_names, values, strict=True)
        }


def _session_callable(session: tf.compat.v1.Session, feeds, fetches, inter_op_thread_pool: int):
    """A callable of the Session from feed to fetch tensor names, on the given inter-op pool.

    Made from CallableOptions, as TF Serving prepares a Session run once: the public
    `Session.make_callable` sends every call with feeds through `Session.run`'s Python feed and
    fetch handling (a dense 784 -> 256 -> 784 call took 69 us in the calling thread that way, 20 us
    this way). `Session._make_callable_from_options` is what tf.keras 2's graph-mode backend built
    its functions on; the inputs already have the signature's dtypes (`check_inputs`). It is
    private: a TensorFlow without it gets the public `make_callable`, with the same RunOptions and
    the same outputs, slower.
    """
    options = config_pb2.CallableOptions(feed=feeds, fetch=fetches)
    options.run_options.inter_op_thread_pool = inter_op_thread_pool
    from_options = getattr(session, "_make_callable_from_options", None)
    if from_options is not None:
        return from_options(options)
    _warn_public_callable()
    run = session.make_callable(list(fetches), feed_list=list(feeds))
    run_options = config_pb2.RunOptions()
    run_options.CopyFrom(options.run_options)
    return lambda *values: run(*values, options=run_options)


@functools.cache
def _warn_public_callable() -> None:
    logging.getLogger(__name__).warning(
        "This TensorFlow's Session has no _make_callable_from_options: signatures run through "
        "the public Session.make_callable (same outputs, more Python work per call)."
    )


def _has_loops(graph_def) -> bool:
    """Whether a graph (its function library included) has a loop: a decoding or generation loop
    is many ops a step, some independent, and runs best on the inter-op pool."""
    nodes = [*graph_def.node, *(node for f in graph_def.library.function for node in f.node_def)]
    return any(node.op in LOOP_OPS for node in nodes)


def _specs(tensors: Mapping[str, meta_graph_pb2.TensorInfo]) -> dict[str, tf.TensorSpec]:
    return {
        name: tf.TensorSpec(tf.TensorShape(info.tensor_shape), tf.as_dtype(info.dtype))
        for name, info in tensors.items()
    }


def _shape_text(shape) -> str:
    return (
        "[" + ",".join("-1" if size is None else str(size) for size in tf.TensorShape(shape)) + "]"
    )
