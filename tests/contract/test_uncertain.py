"""Uncertain segments through the real gRPC stack: a model whose card sets ``serving.uncertain_below`` answers
``EmotionPosteriors.uncertain`` for segments whose top probability is below it, the timeline carries the flag
(SER_PIPELINE=inprocess and =services, stereo, diarized mono and live streams), and every participant's
shares, means and negative turns leave those segments out while ``uncertain_ms`` says how much was left out.
A model without a threshold marks nothing.

Both models are the same tiny random CCT (same seed, same weights); the threshold is set between two of the
top probabilities the plain model gives on the sample call, so some segments are uncertain and some are not.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import ExitStack

import grpc
import numpy as np
import pytest
import soundfile as sf
from ser.v1 import analysis_pb2, analysis_pb2_grpc, common_pb2, emotion_pb2, emotion_pb2_grpc

from services.common.client import channel
from services.features.engine import FeatureEngine
from services.features.server import serve as serve_features
from services.gateway.server import serve as serve_gateway
from services.inference.config import InferenceConfig
from services.inference.server import serve as serve_inference
from services.jobs.job_proto import proto_json
from services.preprocess.server import serve as serve_preprocess
from services.speaker.server import serve as serve_speaker
from shared.assets import sample_call_path
from shared.registry import ModelRegistry
from tests.contract.test_gateway_service import base_settings
from tests.contract.tiny_model import publish_tiny

PIPELINES = ("inprocess", "services")


@dataclasses.dataclass
class Stack:
    gateways: dict[str, analysis_pb2_grpc.CallAnalysisStub]
    inference: emotion_pb2_grpc.EmotionStub
    root: object


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("registry")
    publish_tiny(root, "plain")
    settings = base_settings()
    with ExitStack() as exits:
        preprocess, preprocess_port = serve_preprocess(settings, port=0)
        exits.callback(preprocess.stop, 0)
        features, features_port = serve_features(settings, port=0, engine=FeatureEngine(settings.artifacts_dir,
                                                                                         workers=1))
        exits.callback(features.stop, 0)
        speaker, speaker_port = serve_speaker(settings, port=0)
        exits.callback(speaker.stop, 0)
        inference = serve_inference(settings, port=0, config=InferenceConfig(poll_s=0.2), registry=ModelRegistry(root),
                                    device="cpu")
        exits.callback(inference.stop, 0)
        addresses = {**settings.addresses, "preprocess": f"127.0.0.1:{preprocess_port}",
                     "features": f"127.0.0.1:{features_port}", "speaker": f"127.0.0.1:{speaker_port}",
                     "inference": f"127.0.0.1:{inference.port}"}
        gateways = {}
        for pipeline in PIPELINES:
            gateway_settings = dataclasses.replace(settings, addresses=addresses, pipeline=pipeline)
            gateway = serve_gateway(gateway_settings, port=0)
            exits.callback(gateway.stop, 0)
            ch = exits.enter_context(channel(f"127.0.0.1:{gateway.port}", settings))
            gateways[pipeline] = analysis_pb2_grpc.CallAnalysisStub(ch)
        ch = exits.enter_context(channel(addresses["inference"], settings))
        yield Stack(gateways, emotion_pb2_grpc.EmotionStub(ch), root)


def call(model: str, **options) -> analysis_pb2.AnalyzeCallRequest:
    audio = common_pb2.AudioPayload(encoded=common_pb2.EncodedAudio(data=sample_call_path().read_bytes()))
    return analysis_pb2.AnalyzeCallRequest(audio=audio, call_id="uncertain", options=analysis_pb2.AnalyzeOptions(
        model=common_pb2.ModelRef(name=model), **options))


@pytest.fixture(scope="module")
def plain(stack) -> analysis_pb2.AnalyzeCallResponse:
    return stack.gateways["inprocess"].AnalyzeCall(call("plain"), timeout=300)


@pytest.fixture(scope="module")
def threshold(stack, plain) -> float:
    """Publish "unsure" (the plain model's weights, a threshold between two of its top probabilities on the
    sample call) and wait for inference to see it."""
    top = sorted({e.emotion.top_prob for e in plain.timeline})
    assert len(top) >= 3, "the sample call needs a few distinct top probabilities"
    middle = len(top) // 2
    below = (top[middle - 1] + top[middle]) / 2
    publish_tiny(stack.root, "unsure", serving={"uncertain_below": below})
    deadline = time.monotonic() + 30
    while True:
        try:
            info = stack.inference.GetModel(emotion_pb2.GetModelRequest(model=common_pb2.ModelRef(name="unsure")),
                                            timeout=10)
            assert info.uncertain_below == pytest.approx(below)
            return below
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def check_summaries(reply: analysis_pb2.AnalyzeCallResponse) -> None:
    """Every participant's numbers, recomputed by hand from the timeline: talk time counts everything,
    shares and means only the confident segments, uncertain_ms the rest."""
    for p in reply.participants:
        mine = [e for e in reply.timeline if e.participant == p.participant and not e.overlap]
        duration = {id(e): e.segment.end_ms - e.segment.start_ms for e in mine}
        sure = [e for e in mine if not e.emotion.uncertain]
        talk, unsure = sum(duration.values()), sum(duration[id(e)] for e in mine if e.emotion.uncertain)
        assert (p.talk_time_ms, p.segments) == (talk, len(mine))
        assert (p.uncertain_ms, p.uncertain_segments) == (unsure, len(mine) - len(sure))
        assert sum(q.uncertain_ms for q in p.quarters) == unsure
        confident = talk - unsure
        by_label: dict[str, int] = {}
        for e in sure:
            by_label[e.emotion.top_label] = by_label.get(e.emotion.top_label, 0) + duration[id(e)]
        for s in p.shares:
            assert s.duration_ms == by_label.get(s.label, 0)
            assert s.share == pytest.approx(s.duration_ms / confident if confident else 0.0)
        assert sum(s.share for s in p.shares) == pytest.approx(1.0 if confident else 0.0)
        valence = sum(duration[id(e)] * e.emotion.valence for e in sure) / confident if confident else 0.0
        assert p.mean_valence == pytest.approx(valence, abs=1e-5)
        turns_at = {t.timeline_index for t in p.negative_turns}
        assert not any(reply.timeline[i].emotion.uncertain for i in turns_at)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_without_a_threshold_no_segment_is_uncertain(stack, plain, pipeline):
    reply = plain if pipeline == "inprocess" else stack.gateways[pipeline].AnalyzeCall(call("plain"), timeout=300)
    assert reply.timeline and reply.uncertain_below == 0.0
    assert not any(e.emotion.uncertain for e in reply.timeline)
    assert all(p.uncertain_ms == 0 and p.uncertain_segments == 0 for p in reply.participants)
    check_summaries(reply)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_segments_below_the_threshold_are_uncertain_and_left_out_of_shares(stack, plain, threshold, pipeline):
    reply = stack.gateways[pipeline].AnalyzeCall(call("unsure"), timeout=300)
    assert reply.uncertain_below == pytest.approx(threshold)
    assert [e.segment for e in reply.timeline] == [e.segment for e in plain.timeline]
    flags = [e.emotion.uncertain for e in reply.timeline]
    assert flags == [e.emotion.top_prob < threshold for e in reply.timeline]
    assert any(flags) and not all(flags)
    # the same weights: the same labels and probabilities, only the flag differs
    assert np.allclose([e.emotion.top_prob for e in reply.timeline], [e.emotion.top_prob for e in plain.timeline],
                       atol=1e-5)
    check_summaries(reply)
    left_out = sum(p.uncertain_ms for p in reply.participants)
    assert left_out > 0
    assert [p.talk_time_ms for p in reply.participants] == [p.talk_time_ms for p in plain.participants]
    # the HTTP API's JSON carries the flag per entry and the totals per participant
    data = proto_json(reply)
    assert [e["emotion"]["uncertain"] for e in data["timeline"]] == flags
    assert sum(int(p["uncertain_ms"]) for p in data["participants"]) == left_out
    assert all("uncertain_segments" in p for p in data["participants"])


def test_a_diarized_mono_call_carries_the_flag(stack, threshold):
    reply = stack.gateways["inprocess"].AnalyzeCall(
        call("unsure", mix_down=True, call_mode=analysis_pb2.CALL_MODE_DIARIZE), timeout=300)
    assert reply.call_mode == analysis_pb2.CALL_MODE_DIARIZE and reply.timeline
    assert [e.emotion.uncertain for e in reply.timeline] == [e.emotion.top_prob < threshold for e in reply.timeline]
    check_summaries(reply)


def test_a_live_stream_carries_the_flag(stack, threshold):
    data, rate = sf.read(sample_call_path(), dtype="int16", always_2d=True)
    fmt = common_pb2.PcmFormat(sample_rate_hz=rate, channels=data.shape[1], encoding=common_pb2.PCM_ENCODING_S16LE)
    options = analysis_pb2.AnalyzeOptions(model=common_pb2.ModelRef(name="unsure"))

    def requests() -> Iterator[analysis_pb2.AnalyzeStreamRequest]:
        yield analysis_pb2.AnalyzeStreamRequest(config=analysis_pb2.AnalyzeStreamConfig(format=fmt, options=options))
        for start in range(0, len(data), rate // 2):
            yield analysis_pb2.AnalyzeStreamRequest(chunk=np.ascontiguousarray(data[start : start + rate // 2]).tobytes())

    entries, result = [], None
    for message in stack.gateways["inprocess"].AnalyzeStream(requests(), timeout=300):
        if message.WhichOneof("kind") == "entry":
            entries.append(message.entry)
        else:
            result = message.result
    assert result is not None and entries
    assert [e.emotion.uncertain for e in entries] == [e.emotion.top_prob < threshold for e in entries]
    assert any(e.emotion.uncertain for e in entries)
    assert [e.emotion.uncertain for e in result.timeline] == [e.emotion.top_prob < threshold for e in result.timeline]
    check_summaries(result)


def test_an_onnx_republish_keeps_the_threshold(tmp_path):
    from shared.registry.onnx_publish import publish_onnx

    publish_tiny(tmp_path, "unsure", serving={"uncertain_below": 0.4})
    registry = ModelRegistry(tmp_path)
    ref, _ = publish_onnx(registry, "unsure", "1", as_name="unsure_ort")
    card = registry.card(ref.name, ref.version)
    assert card.uncertain_below == 0.4 and card.serving["runtime"] == "onnxruntime"
