"""Small gRPC calls the CLI makes to a running stack."""
from __future__ import annotations

from ser.v1 import common_pb2, preprocess_pb2, preprocess_pb2_grpc

from shared.audio.types import Segment
from shared.settings import Settings

NORMALIZATION = {"none": preprocess_pb2.NORMALIZATION_NONE, "peak": preprocess_pb2.NORMALIZATION_PEAK,
                 "loudness": preprocess_pb2.NORMALIZATION_LOUDNESS}


def prepare_remote(data: bytes, settings: Settings, *, keep_channels: bool = True, normalize: str = "none",
                   timeout_s: float = 60.0) -> tuple[float, list[Segment]]:
    from services.common.client import channel

    with channel(settings.address("preprocess"), settings, service="preprocess") as ch:
        stub = preprocess_pb2_grpc.PreprocessStub(ch)
        request = preprocess_pb2.PrepareRequest(
            audio=common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data)),
            options=preprocess_pb2.PrepareOptions(mix_down=not keep_channels, normalization=NORMALIZATION[normalize]),
        )
        reply = stub.Prepare(request, timeout=timeout_s)
    segments = [Segment(channel=s.channel, start_ms=s.start_ms, end_ms=s.end_ms, speaker=s.speaker)
                for s in reply.segments]
    return reply.duration_s, segments
