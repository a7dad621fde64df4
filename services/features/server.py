"""Start the features service: ``serve`` for tests and launchers, ``main`` for ``ser serve features``."""
from __future__ import annotations

import grpc
from ser.v1 import features_pb2, features_pb2_grpc

from services.common.logs import configure_logging
from services.common.runtime import configure_torch
from services.common.server import build_server, serve_forever
from services.features.engine import FeatureEngine
from services.features.servicer import FeaturesServicer
from shared.settings import Settings

NAME = "features"
SERVICE_NAME = features_pb2.DESCRIPTOR.services_by_name["Features"].full_name  # "ser.v1.Features"


def _register(settings: Settings, engine: FeatureEngine | None):
    servicer = FeaturesServicer(settings, engine=engine)

    def register(server: grpc.Server) -> None:
        features_pb2_grpc.add_FeaturesServicer_to_server(servicer, server)

    return register


def serve(settings: Settings, *, port: int | None = None, engine: FeatureEngine | None = None) -> tuple[grpc.Server, int]:
    """A started server (non-blocking). ``port=0`` binds an ephemeral port, returned with the server."""
    server, bound, _health = build_server(
        NAME, settings, _register(settings, engine), port=port, health_services=[SERVICE_NAME]
    )
    server.start()
    return server, bound


def main(port: int | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT."""
    settings = Settings.from_env()
    configure_logging(settings)
    device = configure_torch(settings)
    engine = FeatureEngine(settings.artifacts_dir, device=device)
    serve_forever(NAME, settings, _register(settings, engine), port=port, health_services=[SERVICE_NAME])


if __name__ == "__main__":
    main()
