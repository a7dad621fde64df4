"""services.gateway.mono_call and the analytics of overlap entries: which calls are diarized, how a
diarized segment is grouped, and that overlap counts towards no participant."""
from __future__ import annotations

import pytest
from ser.v1 import analysis_pb2, common_pb2

from services.gateway import mono_call
from services.gateway.convert import speaker_group
from shared.analytics.call import summarize
from shared.analytics.timeline import ClassifiedSegment, classify
from shared.errors import InvalidInput
from shared.settings import Settings

LABELS = ("angry", "happy", "sad", "neutral")


def options(**kw) -> analysis_pb2.AnalyzeOptions:
    return analysis_pb2.AnalyzeOptions(**kw)


@pytest.mark.parametrize(("env", "kw", "channels", "diarized", "mixes_down"), [
    ({}, {}, 1, True, False),                                               # auto: mono is diarized
    ({}, {}, 2, False, False),                                              # auto: stereo by channel
    ({}, {"call_mode": analysis_pb2.CALL_MODE_CHANNELS}, 1, False, False),
    ({}, {"call_mode": analysis_pb2.CALL_MODE_DIARIZE}, 1, True, True),     # stereo is mixed down first
    ({"SER_CALL_MODE": "channels"}, {}, 1, False, False),
    ({"SER_CALL_MODE": "channels"}, {"call_mode": analysis_pb2.CALL_MODE_AUTO}, 1, True, False),
    ({"SER_CALL_MODE": "diarize"}, {}, 2, True, True),
])
def test_which_calls_are_diarized(env, kw, channels, diarized, mixes_down):
    settings = Settings.from_env(env=env)
    assert mono_call.diarizes(options(**kw), settings, channels) is diarized
    assert mono_call.mixes_down(options(**kw), settings) is mixes_down


@pytest.mark.parametrize(("kw", "message"), [
    ({"num_speakers": 5}, "num_speakers must be 0"),
    ({"first_speaker_role": "boss"}, "not one of the roles"),
    ({"call_mode": 9}, "unknown call_mode"),
])
def test_bad_options_are_invalid_input(kw, message):
    with pytest.raises(InvalidInput, match=message):
        mono_call.call_mode(options(**kw), Settings.from_env(env={}))


def test_roles_are_checked_only_when_diarizing():
    repeated = options(channel_roles=["agent", "agent"])
    assert mono_call.diarizes(repeated, Settings.from_env(env={}), 2) is False  # stereo: as before
    with pytest.raises(InvalidInput, match="distinct"):
        mono_call.diarizes(repeated, Settings.from_env(env={}), 1)


def test_a_stream_is_never_diarized():
    with pytest.raises(InvalidInput, match="AnalyzeStream"):
        mono_call.check_stream(options(call_mode=analysis_pb2.CALL_MODE_DIARIZE), Settings.from_env(env={}))
    mono_call.check_stream(options(), Settings.from_env(env={}))
    with pytest.raises(ValueError, match="SER_CALL_MODE"):
        Settings.from_env(env={"SER_CALL_MODE": "guess"})


def test_the_normalisation_group_is_channel_and_participant():
    seg = common_pb2.Segment(channel=0, speaker="customer", start_ms=0, end_ms=10)
    assert speaker_group(seg) == "channel0:customer"
    assert speaker_group(common_pb2.Segment(channel=1)) == "channel1"


def entry(participant: str, start: int, end: int, probs=(0.7, 0.1, 0.1, 0.1)):
    return classify(ClassifiedSegment(0, participant, start, end, LABELS, probs))


def test_overlap_entries_count_for_no_participant_but_for_overlap_time():
    entries = [entry("agent", 0, 4000), entry("overlap", 4000, 5000, (0.1, 0.7, 0.1, 0.1)),
               entry("customer", 5000, 9000, (0.1, 0.1, 0.7, 0.1))]
    marked = mono_call.mark_overlaps(entries, {(4000, 5000): ("agent", "customer")})
    assert [e.overlap for e in marked] == [False, True, False]
    summary = summarize(marked, LABELS, 10000, [("agent", 0), ("customer", 0)])
    assert [p.participant for p in summary.participants] == ["agent", "customer"]
    assert [p.talk_time_ms for p in summary.participants] == [4000, 4000]
    assert {s.label: s.duration_ms for s in summary.participants[0].shares}["happy"] == 0
    assert summary.silence.overlap_ms == 1000 and summary.silence.total_ms == 1000
    assert [e.participant for e in summary.timeline] == ["agent", "overlap", "customer"]
