"""Start the features service: ``serve`` for tests and launchers, ``main`` for ``ser serve features``."""
from __future__ import annotations

import grpc
from ser.v1 import features_pb2, features_pb2_grpc

from services.common.logs import configure_logging
from services.common.runtime import configure_torch
from services.common.server import registrar, serve_forever, start_server
from services.features.engine import FeatureEngine
from services.features.servicer import FeaturesServicer
from services.inference.config import InferenceConfig
from shared.settings import Settings

NAME = "features"
SERVICE_NAME = features_pb2.DESCRIPTOR.services_by_name["Features"].full_name  # "ser.v1.Features"


def serve(settings: Settings, *, port: int | None = None, engine: FeatureEngine | None = None) -> tuple[grpc.Server, int]:
    """A started server (non-blocking). ``port=0`` binds an ephemeral port, returned with the server."""
    servicer = FeaturesServicer(settings, engine=engine)
    register = registrar(features_pb2_grpc.add_FeaturesServicer_to_server, servicer)
    return start_server(NAME, settings, register, port=port, health_services=[SERVICE_NAME])


def main(port: int | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT."""
    settings = Settings.from_env()
    configure_logging(settings)
    engine = FeatureEngine(settings.artifacts_dir, device=configure_torch(settings),
                           workers=InferenceConfig.from_env().feature_threads)  # the same SER_FEATURE_THREADS
    serve_forever(NAME, settings, registrar(features_pb2_grpc.add_FeaturesServicer_to_server,
                                            FeaturesServicer(settings, engine=engine)),
                  port=port, health_services=[SERVICE_NAME])


if __name__ == "__main__":
    main()
