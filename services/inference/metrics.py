"""Prometheus metrics of one inference server, in a registry the server owns (no process globals)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server

MODEL_LABELS = ("model", "version", "device")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class InferenceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("ser_inference_requests", "Predict requests (items) by outcome",
                                (*MODEL_LABELS, "method", "code"), registry=r)
        self.latency = Histogram("ser_inference_request_seconds", "RPC latency per request, s",
                                 (*MODEL_LABELS, "method"), buckets=LATENCY_BUCKETS, registry=r)
        self.queue = Histogram("ser_inference_queue_seconds", "time waiting in the batching queue, s",
                               MODEL_LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.compute = Histogram("ser_inference_compute_seconds", "forward pass time per batch, s",
                                 MODEL_LABELS, buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("ser_inference_batch_size", "requests combined in one forward pass",
                                    MODEL_LABELS, buckets=BATCH_BUCKETS, registry=r)
        self.batch_windows = Histogram("ser_inference_batch_windows", "input windows in one forward pass",
                                       MODEL_LABELS, buckets=BATCH_BUCKETS, registry=r)
        self.queue_depth = Gauge("ser_inference_queue_depth", "requests waiting", MODEL_LABELS, registry=r)
        self.ready = Gauge("ser_inference_model_ready", "1 when the model version is loaded and serving",
                           MODEL_LABELS, registry=r)
        self.reloads = Counter("ser_inference_registry_reloads", "registry changes picked up", registry=r)

    def expose(self) -> bytes:
        return generate_latest(self.registry)

    def serve_http(self, port: int, addr: str = "0.0.0.0"):
        """Start the /metrics endpoint; returns (server, bound port). Stop with ``server.shutdown()``."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server, int(server.server_address[1])
