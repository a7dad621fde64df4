"""Start the inference service: ``serve`` for tests and launchers, ``main`` for ``ser serve inference``.

Readiness: grpc health reports ``ser.v1.Emotion/<model name>`` SERVING once a version of that model
is loaded (the overall ``""`` and ``ser.v1.Emotion`` entries are SERVING as soon as the port is up).
"""
from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2
from ser.v1 import emotion_pb2, emotion_pb2_grpc

from services.common.logs import configure_logging
from services.common.runtime import configure_torch
from services.common.server import build_server, stop_server
from services.inference.config import InferenceConfig
from services.inference.metrics import InferenceMetrics
from services.inference.servicer import EmotionServicer
from shared.registry import ModelRegistry
from shared.registry.bundled import seed_registry
from shared.settings import Settings
from shared.speaker.encoder import SpeakerEncoder

NAME = "inference"
SERVICE_NAME = emotion_pb2.DESCRIPTOR.services_by_name["Emotion"].full_name  # "ser.v1.Emotion"
log = logging.getLogger("ser.server")


@dataclass
class InferenceServer:
    server: grpc.Server
    port: int
    servicer: EmotionServicer
    metrics_port: int | None = None
    _health: object = None
    _http: object = field(default=None, repr=False)

    def stop(self, grace: float = 5.0) -> None:
        stop_server(self.server, self._health, grace)
        self.servicer.stop()
        if self._http is not None:
            self._http.shutdown()


def serve(settings: Settings, *, port: int | None = None, config: InferenceConfig | None = None,
          registry: ModelRegistry | None = None, device: str | None = None,
          encoder: SpeakerEncoder | None = None) -> InferenceServer:
    """A started server (non-blocking); ``port=0`` binds an ephemeral port. Models are preloaded first."""
    config = config or InferenceConfig.from_env()
    metrics = InferenceMetrics()
    servicer = EmotionServicer(settings, config, device or configure_torch(settings), registry=registry,
                               metrics=metrics, encoder=encoder)

    def register(server: grpc.Server) -> None:
        emotion_pb2_grpc.add_EmotionServicer_to_server(servicer, server)

    server, bound, health = build_server(NAME, settings, register, port=port, health_services=[SERVICE_NAME])
    serving, not_serving = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
    servicer.on_ready(lambda name, ready: health.set(f"{SERVICE_NAME}/{name}", serving if ready else not_serving))
    servicer.start()
    http, metrics_port = (None, None) if config.metrics_port is None else metrics.serve_http(config.metrics_port)
    server.start()
    log.info("%s listening on port %d (metrics %s)", NAME, bound, metrics_port, extra={"service": NAME, "port": bound})
    return InferenceServer(server, bound, servicer, metrics_port, health, http)


def main(port: int | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT."""
    settings = Settings.from_env()
    configure_logging(settings)
    seeded = seed_registry(settings.artifacts_dir / "registry")  # the committed default model, if missing
    if seeded:
        log.info("added bundled models %s to the registry", seeded)
    handle = serve(settings, port=port)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.wait()
    finally:
        handle.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    main()
