"""A mono call through the real call path (local stack: preprocess, speaker, inference, gateway, the
bundled default model) must come back as two participants with the turns mostly right, and bad
diarization options must be INVALID_ARGUMENT without harming the next call. Needs no corpora.

The call is built from the bundled sample call's six turns, one after another in one channel. Its two
espeak voices are nearly one voice to GE2E (turn embeddings: 0.75 cosine within a speaker, 0.71
across), so the customer's turns are replayed 1.25x faster (pitch and formants up, a clearly
different voice: 0.77 within, 0.55 across), as a different person would sound."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile as sf
import soxr
from ser.v1 import analysis_pb2, analysis_pb2_grpc

from services.cli.local_stack import local_stack
from services.common.client import channel
from services.jobs.analyze_client import analyze_options, analyze_path
from shared.assets import sample_call_path, sample_call_turns
from shared.diarization.mixes import Placed, Utterance, build_mix
from shared.settings import Settings

SPEED_UP = 1.25


def mono_call(tmp_path) -> tuple[Path, tuple[Placed, ...]]:
    x, rate = sf.read(sample_call_path(), dtype="float32")
    turns = []
    for t in sample_call_turns():
        clip = x[t["start_ms"] * rate // 1000 : t["end_ms"] * rate // 1000, t["channel"]]
        if t["speaker"] == "customer":
            clip = soxr.resample(clip, rate, int(rate / SPEED_UP)).astype(np.float32)
        turns.append([Utterance(t["speaker"], clip)])
    mix = build_mix(turns, overlap_ratio=0.0, seed=3)
    path = tmp_path / "mono.wav"
    sf.write(path, mix.samples, rate, subtype="PCM_16")
    return path, mix.truth


def held_by(reply: analysis_pb2.AnalyzeCallResponse, start_ms: int, end_ms: int) -> str:
    """The participant whose timeline entries cover most of [start_ms, end_ms)."""
    held: dict[str, int] = {}
    for e in reply.timeline:
        overlap = min(end_ms, e.segment.end_ms) - max(start_ms, e.segment.start_ms)
        if overlap > 0:
            held[e.participant] = held.get(e.participant, 0) + overlap
    return max(held, key=held.get) if held else ""


@pytest.mark.slow
def test_a_mono_call_is_diarized_into_agent_and_customer(tmp_path):
    path, truth = mono_call(tmp_path)
    settings = dataclasses.replace(Settings.from_env(env={}), artifacts_dir=tmp_path / "artifacts", grpc_workers=8)
    with local_stack(settings) as stack, channel(stack.address("gateway"), stack) as ch:
        stub = analysis_pb2_grpc.CallAnalysisStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            analyze_path(stub, path, analyze_options({"num_speakers": 7}), timeout_s=120)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "num_speakers" in err.value.details()
        reply = analyze_path(stub, path, analyze_options(), timeout_s=300)
        swapped = analyze_path(stub, path, analyze_options({"first_speaker_role": "customer", "num_speakers": 2}),
                               timeout_s=300)
        channels = analyze_path(stub, path, analyze_options({"call_mode": "CALL_MODE_CHANNELS"}), timeout_s=300)
        single = analyze_path(stub, path, analyze_options({"skip_overlap": True, "num_speakers": 2}), timeout_s=300)
    assert reply.source_channels == 1 and reply.call_mode == analysis_pb2.CALL_MODE_DIARIZE
    assert [p.participant for p in reply.participants] == ["agent", "customer"]
    right = [held_by(reply, t.start_ms, t.end_ms) == t.speaker for t in truth]
    assert sum(right) >= len(truth) - 1, f"turns held by the right participant: {right}"
    for p in reply.participants:
        talk = sum(e.segment.end_ms - e.segment.start_ms for e in reply.timeline if e.participant == p.participant)
        assert p.talk_time_ms == talk > 0
    swap = {"agent": "customer", "customer": "agent"}
    assert [held_by(swapped, t.start_ms, t.end_ms) for t in truth] == \
        [swap.get(held_by(reply, t.start_ms, t.end_ms), "") for t in truth]
    assert channels.call_mode == analysis_pb2.CALL_MODE_CHANNELS
    assert {e.participant for e in channels.timeline} == {"mixed"}
    assert not any(e.overlap for e in single.timeline)
    assert {e.participant for e in single.timeline} == {"agent", "customer"}
