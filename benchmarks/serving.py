"""Serving benchmark: the embedded TF-Serving-compatible server vs calling the same SavedModel
signature in-process, on loopback, in one run.

Model: a dense 784 -> 256 -> 784 network (the autoencoder's shape), float32, one row per request.
For 1, 8 and 32 concurrent clients (threads, each with its own ServingClient), over REST and gRPC,
with batching off and on, it prints requests/s, p50/p99 latency, the mean rows per batch, and
ratios:
  p50 / in-process p50    latency overhead over calling the signature in-process with batch 1
  req/s / in-process      throughput over in-process rows/s at batch 1 (one caller)
  vs in-process batch N   (batching on) throughput over in-process rows/s at batch N = clients
  on / off                batching on over batching off, same transport and clients
The server runs in its own process (as `kerasnlp-lab serve` would); clients and server share this
machine's cores. Every run is bounded by a request count and a time limit.

Then the Transformer translator (`small` preset sizes, random weights: decoding time does not depend
on the weight values, and random weights never emit [END], so every sentence decodes to the maximum
length): 32 concurrent clients, one sentence per request, batching off and on (the export's own
batching_params.pbtxt, served with --enable-per-model-batching-parameters and the batch threads of
serving/batching_parameters.txt; or --translator-batching-file for every model), sentences/s over
REST and gRPC, the on / off ratio and the mean rows per batch.
"""

import argparse
import contextlib
import json
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerasnlp_lab.export.batching_params import BATCHING_PARAMS_FILE
from kerasnlp_lab.serving.client import ServingClient

REPO_ROOT = Path(__file__).resolve().parents[1]
# The shipped batching file: with per-model parameters, it gives the batch threads.
SHIPPED_BATCHING_FILE = REPO_ROOT / "serving" / "batching_parameters.txt"
TRANSLATOR_CLIENTS = 32
TRANSLATOR_SENTENCE = "En el principio creó Dios los cielos y la tierra."

INPUT_SIZE, HIDDEN_SIZE = 784, 256
CONCURRENCY = (1, 8, 32)
IN_PROCESS_BATCH_SIZES = (1, 8, 32)
MAX_REQUESTS_PER_RUN = 800
MAX_SECONDS_PER_RUN = 4.0
WARMUP_REQUESTS = 5
STARTUP_SECONDS = 180.0
BATCHING_PARAMETERS = """max_batch_size { value: 32 }
batch_timeout_micros { value: 1000 }
max_enqueued_batches { value: 100 }
num_batch_threads { value: 2 }
"""
SERVE = (
    "import json, sys; from kerasnlp_lab.serving.server import serve_forever; "
    "serve_forever(sys.argv[1], rest_port=0, grpc_port=0, **json.loads(sys.argv[2]))"
)


class DenseModel(tf.Module):
    """images float32 [-1, 784] -> reconstructions float32 [-1, 784] through a 256-unit layer."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.encoder = tf.Variable(
            rng.normal(0, 0.05, (INPUT_SIZE, HIDDEN_SIZE)).astype(np.float32)
        )
        self.decoder = tf.Variable(
            rng.normal(0, 0.05, (HIDDEN_SIZE, INPUT_SIZE)).astype(np.float32)
        )

    @tf.function(input_signature=[tf.TensorSpec([None, INPUT_SIZE], tf.float32, name="images")])
    def reconstruct(self, images):
        code = tf.nn.relu(tf.matmul(images, self.encoder))  # (B, 256)
        return {"reconstructions": tf.sigmoid(tf.matmul(code, self.decoder))}  # (B, 784)


def percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(latencies, q) * 1000)


def measure_in_process(version_folder: Path) -> dict[int, dict]:
    """Calls/s, rows/s and p50 latency of the loaded signature, one caller, per batch size."""
    signature = tf.saved_model.load(str(version_folder)).signatures["serving_default"]
    rng = np.random.default_rng(1)
    results = {}
    for batch in IN_PROCESS_BATCH_SIZES:
        images = rng.random((batch, INPUT_SIZE), np.float32)
        for _ in range(WARMUP_REQUESTS):
            signature(images=tf.constant(images))["reconstructions"].numpy()
        latencies, started = [], time.perf_counter()
        while (
            len(latencies) < MAX_REQUESTS_PER_RUN
            and time.perf_counter() - started < MAX_SECONDS_PER_RUN
        ):
            begin = time.perf_counter()
            signature(images=tf.constant(images))["reconstructions"].numpy()
            latencies.append(time.perf_counter() - begin)
        elapsed = time.perf_counter() - started
        results[batch] = {
            "calls_per_s": len(latencies) / elapsed,
            "rows_per_s": batch * len(latencies) / elapsed,
            "p50_ms": percentile_ms(latencies, 50),
        }
    return results


def paced_in_process_p50(version_folder: Path, gap_seconds: float) -> float:
    """p50 ms of the loaded signature at batch 1, called once every `gap_seconds` of idle time.

    A tight loop keeps TensorFlow's thread pools spinning and the caches warm; a server sees
    one request per round trip, so its call starts cold. This is the call at that pace.
    """
    signature = tf.saved_model.load(str(version_folder)).signatures["serving_default"]
    images = np.random.default_rng(1).random((1, INPUT_SIZE), np.float32)
    for _ in range(WARMUP_REQUESTS):
        signature(images=tf.constant(images))["reconstructions"].numpy()
    latencies = []
    while len(latencies) < MAX_REQUESTS_PER_RUN:
        time.sleep(gap_seconds)
        begin = time.perf_counter()
        signature(images=tf.constant(images))["reconstructions"].numpy()
        latencies.append(time.perf_counter() - begin)
    return percentile_ms(latencies, 50)


@contextlib.contextmanager
def server_process(saved_models: Path, batching_file: Path | None, per_model: bool = False):
    """A `serve_forever` subprocess (batching with `batching_file`, and with each version's own
    batching_params.pbtxt if `per_model`); yields (rest_port, grpc_port)."""
    options = {
        "batching_parameters_file": str(batching_file) if batching_file else None,
        "enable_per_model_batching_parameters": per_model,
    }
    arguments = [sys.executable, "-c", SERVE, str(saved_models), json.dumps(options)]
    process = subprocess.Popen(
        arguments, cwd=REPO_ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        match = None
        deadline = time.monotonic() + STARTUP_SECONDS
        while match is None:
            if process.poll() is not None:
                raise RuntimeError("the server exited before serving")
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError("the server did not start in time") from None
            match = re.search(
                r"Serving REST on http://127\.0\.0\.1:(\d+)/\S+ and gRPC on 127\.0\.0\.1:(\d+)",
                line,
            )
        yield int(match.group(1)), int(match.group(2))
    finally:
        process.terminate()
        process.wait(timeout=60)


def batch_totals(rest_port: int) -> tuple[float, float]:
    """(batches run, rows run) so far over every model and signature, from the server's
    Prometheus metrics."""
    with urllib.request.urlopen(
        f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics", timeout=30
    ) as reply:
        text = reply.read().decode()
    totals = {
        suffix: sum(
            float(value)
            for value in re.findall(r"processed_batch_size_" + suffix + r"\{[^}]*\} (\S+)", text)
        )
        for suffix in ("count", "sum")
    }
    return totals["count"], totals["sum"]


def export_small_transformer(saved_models: Path) -> None:
    """transformer_translator/1: the `small` preset's sizes and vocabularies, random weights."""
    from kerasnlp_lab.export import transformer as transformer_export
    from kerasnlp_lab.models import transformer
    from kerasnlp_lab.text.vectorizer import RESERVED_TOKENS, WordVectorizer

    config = transformer.get_config("small")
    words = sorted(set(TRANSLATOR_SENTENCE.lower().replace(".", " .").split()))

    def vocabulary(size):
        return (
            list(RESERVED_TOKENS)
            + words
            + [f"w{index}" for index in range(size - len(RESERVED_TOKENS) - len(words))]
        )

    source, target = (
        WordVectorizer(vocabulary(config.source_vocab_size)),
        WordVectorizer(vocabulary(config.target_vocab_size), lowercase=False),
    )
    model = transformer.build_model(config, config.source_vocab_size, config.target_vocab_size)
    serving = transformer_export.make_serving(model, source, target, config)
    transformer_export.export_serving(serving, str(saved_models), version=1)


def run_translator_load(url: str, seconds: float) -> dict:
    """Sentences/s of TRANSLATOR_CLIENTS threads each translating one sentence per request."""
    done, failures, stop = [], [], threading.Event()
    barrier = threading.Barrier(TRANSLATOR_CLIENTS + 1)

    def client():
        with ServingClient(url, timeout=600) as own:
            own.predict("transformer_translator", {"text": [TRANSLATOR_SENTENCE]})
            barrier.wait()
            while not stop.is_set():
                try:
                    own.predict("transformer_translator", {"text": [TRANSLATOR_SENTENCE]})
                except Exception as error:  # reported after the run
                    failures.append(repr(error))
                    return
                done.append(time.perf_counter())

    threads = [threading.Thread(target=client) for _ in range(TRANSLATOR_CLIENTS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    counted = [moment for moment in done if moment <= started + seconds]
    return {"sentences": len(counted), "per_s": len(counted) / seconds}


def translator_batching(folder: Path, seconds: float, batching_file: Path | None) -> None:
    """Batching off against on: the export's own batching_params.pbtxt (batch threads from
    serving/batching_parameters.txt), or `batching_file` for every model when given."""
    saved_models = folder / "translator_models"
    print("Exporting a `small` Transformer translator with random weights ...", flush=True)
    export_small_transformer(saved_models)
    if batching_file is None:
        on = {"batching_file": SHIPPED_BATCHING_FILE, "per_model": True}
        parameters_file = saved_models / "transformer_translator" / "1" / BATCHING_PARAMS_FILE
    else:
        on, parameters_file = {"batching_file": batching_file}, batching_file
    results = {}
    for batching in (False, True):
        with server_process(saved_models, **(on if batching else {"batching_file": None})) as (
            rest_port,
            grpc_port,
        ):
            for transport, url in (
                ("REST", f"http://127.0.0.1:{rest_port}"),
                ("gRPC", f"grpc://127.0.0.1:{grpc_port}"),
            ):
                before = batch_totals(rest_port)
                results[(transport, batching)] = run_translator_load(url, seconds)
                after = batch_totals(rest_port)
                batches = after[0] - before[0]
                results[(transport, batching)]["mean_batch"] = (
                    (after[1] - before[1]) / batches if batches else 1.0
                )
    print(
        f"Transformer translator (small, random weights), {TRANSLATOR_CLIENTS} clients, "
        f"one sentence per request, {seconds:.0f} s per run. Batching parameters (on, "
        f"{parameters_file.name}): "
        + " ".join(
            line for line in parameters_file.read_text().splitlines() if not line.startswith("#")
        )
    )
    print(
        f"{'transport':>9} {'off sent/s':>10} {'on sent/s':>10} {'on / off':>8} "
        f"{'rows/batch (on)':>15}"
    )
    for transport in ("REST", "gRPC"):
        off, on = results[(transport, False)], results[(transport, True)]
        print(
            f"{transport:>9} {off['per_s']:10.2f} {on['per_s']:10.2f} "
            f"{on['per_s'] / off['per_s']:8.2f} {on['mean_batch']:15.1f}"
        )


def run_load(url: str, clients: int) -> dict:
    """req/s, p50 and p99 of `clients` threads sending one-row predicts until the run's bounds."""
    rng = np.random.default_rng(2)
    images = rng.random((1, INPUT_SIZE), np.float32)
    latencies: list[float] = []
    lock, failures = threading.Lock(), []
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def client():
        with ServingClient(url) as own:
            for _ in range(WARMUP_REQUESTS):
                own.predict("dense", {"images": images})
            barrier.wait()
            while not stop.is_set():
                begin = time.perf_counter()
                try:
                    own.predict("dense", {"images": images})
                except Exception as error:  # reported after the run
                    failures.append(repr(error))
                    return
                with lock:
                    latencies.append(time.perf_counter() - begin)
                    if len(latencies) >= MAX_REQUESTS_PER_RUN:
                        stop.set()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    stop.wait(MAX_SECONDS_PER_RUN)
    stop.set()
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return {
        "requests": len(latencies),
        "req_per_s": len(latencies) / elapsed,
        "p50_ms": percentile_ms(latencies, 50),
        "p99_ms": percentile_ms(latencies, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--translator-seconds",
        type=float,
        default=30.0,
        help="length of each translator run (default 30; 0 skips the translator)",
    )
    parser.add_argument(
        "--translator-only", action="store_true", help="only the translator's batching ratio"
    )
    parser.add_argument(
        "--translator-batching-file",
        type=Path,
        default=None,
        help="batching parameters for the translator (default: its export's own "
        "batching_params.pbtxt, served with --enable-per-model-batching-parameters)",
    )
    args = parser.parse_args()
    if args.translator_only:
        with tempfile.TemporaryDirectory() as folder:
            translator_batching(
                Path(folder), args.translator_seconds, args.translator_batching_file
            )
        return
    with tempfile.TemporaryDirectory() as folder:
        saved_models = Path(folder) / "saved_models"
        version = saved_models / "dense" / "1"
        model = DenseModel()
        tf.saved_model.save(model, str(version), signatures={"serving_default": model.reconstruct})
        batching_file = Path(folder) / "batching_parameters.txt"
        batching_file.write_text(BATCHING_PARAMETERS)

        reference = measure_in_process(version)
        print(
            f"Model: dense {INPUT_SIZE}->{HIDDEN_SIZE}->{INPUT_SIZE} float32; requests of 1 row; "
            f"runs bounded by {MAX_REQUESTS_PER_RUN} requests or {MAX_SECONDS_PER_RUN:.0f} s."
        )
        print("In-process signature call, one caller:")
        for batch, result in reference.items():
            print(
                f"  batch {batch:>2}: {result['calls_per_s']:8.0f} calls/s  "
                f"{result['rows_per_s']:8.0f} rows/s  p50 {result['p50_ms']:.3f} ms"
            )
        print("Batching parameters (on): " + " ".join(BATCHING_PARAMETERS.split()))

        results = {}
        for batching in (False, True):
            with server_process(saved_models, batching_file if batching else None) as (
                rest_port,
                grpc_port,
            ):
                for transport, url in (
                    ("REST", f"http://127.0.0.1:{rest_port}"),
                    ("gRPC", f"grpc://127.0.0.1:{grpc_port}"),
                ):
                    for clients in CONCURRENCY:
                        before = batch_totals(rest_port)
                        result = run_load(url, clients)
                        after = batch_totals(rest_port)
                        batches, rows = after[0] - before[0], after[1] - before[1]
                        result["mean_batch"] = rows / batches if batches else 1.0
                        results[(transport, batching, clients)] = result

        base = reference[1]
        header = (
            f"{'transport':>9} {'batching':>8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'rows/batch':>10} {'p50/in-proc':>11} {'req/s/in-proc':>13} "
            f"{'vs in-proc batch N':>18} {'on/off':>6}"
        )
        print(header)
        for (transport, batching, clients), result in results.items():
            off = results[(transport, False, clients)]
            versus_batch = (
                f"{result['req_per_s'] / reference[clients]['rows_per_s']:.3f}" if batching else ""
            )
            on_off = f"{result['req_per_s'] / off['req_per_s']:.2f}" if batching else ""
            print(
                f"{transport:>9} {'on' if batching else 'off':>8} {clients:>7} "
                f"{result['req_per_s']:8.0f} {result['p50_ms']:8.2f} {result['p99_ms']:8.2f} "
                f"{result['mean_batch']:10.1f} {result['p50_ms'] / base['p50_ms']:11.1f} "
                f"{result['req_per_s'] / base['rows_per_s']:13.3f} {versus_batch:>18} {on_off:>6}"
            )
        rest = results[("REST", False, 1)]
        gap = max(0.0, rest["p50_ms"] - base["p50_ms"]) / 1000
        paced = paced_in_process_p50(version, gap)
        print(
            f"In-process batch 1 called at one REST client's pace ({gap * 1000:.2f} ms idle "
            f"between calls): p50 {paced:.3f} ms (tight loop {base['p50_ms']:.3f} ms); "
            f"REST p50 / that = {rest['p50_ms'] / paced:.1f}"
        )
        if args.translator_seconds > 0:
            translator_batching(
                Path(folder), args.translator_seconds, args.translator_batching_file
            )


if __name__ == "__main__":
    main()
