"""The gateway's clients of the other services, and the deadline each downstream call gets.

Every call carries the caller's remaining time (minus a small margin for the gateway's own work),
so a downstream service never works for a client that has given up. Channels come from
``services.common.client.channel`` (which sends SER_SERVICE_TOKEN): idempotent methods retry UNAVAILABLE with backoff (about
0.7 s over 4 attempts), and nothing waits for a service to come up (no ``wait_for_ready``), so a
dead downstream service gives the client UNAVAILABLE promptly instead of a hang.
"""
from __future__ import annotations

import grpc
from ser.v1 import emotion_pb2_grpc, features_pb2_grpc, preprocess_pb2_grpc, speaker_pb2_grpc

from services.common.client import channel
from services.common.deadlines import RequestExpired, remaining_s
from shared.settings import Settings

MARGIN_S = 0.05
DEFAULT_TIMEOUT_S = 600.0


def downstream_timeout(context: grpc.ServicerContext, default_s: float = DEFAULT_TIMEOUT_S) -> float:
    """Seconds a downstream call may take: the caller's remaining time less a margin, else ``default_s``."""
    remaining = remaining_s(context)
    if remaining is None:
        return default_s
    if remaining - MARGIN_S <= 0:
        raise RequestExpired(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before calling a downstream service")
    return remaining - MARGIN_S


class Downstream:
    """Channels to preprocess, inference and speaker (embeddings with SER_PIPELINE=services, diarization of
    mono calls), and with SER_PIPELINE=services features; opened once per gateway and closed with it."""

    def __init__(self, settings: Settings) -> None:
        names = ("preprocess", "inference", "speaker") + (("features",) if settings.pipeline == "services" else ())
        self._channels = {name: channel(settings.address(name), settings, service=name) for name in names}
        self.preprocess = preprocess_pb2_grpc.PreprocessStub(self._channels["preprocess"])
        self.inference = emotion_pb2_grpc.EmotionStub(self._channels["inference"])
        self.speaker = speaker_pb2_grpc.SpeakerStub(self._channels["speaker"])
        self.features = features_pb2_grpc.FeaturesStub(self._channels["features"]) if "features" in names else None

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()
