"""Start the preprocess service: ``serve`` for tests and launchers, ``main`` for ``ser serve preprocess``."""
from __future__ import annotations

import grpc
from ser.v1 import preprocess_pb2, preprocess_pb2_grpc

from services.common.logs import configure_logging
from services.common.runtime import configure_torch
from services.common.server import registrar, serve_forever, start_server
from services.preprocess.servicer import PreprocessServicer
from shared.audio.vad import SileroVad
from shared.settings import Settings

NAME = "preprocess"
SERVICE_NAME = preprocess_pb2.DESCRIPTOR.services_by_name["Preprocess"].full_name  # "ser.v1.Preprocess"


def serve(settings: Settings, *, port: int | None = None, vad: SileroVad | None = None) -> tuple[grpc.Server, int]:
    """A started server (non-blocking). ``port=0`` binds an ephemeral port, returned with the server."""
    servicer = PreprocessServicer(settings, vad=vad)
    register = registrar(preprocess_pb2_grpc.add_PreprocessServicer_to_server, servicer)
    return start_server(NAME, settings, register, port=port, health_services=[SERVICE_NAME])


def main(port: int | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT."""
    settings = Settings.from_env()
    configure_logging(settings)
    configure_torch(settings)
    serve_forever(NAME, settings, registrar(preprocess_pb2_grpc.add_PreprocessServicer_to_server,
                                            PreprocessServicer(settings, vad=None)),
                  port=port, health_services=[SERVICE_NAME])


if __name__ == "__main__":
    main()
