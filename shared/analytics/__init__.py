"""Call analytics: pure functions from classified speech segments to a call's timeline and summaries.

No gRPC and no models here: the gateway (and the batch jobs, and the CLI) feed segments with their
posteriors in and adapt the dataclasses that come out.
"""
from shared.analytics.aggregates import EmotionShare, ParticipantSummary, QuarterSummary, participant_summaries
from shared.analytics.call import AnalyticsOptions, CallSummary, summarize, summarize_call
from shared.analytics.silence import SilenceSummary, silence_summary
from shared.analytics.timeline import ClassifiedSegment, TimelineEntry, build_timeline
from shared.analytics.turning_points import TurningPoint, TurnRule, negative_turns

__all__ = [
    "AnalyticsOptions", "CallSummary", "ClassifiedSegment", "EmotionShare", "ParticipantSummary", "QuarterSummary",
    "SilenceSummary", "TimelineEntry", "TurnRule", "TurningPoint", "build_timeline",
    "negative_turns", "participant_summaries", "silence_summary", "summarize", "summarize_call",
]
