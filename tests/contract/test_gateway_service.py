"""ser.v1.CallAnalysis and ser.v1.Jobs over real gRPC: gateway, preprocess and inference in-process on
ephemeral ports, a tiny random model in a tmp registry, and (for jobs) a real Redis on DB 11 without a worker."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile as sf
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2, jobs_pb2, jobs_pb2_grpc

from services.common.client import channel
from services.gateway.server import serve as serve_gateway
from services.inference.config import InferenceConfig
from services.inference.server import serve as serve_inference
from services.jobs.client import JobClient
from services.preprocess.server import serve as serve_preprocess
from services.speaker.server import serve as serve_speaker
from shared.assets import sample_call_path
from shared.registry import ModelRegistry
from shared.settings import Settings
from tests.contract.tiny_model import LABELS, publish_tiny
from tests.helpers import clean_redis, free_port

log = logging.getLogger(__name__)
CHUNK_MS = 100
PACE = 4.0  # stream audio at 4x real time


def base_settings() -> Settings:
    return dataclasses.replace(Settings.from_env(env={}), grpc_workers=16)


@contextmanager
def serve_stack(settings: Settings, root: Path) -> Iterator[tuple[analysis_pb2_grpc.CallAnalysisStub, Settings]]:
    """Preprocess, speaker (diarizes mono calls), inference (the tiny model in ``root``) and gateway in-process,
    all with ``settings``' limits."""
    preprocess, preprocess_port = serve_preprocess(settings, port=0)
    speaker, speaker_port = serve_speaker(settings, port=0)
    inference = serve_inference(settings, port=0, config=InferenceConfig(poll_s=0.5), registry=ModelRegistry(root),
                                device="cpu")
    addresses = {**settings.addresses, "preprocess": f"127.0.0.1:{preprocess_port}",
                 "inference": f"127.0.0.1:{inference.port}", "speaker": f"127.0.0.1:{speaker_port}"}
    gateway_settings = dataclasses.replace(settings, addresses=addresses)
    gateway = serve_gateway(gateway_settings, port=0)
    ch = channel(f"127.0.0.1:{gateway.port}", settings)
    try:
        yield analysis_pb2_grpc.CallAnalysisStub(ch), gateway_settings
    finally:
        ch.close()
        gateway.stop(0)
        inference.stop(0)
        speaker.stop(0)
        preprocess.stop(0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    publish_tiny(root)
    with serve_stack(base_settings(), root) as served:
        yield served


def call_request(**options) -> analysis_pb2.AnalyzeCallRequest:
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=sample_call_path().read_bytes()))
    return analysis_pb2.AnalyzeCallRequest(audio=audio, call_id="sample", options=analysis_pb2.AnalyzeOptions(**options))


def test_analyze_call_gives_a_timeline_on_both_channels_and_summaries(stack):
    stub, _ = stack
    stub.AnalyzeCall(call_request(), timeout=120)  # warm-up (first VAD and model passes)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        reply = stub.AnalyzeCall(call_request(), timeout=120)
        times.append(time.perf_counter() - started)
    log.warning("AnalyzeCall on the %.1f s sample call: %s s (server processing %.3f s)", reply.duration_s,
                [round(t, 3) for t in times], reply.processing_s)
    assert reply.call_id == "sample" and reply.duration_s == pytest.approx(14.6, abs=0.2)
    assert reply.source_channels == 2 and reply.model.version == "1" and tuple(reply.labels) == LABELS
    assert {e.segment.channel for e in reply.timeline} == {0, 1}
    assert [e.index for e in reply.timeline] == list(range(len(reply.timeline)))
    assert [e.segment.start_ms for e in reply.timeline] == sorted(e.segment.start_ms for e in reply.timeline)
    for entry in reply.timeline:
        assert entry.participant == ("agent", "customer")[entry.segment.channel]
        assert sum(entry.emotion.probs) == pytest.approx(1.0, abs=1e-4) and entry.emotion.top_label in LABELS
    agent, customer = reply.participants
    assert (agent.participant, agent.channel, customer.participant, customer.channel) == ("agent", 0, "customer", 1)
    for p in (agent, customer):
        talk = sum(e.segment.end_ms - e.segment.start_ms for e in reply.timeline if e.participant == p.participant)
        assert p.talk_time_ms == talk > 0
        assert sum(s.share for s in p.shares) == pytest.approx(1.0)
        assert [q.quarter for q in p.quarters] == [1, 2, 3, 4]
        assert sum(q.talk_time_ms for q in p.quarters) == talk
    assert 0 < reply.silence.total_ms < 1000 * reply.duration_s


def test_the_deprecated_speaker_normalize_option_is_ignored(stack):
    """Normalisation follows the model card: the tiny model has none, and the option neither turns it on nor is
    refused (the gateway no longer forwards it)."""
    stub, _ = stack
    plain = stub.AnalyzeCall(call_request(), timeout=120)
    asked = stub.AnalyzeCall(call_request(speaker_normalize=True), timeout=120)
    assert [e.segment for e in asked.timeline] == [e.segment for e in plain.timeline]
    assert np.allclose([list(e.emotion.probs) for e in asked.timeline], [list(e.emotion.probs) for e in plain.timeline],
                       atol=1e-5)


def test_unknown_model_is_not_found_through_the_gateway(stack):
    stub, _ = stack
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeCall(call_request(model=common_pb2.ModelRef(name="missing")), timeout=30)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_audio_is_invalid_argument(stack):
    stub, _ = stack
    garbage = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=b"\x00garbage" * 50))
    with pytest.raises(grpc.RpcError) as err:
        stub.AnalyzeCall(analysis_pb2.AnalyzeCallRequest(audio=garbage), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def stream_requests(sent: list[tuple[int, float]], done: threading.Event) -> Iterator[analysis_pb2.AnalyzeStreamRequest]:
    data, rate = sf.read(sample_call_path(), dtype="int16", always_2d=True)
    fmt = common_pb2.PcmFormat(sample_rate_hz=rate, channels=data.shape[1], encoding=common_pb2.PCM_ENCODING_S16LE)
    yield analysis_pb2.AnalyzeStreamRequest(config=analysis_pb2.AnalyzeStreamConfig(format=fmt, call_id="live"))
    step = rate * CHUNK_MS // 1000
    for start in range(0, len(data), step):
        yield analysis_pb2.AnalyzeStreamRequest(chunk=np.ascontiguousarray(data[start : start + step]).tobytes())
        sent.append((1000 * min(len(data), start + step) // rate, time.perf_counter()))
        time.sleep(CHUNK_MS / 1000.0 / PACE)
    done.set()


def test_analyze_stream_yields_segments_before_the_stream_ends(stack):
    stub, _ = stack
    sent: list[tuple[int, float]] = []
    done = threading.Event()
    entries, result, early = [], None, 0
    for message in stub.AnalyzeStream(stream_requests(sent, done), timeout=120):
        if message.WhichOneof("kind") == "entry":
            now = time.perf_counter()
            early += not done.is_set()
            end_ms = message.entry.segment.end_ms - 100  # the VAD pads segments by 100 ms
            spoke_until = next(t for ms, t in sent if ms >= end_ms)
            entries.append((message.entry, message.latency_ms, 1000 * (now - spoke_until)))
        else:
            result = message.result
    assert early >= 2, "segment results must arrive while audio is still streaming"
    assert {e.segment.channel for e, _, _ in entries} == {0, 1}
    assert result is not None and len(result.timeline) == len(entries)
    whole = stub.AnalyzeCall(call_request(), timeout=120)
    assert [e.segment for e in result.timeline] == [e.segment for e in whole.timeline], "stream and file agree"
    assert {p.participant for p in result.participants} == {"agent", "customer"}
    server = [lat for _, lat, _ in entries]
    client = [c for _, _, c in entries]
    log.warning("stream latency over %d segments: chunk-that-closed-the-segment -> entry sent p50 %.0f ms max %.0f ms; "
                "end of speech -> entry received (incl. the VAD's 300 ms silence, at %.0fx real time) "
                "p50 %.0f ms max %.0f ms", len(entries), np.median(server), max(server), PACE, np.median(client),
                max(client))
    assert np.median(server) < 2000


def test_dead_downstream_service_answers_unavailable_promptly():
    settings = base_settings()
    dead = f"127.0.0.1:{free_port()}"
    gateway = serve_gateway(dataclasses.replace(settings, addresses={**settings.addresses, "preprocess": dead,
                                                                     "inference": dead}), port=0)
    ch = channel(f"127.0.0.1:{gateway.port}", settings)
    started = time.perf_counter()
    with pytest.raises(grpc.RpcError) as err:
        analysis_pb2_grpc.CallAnalysisStub(ch).AnalyzeCall(call_request(), timeout=20)
    elapsed = time.perf_counter() - started
    ch.close()
    gateway.stop(0)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert elapsed < 5, f"UNAVAILABLE took {elapsed:.1f} s"


@pytest.mark.redis
def test_jobs_api_submit_get_list_cancel_round_trip(tmp_path):
    import redis

    from services.jobs.app import make_app
    from services.jobs.store import JobStore

    url = clean_redis(11)
    settings = dataclasses.replace(base_settings(), redis_url=url, artifacts_dir=tmp_path)
    gateway = serve_gateway(settings, port=0, jobs=JobClient(make_app(settings), JobStore.from_url(url), settings))
    ch = channel(f"127.0.0.1:{gateway.port}", settings)
    stub = jobs_pb2_grpc.JobsStub(ch)
    try:
        job = stub.SubmitBatchAnalysis(jobs_pb2.SubmitBatchAnalysisRequest(
            input=str(tmp_path), output_dir=str(tmp_path / "out"), mode=jobs_pb2.BATCH_MODE_SEGMENT_ONLY), timeout=10)
        assert job.state == jobs_pb2.JOB_STATE_PENDING and job.kind == jobs_pb2.JOB_KIND_SEGMENT_BATCH
        assert str(tmp_path) in job.spec.text
        got = stub.GetJob(jobs_pb2.GetJobRequest(id=job.id), timeout=10)
        assert got.id == job.id and got.state == jobs_pb2.JOB_STATE_PENDING
        listed = stub.ListJobs(jobs_pb2.ListJobsRequest(states=[jobs_pb2.JOB_STATE_PENDING]), timeout=10)
        assert [j.id for j in listed.jobs] == [job.id]
        cancelled = stub.CancelJob(jobs_pb2.CancelJobRequest(id=job.id), timeout=10)
        assert cancelled.state == jobs_pb2.JOB_STATE_CANCELLED
        assert stub.GetJob(jobs_pb2.GetJobRequest(id=job.id), timeout=10).state == jobs_pb2.JOB_STATE_CANCELLED
        assert stub.ListJobs(jobs_pb2.ListJobsRequest(states=[jobs_pb2.JOB_STATE_PENDING]), timeout=10).jobs == []
        events = list(stub.WatchJob(jobs_pb2.WatchJobRequest(id=job.id), timeout=10))
        assert len(events) == 1 and events[0].final
        for bad, code in ((jobs_pb2.GetJobRequest(id="nope"), grpc.StatusCode.NOT_FOUND),):
            with pytest.raises(grpc.RpcError) as err:
                stub.GetJob(bad, timeout=10)
            assert err.value.code() == code
        with pytest.raises(grpc.RpcError) as err:
            stub.SubmitTraining(jobs_pb2.SubmitTrainingRequest(spec=jobs_pb2.JobSpec(text="model: 3\n")), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        ch.close()
        gateway.stop(0)
        redis.Redis.from_url(url).flushdb()
