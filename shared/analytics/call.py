"""One call's analytics: the timeline, per-participant summaries with negative turns, and silence."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from shared.analytics.aggregates import ParticipantSummary, participant_summaries
from shared.analytics.silence import SilenceSummary, silence_summary
from shared.analytics.timeline import ClassifiedSegment, TimelineEntry, build_timeline
from shared.analytics.turning_points import TurnRule, negative_turns

DEFAULT_WATCHED = "customer"
ALL_PARTICIPANTS = "*"


@dataclass(frozen=True)
class AnalyticsOptions:
    """``watch_participant``: whose negative turns are reported. Empty: "customer" when the call has
    one, else everyone; ``"*"``: everyone; a name: only that participant."""

    turn_rule: TurnRule = TurnRule()
    watch_participant: str = ""
    min_silence_ms: int = 2000


@dataclass(frozen=True)
class CallSummary:
    timeline: tuple[TimelineEntry, ...]
    participants: tuple[ParticipantSummary, ...]
    silence: SilenceSummary
    labels: tuple[str, ...]
    duration_ms: int


def watched(names: Sequence[str], watch: str) -> set[str]:
    if watch == ALL_PARTICIPANTS:
        return set(names)
    if watch:
        return {watch}
    return {DEFAULT_WATCHED} if DEFAULT_WATCHED in names else set(names)


def summarize(entries: Sequence[TimelineEntry], labels: Sequence[str], duration_ms: int,
              participants: Sequence[tuple[str, int]] = (), options: AnalyticsOptions = AnalyticsOptions()
              ) -> CallSummary:
    """Summaries of an already built timeline (the streaming path builds it entry by entry)."""
    ordered = sorted(entries, key=lambda e: (e.start_ms, e.channel, e.end_ms))
    timeline = [replace(e, index=i) for i, e in enumerate(ordered)]
    duration_ms = max([int(duration_ms), *(e.end_ms for e in timeline)])
    # overlap entries (two diarized voices at once) belong to no single participant; uncertain entries count
    # as talk time but not in shares, means (participant_summaries) or negative turns (here)
    summaries = participant_summaries([e for e in timeline if not e.overlap], labels, duration_ms, participants)
    watch = watched([s.participant for s in summaries], options.watch_participant)
    with_turns = tuple(
        replace(s, negative_turns=tuple(negative_turns(
            [e for e in timeline if e.participant == s.participant and not e.uncertain], options.turn_rule)))
        if s.participant in watch else s
        for s in summaries
    )
    silence = silence_summary(((e.start_ms, e.end_ms) for e in timeline), duration_ms, options.min_silence_ms)
    marked = sum(e.duration_ms for e in timeline if e.overlap)
    if marked:
        silence = replace(silence, overlap_ms=silence.overlap_ms + marked)
    return CallSummary(tuple(timeline), with_turns, silence, tuple(labels), duration_ms)


def summarize_call(segments: Sequence[ClassifiedSegment], labels: Sequence[str], duration_ms: int,
                   participants: Sequence[tuple[str, int]] = (), options: AnalyticsOptions = AnalyticsOptions()
                   ) -> CallSummary:
    """Classified segments of a whole call in, everything the CallAnalysis contract reports out."""
    return summarize(build_timeline(segments), labels, duration_ms, participants, options)
