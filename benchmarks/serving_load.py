"""Load and soak test of `kerasnlp-lab serve`: many clients, REST and gRPC, all four models, valid
and hostile requests, new and kept-alive connections, for a fixed time; in one run.

    python benchmarks/serving_load.py --saved-models saved_models   # e.g. after `make models`
    python benchmarks/serving_load.py --prepare /tmp/serving_load   # tiny presets, trained here

The server runs in its own process (`kerasnlp-lab serve`, batching as in
serving/batching_parameters.txt unless --no-batching). Each client thread sends requests until the
time is up: half of the clients use REST, half gRPC; half of each keep their connection, half open a
new one per request. A request goes to the four models in turn; one in five is hostile (wrong dtype,
more rows than allowed, a string over the limit, broken or too deep JSON, a number too big for a
double, an unknown model, a TensorProto whose declared shape does not match its values) and must get
its exact error code. Valid requests must get 200 / OK with outputs of the right shapes. Prints
requests, errors, req/s, p50 and p99 per transport and kind, the server's RSS (start, peak, end) and
writes the RSS over time to --plot.
"""

import argparse
import contextlib
import http.client
import json
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from kerasnlp_lab.serving.client import ServingClient
from kerasnlp_lab.serving.errors import ServingError
from kerasnlp_lab.serving.limits import ServingLimits

REPO_ROOT = Path(__file__).resolve().parents[1]
KERASNLP_LAB = Path(sys.executable).with_name("kerasnlp-lab")
MODELS = ("autoencoder", "char_generator", "attention_nmt", "transformer_translator")
BATCHING_FILE = REPO_ROOT / "serving" / "batching_parameters.txt"
SENTENCES = (
    "En el principio creó Dios los cielos y la tierra.",
    "Y dijo Dios: Sea la luz.",
    "Jehová es mi pastor; nada me faltará.",
    "Bienaventurados los pacíficos.",
)
HOSTILE_SHARE = 5  # one request in five is hostile
STARTUP_SECONDS = 300.0
RSS_INTERVAL_SECONDS = 0.5
LIMITS = ServingLimits()


# ------------------------------------------------------------------------------------ preparation
def prepare(folder: Path) -> Path:
    """Trains the four models on their tiny presets and exports them (minutes); returns
    saved_models."""
    saved_models = folder / "saved_models"
    for model in MODELS:
        if (saved_models / model / "1").is_dir():
            continue
        workdir = folder / "runs" / model
        print(f"Training and exporting {model} (tiny preset) ...", flush=True)
        subprocess.run(
            [str(KERASNLP_LAB), "train", model, "--preset", "tiny", "--workdir", str(workdir)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                str(KERASNLP_LAB),
                "export",
                model,
                "--workdir",
                str(workdir),
                "--saved-models",
                str(saved_models),
                "--version",
                "1",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return saved_models


@contextlib.contextmanager
def server_process(arguments: list[str]):
    """`kerasnlp-lab serve` with the given arguments on free ports; yields (process, rest_port,
    grpc_port)."""
    process = subprocess.Popen(
        [str(KERASNLP_LAB), "serve", "--rest-port", "0", "--grpc-port", "0", *arguments],
        cwd=REPO_ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)], daemon=True
    ).start()
    try:
        deadline, printed = time.monotonic() + STARTUP_SECONDS, []
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError("the server exited before serving:\n" + "".join(printed))
            printed.append(line)
            match = re.search(
                r"REST on http://127\.0\.0\.1:(\d+)/\S+ and gRPC on 127\.0\.0\.1:(\d+)", line
            )
            if match:
                break
        yield process, int(match.group(1)), int(match.group(2))
    finally:
        process.terminate()
        process.wait(timeout=60)


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) * 1024


# --------------------------------------------------------------------------------------- requests
def valid_request(model: str, rng: np.random.Generator) -> tuple[str, dict, str]:
    """(signature, inputs, the output checked) of a valid request."""
    rows = int(rng.integers(1, 4))
    if model == "autoencoder":
        return (
            "serving_default",
            {"images": rng.random((rows, 28, 28), np.float32)},
            "reconstructions",
        )
    if model == "char_generator":
        return (
            "serving_default",
            {
                "prompt": np.array([b"In the beginning"] * rows, object),
                "num_chars": np.full(rows, 20, np.int32),
                "temperature": np.full(rows, 0.8, np.float32),
                "seed": rng.integers(0, 1000, rows).astype(np.int64),
            },
            "text",
        )
    texts = np.array(
        [SENTENCES[int(index)].encode() for index in rng.integers(0, len(SENTENCES), rows)], object
    )
    return (
        ("beam_search" if rng.random() < 0.2 else "serving_default"),
        {"text": texts},
        "translation",
    )


def expected_shape(output: str, inputs: dict) -> tuple:
    rows = len(next(iter(inputs.values())))
    return (rows, 28, 28) if output == "reconstructions" else (rows,)


def hostile_cases(model: str, transport: str) -> list[tuple]:
    """(name, what to send, the expected answer) of the hostile requests a transport can send to a
    model: REST (body, HTTP status) with the path's model (or "nope"), gRPC (request builder, status
    code)."""
    rows = LIMITS.max_batch_rows + (
        10 if model == "autoencoder" else 1000
    )  # within max_request_bytes
    if model == "autoencoder":
        string_input, columns = None, {"images": [[[0.5] * 28] * 28]}
    elif model == "char_generator":
        string_input, columns = (
            "prompt",
            {"prompt": ["In"], "num_chars": [5], "temperature": [1.0], "seed": [0]},
        )
    else:
        string_input, columns = "text", {"text": ["Hola."]}
    if transport == "gRPC":
        if string_input is None:
            return [
                (
                    "wrong dtype",
                    lambda: _strings_request(model, "images", 1),
                    grpc.StatusCode.INVALID_ARGUMENT,
                )
            ]
        return [
            (
                "too many rows",
                lambda: _strings_request(model, string_input, rows),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                "declared shape > values sent",
                lambda: _strings_request(model, string_input, 5, values=1),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
        ]
    cases = [
        ("broken JSON", b'{"inputs": [', 400),
        ("deep JSON", b"[" * 100_000, 400),
        ("number too big", b'{"inputs": [1e999]}', 400),
        ("unknown model", b'{"inputs": [1]}', 404),
        ("too many rows", _body({name: value * rows for name, value in columns.items()}), 400),
    ]
    if string_input is None:
        cases.append(("wrong dtype", _body({"images": [[["a"] * 28] * 28]}), 400))
    else:
        cases.append(
            (
                "string too long",
                _body({**columns, string_input: ["x" * (LIMITS.max_string_bytes + 1)]}),
                400,
            )
        )
    return cases


def _body(inputs: dict) -> bytes:
    return json.dumps({"inputs": inputs}).encode()


def _strings_request(
    model: str, name: str, rows: int, values: int | None = None
) -> predict_pb2.PredictRequest:
    """A PredictRequest of one string input declaring `rows` rows and carrying `values` (default
    rows)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    proto = tf.make_tensor_proto(np.array([b"x"] * (rows if values is None else values), object))
    proto.tensor_shape.dim[0].size = rows
    request.inputs[name].CopyFrom(proto)
    return request


# ---------------------------------------------------------------------------------------- clients
class Tally:
    """Latencies and errors per (transport, kind), thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: dict[tuple, list[float]] = {}
        self.errors: dict[tuple, list[str]] = {}

    def add(self, key: tuple, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.setdefault(key, []).append(seconds)
            if error is not None:
                self.errors.setdefault(key, []).append(error)


def run_client(
    index: int, rest_port: int, grpc_port: int, stop: threading.Event, tally: Tally
) -> None:
    rng = np.random.default_rng(index)
    transport = "REST" if index % 2 == 0 else "gRPC"
    keep = (index // 2) % 2 == 0
    url = (
        f"http://127.0.0.1:{rest_port}" if transport == "REST" else f"grpc://127.0.0.1:{grpc_port}"
    )
    kept = ServingClient(url) if keep else None
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    count = 0
    try:
        while not stop.is_set():
            model = MODELS[(index + count) % len(MODELS)]
            count += 1
            hostile = rng.integers(0, HOSTILE_SHARE) == 0
            began = time.perf_counter()
            if hostile:
                cases = hostile_cases(model, transport)
                error = run_hostile(cases[int(rng.integers(0, len(cases)))], model, rest_port, stub)
            elif kept is not None:
                error = run_valid(model, rng, kept)
            else:
                with ServingClient(url) as fresh:  # a new connection (or channel) for this request
                    error = run_valid(model, rng, fresh)
            tally.add(
                (transport, "hostile" if hostile else "valid", "kept" if keep else "new"),
                time.perf_counter() - began,
                error,
            )
    finally:
        channel.close()


def run_valid(model: str, rng: np.random.Generator, client: ServingClient) -> str | None:
    signature, inputs, output = valid_request(model, rng)
    try:
        outputs = client.predict(model, inputs, signature_name=signature)
    except ServingError as error:
        return f"{model}: {error.code}: {error}"
    shape = np.asarray(outputs[output]).shape
    if shape != expected_shape(output, inputs):
        return f"{model}: {output} has shape {shape}"
    return None


def run_hostile(case: tuple, model: str, rest_port: int, stub) -> str | None:
    name, payload, expected = case
    if isinstance(expected, grpc.StatusCode):
        try:
            stub.Predict(payload(), timeout=60)
        except grpc.RpcError as error:
            return None if error.code() == expected else f"{model} {name}: got {error.code()}"
        return f"{model} {name}: got OK"
    path = f"/v1/models/{'nope' if name == 'unknown model' else model}:predict"
    connection = http.client.HTTPConnection("127.0.0.1", rest_port, timeout=60)
    try:
        connection.request("POST", path, body=payload)
        response = connection.getresponse()
        answer = response.read()
    except (OSError, http.client.HTTPException) as error:
        return f"{model} {name}: {error!r}"
    finally:
        connection.close()
    if response.status != expected or b'"error"' not in answer:
        return f"{model} {name}: got {response.status} {answer[:100]!r}"
    return None


# ------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--saved-models", type=Path, help="a folder with the four models")
    parser.add_argument(
        "--prepare", type=Path, help="train tiny presets and export them under this folder"
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-batching", action="store_true")
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path("/tmp/serving_load_rss.png"),
        help="where the RSS-over-time plot goes (default /tmp/serving_load_rss.png)",
    )
    args = parser.parse_args()
    if (args.saved_models is None) == (args.prepare is None):
        parser.error("give exactly one of --saved-models and --prepare")
    saved_models = args.saved_models or prepare(args.prepare)
    serve_arguments = ["--saved-models", str(saved_models)]
    if not args.no_batching:
        serve_arguments += ["--batching-parameters-file", str(BATCHING_FILE)]

    with server_process(serve_arguments) as (process, rest_port, grpc_port):
        start_rss = rss_bytes(process.pid)
        samples, stop, tally = [], threading.Event(), Tally()

        def sample_rss():
            began = time.monotonic()
            while not stop.wait(RSS_INTERVAL_SECONDS):
                samples.append((time.monotonic() - began, rss_bytes(process.pid) / 2**20))

        sampler = threading.Thread(target=sample_rss, daemon=True)
        clients = [
            threading.Thread(target=run_client, args=(index, rest_port, grpc_port, stop, tally))
            for index in range(args.clients)
        ]
        began = time.perf_counter()
        sampler.start()
        for thread in clients:
            thread.start()
        stop.wait(args.seconds)
        stop.set()
        for thread in clients:
            thread.join()
        elapsed = time.perf_counter() - began
        alive = process.poll() is None
        peak, end = rss_bytes(process.pid, "VmHWM"), rss_bytes(process.pid)

    print(
        f"{args.clients} clients for {args.seconds:.0f} s, "
        f"batching {'off' if args.no_batching else 'on'}; "
        f"server {'alive' if alive else 'DIED'} at the end"
    )
    print(
        f"{'transport':>9} {'kind':>8} {'conn':>5} {'requests':>8} {'errors':>6} {'req/s':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    for key in sorted(tally.latencies):
        latencies = np.array(tally.latencies[key]) * 1000
        errors = tally.errors.get(key, [])
        print(
            f"{key[0]:>9} {key[1]:>8} {key[2]:>5} {len(latencies):8d} {len(errors):6d} "
            f"{len(latencies) / elapsed:7.1f} {np.percentile(latencies, 50):8.1f} "
            f"{np.percentile(latencies, 99):8.1f}"
        )
    total = sum(len(values) for values in tally.latencies.values())
    valid_errors = [
        error for key, errors in tally.errors.items() if key[1] == "valid" for error in errors
    ]
    hostile_errors = [
        error for key, errors in tally.errors.items() if key[1] == "hostile" for error in errors
    ]
    print(
        f"all: {total} requests, {total / elapsed:.1f} req/s; "
        f"errors on valid requests: {len(valid_errors)}; "
        f"hostile requests answered otherwise than expected: {len(hostile_errors)}"
    )
    for error in (valid_errors + hostile_errors)[:10]:
        print("  " + error)
    print(
        f"server RSS: {start_rss / 2**20:.0f} MiB at start, peak {peak / 2**20:.0f} MiB, "
        f"{end / 2**20:.0f} MiB at the end (+{(peak - start_rss) / 2**20:.0f} MiB)"
    )
    plot_rss(samples, args.plot, f"{args.clients} clients, REST + gRPC, 4 models")
    print(f"RSS over time: {args.plot}")


def plot_rss(samples: list[tuple[float, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.2))
    axes.plot([t for t, _ in samples], [rss for _, rss in samples])
    axes.set_xlabel("seconds")
    axes.set_ylabel("server RSS (MiB)")
    axes.set_title(title)
    axes.set_ylim(bottom=0)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
