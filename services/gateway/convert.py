"""shared.analytics results -> ser.v1.analysis messages, and the per-segment requests a call sends downstream."""
from __future__ import annotations

import numpy as np
from ser.v1 import analysis_pb2, common_pb2, emotion_pb2

from services.common.convert import source_to_audio_payload
from shared.analytics.aggregates import EmotionShare, ParticipantSummary, QuarterSummary
from shared.analytics.call import CallSummary
from shared.analytics.silence import SilenceSummary
from shared.analytics.timeline import TimelineEntry
from shared.audio.decode import RawPcmSpec


def segment_audio(samples: np.ndarray, rate: int) -> common_pb2.AudioPayload:
    """One segment's mono samples as source-rate float32 PCM (each service resamples it as inference would)."""
    return source_to_audio_payload(np.ascontiguousarray(samples, dtype=np.float32).tobytes(),
                                   RawPcmSpec(sample_rate=rate, channels=1, encoding="pcm_f32le"))


def speaker_group(segment: common_pb2.Segment) -> str:
    """Normalisation group: the channel and its participant (per channel on stereo, per participant on mono)."""
    return f"channel{segment.channel}:{segment.speaker}" if segment.speaker else f"channel{segment.channel}"


def segment_request(segment: common_pb2.Segment, model: common_pb2.ModelRef) -> emotion_pb2.PredictRequest:
    """A segment's PredictRequest without its input: the call's resolved model version (even if one is
    promoted meanwhile), the speaker group its channel and participant, and an id naming the segment."""
    return emotion_pb2.PredictRequest(model=model, speaker_group=speaker_group(segment),
                                      request_id=f"{segment.channel}:{segment.start_ms}-{segment.end_ms}")


def entry_to_proto(entry: TimelineEntry) -> analysis_pb2.TimelineEntry:
    return analysis_pb2.TimelineEntry(
        segment=common_pb2.Segment(channel=entry.channel, speaker=entry.participant, start_ms=entry.start_ms,
                                   end_ms=entry.end_ms),
        participant=entry.participant,
        emotion=common_pb2.EmotionPosteriors(labels=list(entry.labels), probs=list(entry.probs),
                                             top_label=entry.top_label, top_prob=entry.top_prob,
                                             valence=entry.valence, arousal=entry.arousal,
                                             uncertain=entry.uncertain),
        index=entry.index,
        overlap=entry.overlap,
        overlap_participants=list(entry.overlap_participants),
    )


def _shares(shares: tuple[EmotionShare, ...]) -> list[analysis_pb2.EmotionShare]:
    return [analysis_pb2.EmotionShare(label=s.label, share=s.share, duration_ms=s.duration_ms, segments=s.segments)
            for s in shares]


def _quarter(q: QuarterSummary) -> analysis_pb2.QuarterSummary:
    return analysis_pb2.QuarterSummary(quarter=q.quarter, start_ms=q.start_ms, end_ms=q.end_ms,
                                       talk_time_ms=q.talk_time_ms, shares=_shares(q.shares),
                                       mean_valence=q.mean_valence, mean_arousal=q.mean_arousal,
                                       uncertain_ms=q.uncertain_ms)


def participant_to_proto(p: ParticipantSummary) -> analysis_pb2.ParticipantSummary:
    return analysis_pb2.ParticipantSummary(
        participant=p.participant, channel=p.channel, talk_time_ms=p.talk_time_ms, talk_share=p.talk_share,
        shares=_shares(p.shares), quarters=[_quarter(q) for q in p.quarters],
        negative_turns=[analysis_pb2.TurningPoint(at_ms=t.at_ms, timeline_index=t.timeline_index,
                                                  from_label=t.from_label, to_label=t.to_label,
                                                  valence_before=t.valence_before, valence_after=t.valence_after)
                        for t in p.negative_turns],
        mean_valence=p.mean_valence, mean_arousal=p.mean_arousal, segments=p.segments,
        uncertain_ms=p.uncertain_ms, uncertain_segments=p.uncertain_segments,
    )


def silence_to_proto(s: SilenceSummary) -> analysis_pb2.SilenceSummary:
    return analysis_pb2.SilenceSummary(total_ms=s.total_ms, share=s.share, overlap_ms=s.overlap_ms,
                                       long_silences=[analysis_pb2.Interval(start_ms=a, end_ms=b)
                                                      for a, b in s.long_silences])


def call_to_proto(summary: CallSummary, response: analysis_pb2.AnalyzeCallResponse) -> analysis_pb2.AnalyzeCallResponse:
    """Fill the analytics part of ``response`` (the caller sets ids, model and audio facts)."""
    response.timeline.extend(entry_to_proto(e) for e in summary.timeline)
    response.participants.extend(participant_to_proto(p) for p in summary.participants)
    response.silence.CopyFrom(silence_to_proto(summary.silence))
    response.labels.extend(summary.labels)
    return response
