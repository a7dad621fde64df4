"""Start the speaker service: ``serve`` for tests and launchers, ``main`` for ``ser serve speaker``."""
from __future__ import annotations

import grpc
from ser.v1 import speaker_pb2, speaker_pb2_grpc

from services.common.logs import configure_logging
from services.common.runtime import configure_torch
from services.common.server import registrar, serve_forever, start_server
from services.speaker.servicer import SpeakerServicer
from shared.settings import Settings
from shared.speaker.encoder import SpeakerEncoder

NAME = "speaker"
SERVICE_NAME = speaker_pb2.DESCRIPTOR.services_by_name["Speaker"].full_name  # "ser.v1.Speaker"


def serve(settings: Settings, *, port: int | None = None, encoder: SpeakerEncoder | None = None) -> tuple[grpc.Server, int]:
    """A started server (non-blocking). ``port=0`` binds an ephemeral port, returned with the server."""
    servicer = SpeakerServicer(settings, encoder=encoder)
    register = registrar(speaker_pb2_grpc.add_SpeakerServicer_to_server, servicer)
    return start_server(NAME, settings, register, port=port, health_services=[SERVICE_NAME])


def main(port: int | None = None) -> None:
    """Run in the foreground until SIGTERM/SIGINT."""
    settings = Settings.from_env()
    configure_logging(settings)
    device = configure_torch(settings)
    serve_forever(NAME, settings, registrar(speaker_pb2_grpc.add_SpeakerServicer_to_server,
                                            SpeakerServicer(settings, encoder=None, device=device)),
                  port=port, health_services=[SERVICE_NAME])


if __name__ == "__main__":
    main()
