"""A 20-minute 8 kHz G.711 mu-law stereo call (the usual contact-centre recording) through the gateway, the way
``ser analyze`` sends it (AnalyzeUpload from disk), on the bundled default model: the timeline must span the call."""
from __future__ import annotations

import dataclasses
import logging
import time

import pytest
import soundfile as sf
from ser.v1 import analysis_pb2_grpc

from services.cli.local_stack import local_stack
from services.common.client import channel
from services.jobs.analyze_client import analyze_options, analyze_path
from shared.settings import Settings
from tests.long_calls import MULAW8K, tile_seconds, write_call

log = logging.getLogger(__name__)
CALL_SECONDS = 20 * 60.0


@pytest.mark.slow
def test_a_20_minute_mulaw_call_gives_a_timeline_over_the_whole_call(tmp_path):
    rate, subtype = MULAW8K
    one_path, call_path = tmp_path / "one.wav", tmp_path / "call.wav"
    write_call(one_path, tile_seconds(), rate=rate, subtype=subtype)
    seconds = write_call(call_path, CALL_SECONDS, rate=rate, subtype=subtype)
    assert sf.info(call_path).subtype == "ULAW" and sf.info(call_path).channels == 2
    settings = dataclasses.replace(Settings.from_env(env={}), artifacts_dir=tmp_path / "artifacts", grpc_workers=8)
    with local_stack(settings) as stack, channel(stack.address("gateway"), stack) as ch:
        stub = analysis_pb2_grpc.CallAnalysisStub(ch)
        one = analyze_path(stub, one_path, analyze_options(), timeout_s=300)
        started = time.perf_counter()
        reply = analyze_path(stub, call_path, analyze_options(), call_id="long", timeout_s=1800)
        elapsed = time.perf_counter() - started
    tiles = seconds / tile_seconds()
    log.warning("20-minute mu-law call: %d segments (one tile: %d) in %.1f s, %.1fx real time, model %s:%s",
                len(reply.timeline), len(one.timeline), elapsed, seconds / elapsed, reply.model.name,
                reply.model.version)
    assert (reply.source_rate_hz, reply.source_channels) == (8000, 2)
    assert reply.duration_s == pytest.approx(seconds, abs=0.01)
    assert len(reply.timeline) == pytest.approx(tiles * len(one.timeline), rel=0.05)
    assert max(e.segment.end_ms for e in reply.timeline) > 1000 * (seconds - tile_seconds())
    last_tile = [e for e in reply.timeline if e.segment.start_ms > 1000 * (seconds - 60)]
    assert {e.participant for e in last_tile} == {"agent", "customer"}, "both channels are heard in the last minute"
    for p in reply.participants:
        assert [q.talk_time_ms > 0 for q in p.quarters] == [True] * 4, f"{p.participant} talks in every quarter"
