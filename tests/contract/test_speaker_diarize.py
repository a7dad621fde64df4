"""ser.v1.Speaker/Diarize over real gRPC (real GE2E): two synthetic voices taking turns in one channel,
and bad requests -> INVALID_ARGUMENT with the server still serving afterwards."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from ser.v1 import common_pb2, speaker_pb2, speaker_pb2_grpc

from services.common.client import channel
from services.speaker.server import serve
from shared.settings import Settings
from shared.speaker.encoder import Ge2eEncoder
from tests.contract.voices import voice

RATE = 16000
TURN_S = 3.0
VOICES = [voice(TURN_S, f0=105.0, formants=(650, 1100), seed=1), voice(TURN_S, f0=230.0, formants=(420, 2300), seed=2)]
ORDER = [1, 0, 1, 0]  # the high voice speaks first


def conversation() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Turns of 3 s separated by 0.5 s of silence; returns the signal and the speech regions (ms)."""
    gap = np.zeros(RATE // 2, dtype=np.float32)
    parts, regions, at = [gap], [], 500
    for who in ORDER:
        parts += [VOICES[who], gap]
        regions.append((at, at + int(1000 * TURN_S)))
        at += int(1000 * TURN_S) + 500
    return np.concatenate(parts), regions


def requests(config: speaker_pb2.DiarizeConfig, pcm: bytes, chunk: int = 32000) -> Iterator[speaker_pb2.DiarizeRequest]:
    yield speaker_pb2.DiarizeRequest(config=config)
    for start in range(0, len(pcm), chunk):
        yield speaker_pb2.DiarizeRequest(chunk=pcm[start : start + chunk])


def config(regions: list[tuple[int, int]], **options) -> speaker_pb2.DiarizeConfig:
    return speaker_pb2.DiarizeConfig(
        format=common_pb2.PcmFormat(sample_rate_hz=RATE, channels=1, encoding=common_pb2.PCM_ENCODING_F32LE),
        speech=[common_pb2.Segment(start_ms=a, end_ms=b) for a, b in regions], request_id="t", **options)


@pytest.fixture(scope="module")
def stub() -> Iterator[speaker_pb2_grpc.SpeakerStub]:
    settings = dataclasses.replace(Settings.from_env(env={}), grpc_workers=4)
    server, port = serve(settings, port=0, encoder=Ge2eEncoder(device="cpu"))
    with channel(f"127.0.0.1:{port}", settings) as ch:
        yield speaker_pb2_grpc.SpeakerStub(ch)
    server.stop(0).wait()


def who_spoke(reply: speaker_pb2.DiarizeResponse, regions: list[tuple[int, int]]) -> list[str]:
    """The participant holding most of each region."""
    out = []
    for a, b in regions:
        held: dict[str, int] = {}
        for t in reply.turns:
            held[t.segment.speaker] = held.get(t.segment.speaker, 0) + max(0, min(b, t.segment.end_ms) -
                                                                              max(a, t.segment.start_ms))
        out.append(max(held, key=held.get))
    return out


def test_two_voices_become_agent_then_customer(stub):
    x, regions = conversation()
    reply = stub.Diarize(requests(config(regions), x.astype("<f4").tobytes()), timeout=60)
    assert reply.request_id == "t" and reply.num_speakers == 2
    assert list(reply.participants) == ["agent", "customer"]
    assert who_spoke(reply, regions) == ["agent", "customer", "agent", "customer"]
    assert all(regions[0][0] <= t.segment.start_ms < t.segment.end_ms <= regions[-1][1] for t in reply.turns)


def test_roles_and_a_given_speaker_count_are_honoured(stub):
    x, regions = conversation()
    reply = stub.Diarize(requests(config(regions, num_speakers=2, first_speaker_role="customer"),
                                  x.astype("<f4").tobytes()), timeout=60)
    assert who_spoke(reply, regions) == ["customer", "agent", "customer", "agent"]
    one = stub.Diarize(requests(config(regions, num_speakers=1, roles=["caller"]), x.astype("<f4").tobytes()),
                       timeout=60)
    assert list(one.participants) == ["caller"] and {t.segment.speaker for t in one.turns} == {"caller"}


@pytest.mark.parametrize(("bad", "message"), [
    (lambda r: config(r, num_speakers=5), "num_speakers must be 0"),
    (lambda r: config(r, max_speakers=9), "max_speakers"),
    (lambda r: config(r, first_speaker_role="boss"), "not one of the roles"),
    (lambda r: config([(2000, 1000)]), "empty or negative"),
    (lambda r: speaker_pb2.DiarizeConfig(format=common_pb2.PcmFormat(sample_rate_hz=RATE, channels=2)), "one channel"),
])
def test_bad_options_are_invalid_argument_and_the_server_still_serves(stub, bad, message):
    x, regions = conversation()
    pcm = x.astype("<f4").tobytes()
    with pytest.raises(grpc.RpcError) as err:
        stub.Diarize(requests(bad(regions), pcm), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in err.value.details()
    assert stub.Diarize(requests(config(regions), pcm), timeout=60).num_speakers == 2


def test_garbage_stream_is_invalid_argument(stub):
    garbage = [speaker_pb2.DiarizeRequest(chunk=b"\x01\x02\x03")]
    with pytest.raises(grpc.RpcError) as err:
        stub.Diarize(iter(garbage), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "first Diarize message" in err.value.details()
    x, regions = conversation()
    with pytest.raises(grpc.RpcError) as err:  # 3 bytes of f32 are not a whole sample
        stub.Diarize(requests(config(regions), b"\x01\x02\x03"), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stub.Diarize(requests(config(regions), x.astype("<f4").tobytes()), timeout=60).num_speakers == 2


def test_any_rate_and_encoding_with_frames_split_across_chunks(stub):
    """8 kHz 16-bit PCM in 1001-byte chunks (frames straddle them): resampled to 16 kHz on the way in, and
    the same participants as the 16 kHz float original."""
    from shared.audio.resample import resample_array

    x, regions = conversation()
    pcm = (np.clip(resample_array(x, RATE, 8000), -1, 1) * 32767).astype("<i2").tobytes()
    cfg = config(regions)
    cfg.format.CopyFrom(common_pb2.PcmFormat(sample_rate_hz=8000, channels=1, encoding=common_pb2.PCM_ENCODING_S16LE))
    reply = stub.Diarize(requests(cfg, pcm, chunk=1001), timeout=60)
    assert who_spoke(reply, regions) == ["agent", "customer", "agent", "customer"]
