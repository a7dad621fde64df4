"""ser.v1.CallAnalysis AnalyzeUpload over real gRPC, on a stack whose message limit (1 MiB) is far below the
calls it analyses and whose SER_MAX_AUDIO_MB is 4: calls go up in chunks, never as one message, and the gateway
spools them to disk and removes its temporary files whatever happens."""
from __future__ import annotations

import dataclasses
import io
import tempfile
from collections.abc import Iterable

import grpc
import numpy as np
import pytest
import soundfile as sf
from ser.v1 import analysis_pb2, common_pb2

from services.jobs.analyze_client import UPLOAD_CHUNK_BYTES, upload
from shared.assets import sample_call_path
from shared.audio.decode import RawPcmSpec
from tests.contract.test_gateway_service import base_settings, call_request, serve_stack
from tests.contract.tiny_model import publish_tiny
from tests.long_calls import MULAW8K, call_bytes

MESSAGE_BYTES = 1 << 20
AUDIO_BYTES = 4 << 20
CHUNK = 256 << 10


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    publish_tiny(root)
    settings = dataclasses.replace(base_settings(), max_message_bytes=MESSAGE_BYTES, max_audio_bytes=AUDIO_BYTES)
    with serve_stack(settings, root) as served:
        yield served


@pytest.fixture()
def spool_dir(tmp_path, monkeypatch):
    """The gateway's temporary folder for this test (the servers run in this process)."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == [], "the gateway left temporary files behind"


def send(stub, data: bytes, *, raw: RawPcmSpec | None = None, chunk: int = CHUNK, **options
         ) -> analysis_pb2.AnalyzeCallResponse:
    chunks = (data[i : i + chunk] for i in range(0, len(data), chunk))
    return upload(stub, chunks, analysis_pb2.AnalyzeOptions(**options), call_id="upload", raw=raw, timeout_s=120)


def segments(reply: analysis_pb2.AnalyzeCallResponse) -> list[tuple[int, int, int]]:
    return [(e.segment.channel, e.segment.start_ms, e.segment.end_ms) for e in reply.timeline]


def probs(reply: analysis_pb2.AnalyzeCallResponse) -> np.ndarray:
    return np.array([list(e.emotion.probs) for e in reply.timeline])


def refusal(stub, messages: Iterable[analysis_pb2.AnalyzeUploadRequest]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeUpload(iter(list(messages)), timeout=60)
    return err.value.code(), err.value.details()


def config(raw: common_pb2.PcmFormat | None = None) -> analysis_pb2.AnalyzeUploadRequest:
    return analysis_pb2.AnalyzeUploadRequest(config=analysis_pb2.AnalyzeUploadConfig(call_id="bad", raw_format=raw))


def chunk(data: bytes) -> analysis_pb2.AnalyzeUploadRequest:
    return analysis_pb2.AnalyzeUploadRequest(chunk=data)


def test_upload_gives_the_same_result_as_analyze_call(small_stack, spool_dir):
    stub, _ = small_stack
    inline = stub.AnalyzeCall(call_request(), timeout=120)
    uploaded = send(stub, sample_call_path().read_bytes())
    assert segments(uploaded) == segments(inline) and len(inline.timeline) >= 6
    assert np.allclose(probs(uploaded), probs(inline), atol=1e-5)
    assert (uploaded.duration_s, uploaded.source_rate_hz, uploaded.source_channels) == (
        inline.duration_s, inline.source_rate_hz, inline.source_channels) == (pytest.approx(14.618, abs=1e-3), 16000, 2)
    assert [(p.participant, p.talk_time_ms) for p in uploaded.participants] == [
        (p.participant, p.talk_time_ms) for p in inline.participants]
    assert uploaded.call_id == "upload" and uploaded.model == inline.model


def test_a_call_over_the_message_limit_goes_through_upload_and_spans_the_call(small_stack, spool_dir):
    stub, _ = small_stack
    one = send(stub, sample_call_path().read_bytes())
    data = call_bytes(3 * sf.info(sample_call_path()).duration)  # 2.8 MB of WAV, 5.6 MB decoded, limit 1 MiB
    assert MESSAGE_BYTES < len(data) < AUDIO_BYTES
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeCall(analysis_pb2.AnalyzeCallRequest(
            audio=common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=data))), timeout=60)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    reply = send(stub, data, chunk=UPLOAD_CHUNK_BYTES // 4)
    assert reply.duration_s == pytest.approx(3 * one.duration_s, abs=0.01)
    assert len(reply.timeline) == pytest.approx(3 * len(one.timeline), abs=2)
    assert {e.segment.channel for e in reply.timeline} == {0, 1}
    assert max(e.segment.end_ms for e in reply.timeline) > 1000 * (reply.duration_s - 3.0)
    assert segments(reply)[: len(one.timeline) - 1] == segments(one)[:-1], "the first tile is cut as the sample is"


def test_8khz_mulaw_stereo_call(small_stack, spool_dir):
    stub, _ = small_stack
    wideband = send(stub, sample_call_path().read_bytes())
    rate, subtype = MULAW8K
    data = call_bytes(sf.info(sample_call_path()).duration, rate=rate, subtype=subtype)
    assert sf.info(io.BytesIO(data)).subtype == "ULAW"
    reply = send(stub, data)
    assert (reply.source_rate_hz, reply.source_channels) == (8000, 2)
    assert reply.duration_s == pytest.approx(wideband.duration_s, abs=0.01)
    assert {e.participant for e in reply.timeline} == {"agent", "customer"}
    assert len(reply.timeline) == pytest.approx(len(wideband.timeline), abs=1)
    starts = sorted(s for _, s, _ in segments(wideband))
    for _, start, _ in segments(reply):
        assert min(abs(start - s) for s in starts) < 300, "telephone-band speech is found where the wideband one is"


def test_raw_pcm_upload_matches_the_wav(small_stack, spool_dir):
    stub, _ = small_stack
    pcm, rate = sf.read(sample_call_path(), dtype="int16", always_2d=True)
    spec = RawPcmSpec(sample_rate=rate, channels=pcm.shape[1], encoding="pcm_s16le")
    raw = send(stub, np.ascontiguousarray(pcm).tobytes(), raw=spec, chunk=10_001)  # chunks split frames
    wav = send(stub, sample_call_path().read_bytes())
    assert segments(raw) == segments(wav)
    assert np.allclose(probs(raw), probs(wav), atol=1e-5)
    assert (raw.source_rate_hz, raw.source_channels) == (16000, 2)


def test_mix_down_is_diarized_or_one_participant_by_channel(small_stack, spool_dir):
    stub, _ = small_stack
    diarized = send(stub, sample_call_path().read_bytes(), mix_down=True)
    assert {e.segment.channel for e in diarized.timeline} == {0} and diarized.source_channels == 2
    assert diarized.call_mode == analysis_pb2.CALL_MODE_DIARIZE
    assert [p.participant for p in diarized.participants][:2] == ["agent", "customer"]
    one = send(stub, sample_call_path().read_bytes(), mix_down=True, call_mode=analysis_pb2.CALL_MODE_CHANNELS)
    assert one.call_mode == analysis_pb2.CALL_MODE_CHANNELS
    assert [p.participant for p in one.participants] == ["mixed"]


def test_bad_uploads_are_refused_with_a_status_and_the_gateway_still_serves(small_stack, spool_dir):
    stub, _ = small_stack
    wav = sample_call_path().read_bytes()
    s16 = common_pb2.PcmFormat(sample_rate_hz=16000, channels=2, encoding=common_pb2.PCM_ENCODING_S16LE)
    cases = {
        "corrupt bytes": [config(), chunk(b"\x00garbage" * 5000)],
        "empty file": [config()],
        "empty chunks": [config(), chunk(b""), chunk(b"")],
        "nothing at all": [],
        "chunk before config": [chunk(wav[:CHUNK]), config()],
        "config twice": [config(), chunk(wav[:CHUNK]), config()],
        "truncated WAV": [config(), chunk(wav[:200])],
        "raw PCM, part of a frame": [config(s16), chunk(b"\x01\x02\x03" * 3001)],
        "raw PCM at 1 Hz": [config(common_pb2.PcmFormat(sample_rate_hz=1, channels=1)), chunk(b"\x00" * 4000)],
        "over SER_MAX_AUDIO_MB": [config(), *(chunk(wav[:CHUNK]) for _ in range(AUDIO_BYTES // CHUNK + 1))],
    }
    for name, messages in cases.items():
        code, details = refusal(stub, messages)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{name}: {code} {details}"
        assert "ser-call-" not in details, f"{name}: the message names a server path: {details}"
    with pytest.raises(grpc.RpcError) as err:
        send(stub, wav, model=common_pb2.ModelRef(name="missing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(send(stub, wav).timeline) >= 6, "the gateway still serves"


def test_the_refused_upload_names_the_limit(small_stack, spool_dir):
    stub, _ = small_stack
    code, details = refusal(stub, [config(), *(chunk(b"\x00" * CHUNK) for _ in range(AUDIO_BYTES // CHUNK + 1))])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "SER_MAX_AUDIO_MB=4" in details
