"""Prometheus metrics in the text exposition format, served at /monitoring/prometheus/metrics.

Names follow TF Serving's (`:tensorflow:serving:...`): request counts per model and status, request
latency histograms (microseconds) per model, API and entrypoint, and batch size histograms per model
and signature. One gauge of our own (TF Serving has no per-model admission):
`:kerasnlp_lab:serving:predict_requests` per model and state (running, queued).
"""

import bisect
import threading
from collections.abc import Callable, Iterable

PROMETHEUS_PATH = "/monitoring/prometheus/metrics"
REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"
PREDICT_REQUESTS = ":kerasnlp_lab:serving:predict_requests"
# Bucket upper bounds: latency in microseconds (10 us .. ~100 s), batch sizes in rows.
LATENCY_BUCKETS = tuple(10 * 1.8**power for power in range(28))
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

Labels = tuple[tuple[str, str], ...]


class _Histogram:
    def __init__(self, bounds: Iterable[float]):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value


class Metrics:
    """Thread-safe counters and histograms, rendered as Prometheus text."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], int] = {}
        self._histograms: dict[tuple[str, Labels], _Histogram] = {}
        self._requests_now: Callable[[], dict[str, tuple[int, int]]] = dict

    def watch_predict_requests(
        self, requests_now: Callable[[], dict[str, tuple[int, int]]]
    ) -> None:
        """Where the gauge of predict requests comes from: {model: (running, queued)} at render
        time."""
        self._requests_now = requests_now

    def observe_request(
        self, model_name: str, api: str, entrypoint: str, status: str, seconds: float
    ) -> None:
        """One finished request: api is e.g. "predict", entrypoint "REST" or "GRPC", status "OK" or
        an error code name."""
        with self._lock:
            key = (REQUEST_COUNT, (("model_name", model_name), ("status", status)))
            self._counters[key] = self._counters.get(key, 0) + 1
            self._histogram(
                REQUEST_LATENCY,
                (("API", api), ("entrypoint", entrypoint), ("model_name", model_name)),
                LATENCY_BUCKETS,
            ).observe(seconds * 1e6)

    def observe_batch(self, model_name: str, signature_name: str, rows: int) -> None:
        """One batch run by the batching layer."""
        with self._lock:
            self._histogram(
                BATCH_SIZE,
                (("model_name", model_name), ("signature_name", signature_name)),
                BATCH_SIZE_BUCKETS,
            ).observe(rows)

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format (version 0.0.4)."""
        lines = []
        with self._lock:
            counters = sorted(self._counters.items())
            histograms = sorted(self._histograms.items(), key=lambda item: item[0])
            for name in sorted({name for (name, _), _ in counters}):
                lines.append(f"# TYPE {name} counter")
                lines.extend(
                    f"{name}{_labels_text(labels)} {value}"
                    for (metric, labels), value in counters
                    if metric == name
                )
            for name in sorted({name for (name, _), _ in histograms}):
                lines.append(f"# TYPE {name} histogram")
                for (metric, labels), histogram in histograms:
                    if metric == name:
                        lines.extend(_histogram_lines(name, labels, histogram))
        requests_now = self._requests_now()
        if requests_now:
            lines.append(f"# TYPE {PREDICT_REQUESTS} gauge")
            for model, (running, queued) in sorted(requests_now.items()):
                for state, count in (("queued", queued), ("running", running)):
                    labels = _labels_text((("model_name", model), ("state", state)))
                    lines.append(f"{PREDICT_REQUESTS}{labels} {count}")
        return "\n".join(lines) + "\n"

    def _histogram(self, name: str, labels: Labels, bounds: tuple) -> _Histogram:
        key = (name, labels)
        if key not in self._histograms:
            self._histograms[key] = _Histogram(bounds)
        return self._histograms[key]


def _histogram_lines(name: str, labels: Labels, histogram: _Histogram) -> list[str]:
    lines, cumulative = [], 0
    for bound, count in zip(histogram.bounds + (float("inf"),), histogram.counts, strict=True):
        cumulative += count
        bound_text = "+Inf" if bound == float("inf") else f"{bound:.6g}"
        lines.append(f"{name}_bucket{_labels_text(labels + (('le', bound_text),))} {cumulative}")
    lines.append(f"{name}_sum{_labels_text(labels)} {histogram.total}")
    lines.append(f"{name}_count{_labels_text(labels)} {cumulative}")
    return lines


def _labels_text(labels: Labels) -> str:
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for _, value in labels
    )
    return (
        "{"
        + ",".join(f'{key}="{value}"' for (key, _), value in zip(labels, escaped, strict=True))
        + "}"
    )
