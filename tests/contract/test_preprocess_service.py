"""ser.v1.Preprocess over real gRPC: an in-process server on an ephemeral port, a real client channel.

The audio is the committed synthetic sample call (agent on channel 0, customer on channel 1) or
numpy noise; nothing here needs the corpora.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import threading
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import soundfile as sf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ser.v1 import common_pb2, preprocess_pb2, preprocess_pb2_grpc

from services.common.client import channel
from services.common.convert import tensor_to_ndarray
from services.common.errors import ERROR_CODE_METADATA_KEY
from services.preprocess.server import serve
from shared.assets import sample_call_path, sample_call_turns
from shared.audio.vad import SileroVad
from shared.settings import Settings

MAX_MESSAGE = 2 * 1024 * 1024  # small, so "oversize" is cheap to build


@pytest.fixture(scope="module")
def server_settings() -> Settings:
    return dataclasses.replace(Settings.from_env(env={}), max_message_bytes=MAX_MESSAGE, grpc_workers=4)


@pytest.fixture(scope="module")
def address(server_settings: Settings) -> Iterator[str]:
    server, port = serve(server_settings, port=0, vad=SileroVad(device="cpu"))
    yield f"127.0.0.1:{port}"
    server.stop(0).wait()


@pytest.fixture(scope="module")
def chan(address: str, server_settings: Settings) -> Iterator[grpc.Channel]:
    # the client may send more than the server accepts, so the server's own limit is what is tested
    client_settings = dataclasses.replace(server_settings, max_message_bytes=16 * 1024 * 1024)
    with channel(address, client_settings) as ch:
        yield ch


@pytest.fixture(scope="module")
def stub(chan: grpc.Channel) -> preprocess_pb2_grpc.PreprocessStub:
    return preprocess_pb2_grpc.PreprocessStub(chan)


def _wav_request(data: bytes | None = None) -> preprocess_pb2.PrepareRequest:
    payload = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data or sample_call_path().read_bytes()))
    return preprocess_pb2.PrepareRequest(audio=payload, request_id="t")


def _covers_turns(segments, turns, tolerance_ms: int = 300) -> None:
    """Every scripted turn overlaps a segment on its own channel, labelled with its role."""
    for turn in turns:
        hits = [
            s for s in segments
            if s.channel == turn["channel"] and s.start_ms < turn["end_ms"] and s.end_ms > turn["start_ms"]
        ]
        assert hits, f"no segment for turn {turn['text']!r} on channel {turn['channel']}"
        assert all(h.speaker == turn["speaker"] for h in hits)
        assert min(h.start_ms for h in hits) >= turn["start_ms"] - tolerance_ms
        assert max(h.end_ms for h in hits) <= turn["end_ms"] + tolerance_ms


def test_prepare_sample_call_gives_segments_per_channel(stub) -> None:
    reply = stub.Prepare(_wav_request(), timeout=30)
    assert reply.request_id == "t"
    assert (reply.source_rate_hz, reply.source_channels, reply.sample_rate_hz) == (16000, 2, 16000)
    assert list(reply.roles) == ["agent", "customer"]
    assert reply.duration_s == pytest.approx(14.618, abs=0.01)
    assert {s.channel for s in reply.segments} == {0, 1}
    _covers_turns(reply.segments, sample_call_turns())
    starts = [(s.start_ms, s.channel) for s in reply.segments]
    assert starts == sorted(starts)


def test_garbage_is_invalid_argument_and_server_keeps_serving(stub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stub.Prepare(_wav_request(b"\x00garbage, not audio" * 100), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "decode" in err.value.details()
    assert (ERROR_CODE_METADATA_KEY, "corrupt_audio") in tuple(err.value.trailing_metadata())
    assert stub.Prepare(_wav_request(), timeout=30).segments


def test_empty_payload_and_bad_pcm_format_are_invalid_argument(stub) -> None:
    for request in (
        preprocess_pb2.PrepareRequest(),
        preprocess_pb2.PrepareRequest(
            audio=common_pb2.AudioPayload(raw=common_pb2.RawPcm(format=common_pb2.PcmFormat(sample_rate_hz=7), data=b"\0" * 64))
        ),
        preprocess_pb2.PrepareRequest(
            audio=common_pb2.AudioPayload(
                raw=common_pb2.RawPcm(
                    format=common_pb2.PcmFormat(
                        sample_rate_hz=8000, encoding=common_pb2.PCM_ENCODING_MULAW, sample_width_bytes=2
                    ),
                    data=b"\xff" * 8000,
                )
            )
        ),
    ):
        with pytest.raises(grpc.RpcError) as err:
            stub.Prepare(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()


def test_oversize_message_is_refused_and_server_keeps_serving(stub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stub.Prepare(_wav_request(b"\0" * (MAX_MESSAGE + 1024)), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Prepare(_wav_request(), timeout=30).segments


class _RpcLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def wait_for(self, method: str, timeout: float = 20.0) -> logging.LogRecord:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for r in self.records:
                if getattr(r, "method", "").endswith(method):
                    return r
            time.sleep(0.02)
        raise AssertionError(f"no access-log line for {method}")


def _noise_mulaw(seconds: float, rate: int = 8000, channels: int = 2) -> bytes:
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((int(seconds * rate), channels))).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="RAW", subtype="ULAW")
    return buf.getvalue()


def test_deadline_is_honoured(stub) -> None:
    log = logging.getLogger("ser.rpc")
    handler = _RpcLog()
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        fmt = common_pb2.PcmFormat(sample_rate_hz=8000, channels=2, encoding=common_pb2.PCM_ENCODING_MULAW)
        data = _noise_mulaw(110.0)  # 1.76 MB: under the limit, seconds of VAD work
        request = preprocess_pb2.PrepareRequest(
            audio=common_pb2.AudioPayload(raw=common_pb2.RawPcm(format=fmt, data=data))
        )
        start = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            stub.Prepare(request, timeout=0.2)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - start < 2.0
        record = handler.wait_for("/Prepare")
        assert record.status in ("DEADLINE_EXCEEDED", "CANCELLED")
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    assert stub.Prepare(_wav_request(), timeout=30).segments


def test_health_reports_serving(chan) -> None:
    health = health_pb2_grpc.HealthStub(chan)
    for service in ("", "ser.v1.Preprocess"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as err:
        health.Check(health_pb2.HealthCheckRequest(service="ser.v1.Nope"), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_service(chan) -> None:
    reflect = reflection_pb2_grpc.ServerReflectionStub(chan)
    replies = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert {"ser.v1.Preprocess", "grpc.health.v1.Health"} <= names


def _sample_call_pcm() -> tuple[bytes, int, int]:
    data, rate = sf.read(str(sample_call_path()), dtype="int16", always_2d=True)
    return data.astype("<i2").tobytes(), rate, data.shape[1]


def test_stream_prepare_yields_segments_of_both_channels_as_they_close(stub) -> None:
    pcm, rate, channels = _sample_call_pcm()
    chunk_bytes = 7999  # about 125 ms, deliberately splitting frames
    chunks = [pcm[i : i + chunk_bytes] for i in range(0, len(pcm), chunk_bytes)]
    first_segment = threading.Event()
    sent_when_first_seen: list[int] = []
    sent = 0

    def requests():
        nonlocal sent
        config = preprocess_pb2.StreamPrepareConfig(
            format=common_pb2.PcmFormat(sample_rate_hz=rate, channels=channels, encoding=common_pb2.PCM_ENCODING_S16LE),
            request_id="s",
        )
        yield preprocess_pb2.StreamPrepareRequest(config=config)
        for i, chunk in enumerate(chunks):
            if i == len(chunks) * 3 // 4:  # hold the rest back until a segment came out
                first_segment.wait(timeout=20)
            sent = i + 1
            yield preprocess_pb2.StreamPrepareRequest(chunk=chunk)

    segments, summaries = [], []
    for reply in stub.StreamPrepare(requests(), timeout=60):
        if reply.WhichOneof("kind") == "segment":
            if not first_segment.is_set():
                sent_when_first_seen.append(sent)
                first_segment.set()
            segments.append(reply.segment)
        else:
            summaries.append(reply.summary)
    assert sent_when_first_seen and sent_when_first_seen[0] < len(chunks), "segments only came after the end"
    assert len(summaries) == 1 and summaries[0].segment_count == len(segments)
    assert summaries[0].duration_s == pytest.approx(14.618, abs=0.01)
    assert list(summaries[0].roles) == ["agent", "customer"]
    _covers_turns(segments, sample_call_turns())
    # streaming and one-shot segmentation follow the same rule
    one_shot = stub.Prepare(_wav_request(), timeout=30).segments
    key = lambda s: (s.channel, s.start_ms)  # noqa: E731
    stream_spans = [(s.channel, s.start_ms, s.end_ms) for s in sorted(segments, key=key)]
    offline_spans = [(s.channel, s.start_ms, s.end_ms) for s in sorted(one_shot, key=key)]
    assert len(stream_spans) == len(offline_spans)
    for a, b in zip(stream_spans, offline_spans, strict=True):
        assert a[0] == b[0] and abs(a[1] - b[1]) <= 64 and abs(a[2] - b[2]) <= 64


def test_stream_prepare_refuses_chunks_before_config(stub) -> None:
    with pytest.raises(grpc.RpcError) as err:
        list(stub.StreamPrepare(iter([preprocess_pb2.StreamPrepareRequest(chunk=b"\0\0" * 800)]), timeout=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_raw_mulaw_pcm_payload(stub) -> None:
    """8 kHz mu-law, the way call centres record: both parties still found."""
    x, rate = sf.read(str(sample_call_path()), dtype="float32", always_2d=True)
    from shared.audio.resample import resample_array

    x8k = resample_array(x.T, rate, 8000).T
    buf = io.BytesIO()
    sf.write(buf, x8k, 8000, format="RAW", subtype="ULAW")
    fmt = common_pb2.PcmFormat(
        sample_rate_hz=8000, channels=2, encoding=common_pb2.PCM_ENCODING_MULAW, sample_width_bytes=1
    )
    request = preprocess_pb2.PrepareRequest(
        audio=common_pb2.AudioPayload(raw=common_pb2.RawPcm(format=fmt, data=buf.getvalue()))
    )
    reply = stub.Prepare(request, timeout=30)
    assert (reply.source_rate_hz, reply.source_channels, reply.sample_rate_hz) == (8000, 2, 16000)
    assert reply.duration_s == pytest.approx(14.618, abs=0.01)
    _covers_turns(reply.segments, sample_call_turns(), tolerance_ms=400)


def test_return_audio_and_mix_down(stub) -> None:
    request = _wav_request()
    request.options.mix_down = True
    request.options.return_audio = True
    reply = stub.Prepare(request, timeout=30)
    assert list(reply.roles) == ["mixed"]
    assert {s.channel for s in reply.segments} == {0}
    audio = tensor_to_ndarray(reply.audio)
    assert audio.dtype == np.float32 and audio.shape[0] == 1
    assert abs(audio.shape[1] - 14.618 * 16000) <= 16
    assert 0.05 < np.abs(audio).max() <= 1.0


def test_client_cancel_mid_stream_is_logged_as_cancelled_not_as_a_server_error(stub) -> None:
    log = logging.getLogger("ser.rpc")
    handler = _RpcLog()
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    release = threading.Event()
    pcm, rate, channels = _sample_call_pcm()

    def requests():
        fmt = common_pb2.PcmFormat(sample_rate_hz=rate, channels=channels, encoding=common_pb2.PCM_ENCODING_S16LE)
        yield preprocess_pb2.StreamPrepareRequest(config=preprocess_pb2.StreamPrepareConfig(format=fmt))
        yield preprocess_pb2.StreamPrepareRequest(chunk=pcm[:16000])
        release.wait(timeout=10)

    try:
        call = stub.StreamPrepare(requests(), timeout=30)
        time.sleep(0.5)
        call.cancel()
        release.set()
        record = handler.wait_for("/StreamPrepare")
        assert record.status == "CANCELLED"
        assert not [r for r in handler.records if r.levelno >= logging.ERROR]
    finally:
        release.set()
        log.removeHandler(handler)
        log.setLevel(old_level)
    assert stub.Prepare(_wav_request(), timeout=30).segments
