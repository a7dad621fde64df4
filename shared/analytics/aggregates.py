"""Per-participant aggregates: talk time, share of each emotion, valence/arousal, overall and by quarter.

Shares are *hard* and duration-weighted: a segment's whole duration counts for its top label, so
"angry 25 %" reads as "a quarter of this person's talk time sounded angry". Quarters split the call
duration into four equal spans; a segment crossing a quarter boundary counts in each quarter for
the part of it that lies there (and in each quarter's segment count).

An *uncertain* segment (its calibrated top probability below the model's ``serving.uncertain_below``)
counts in talk time and in the segment count, but not in the shares, nor in the valence/arousal means:
shares are of the *confident* talk time, and ``uncertain_ms`` / ``uncertain_segments`` say how much was
left out, so "angry 25 %" never silently includes guesses the model itself does not trust.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.analytics.timeline import TimelineEntry

QUARTERS = 4


@dataclass(frozen=True)
class EmotionShare:
    label: str
    share: float        # of the participant's confident talk time (in the span), 0 when there is none
    duration_ms: int
    segments: int


@dataclass(frozen=True)
class QuarterSummary:
    quarter: int        # 1..4
    start_ms: int
    end_ms: int
    talk_time_ms: int   # all speech in the quarter, uncertain included
    shares: tuple[EmotionShare, ...]
    mean_valence: float
    mean_arousal: float
    uncertain_ms: int = 0


@dataclass(frozen=True)
class ParticipantSummary:
    participant: str
    channel: int
    talk_time_ms: int
    talk_share: float   # of the call duration
    shares: tuple[EmotionShare, ...]
    quarters: tuple[QuarterSummary, ...]
    mean_valence: float
    mean_arousal: float
    segments: int
    negative_turns: tuple = field(default=())  # TurningPoint, filled by summarize_call
    uncertain_ms: int = 0       # talk time in uncertain segments (in talk_time_ms, not in shares or means)
    uncertain_segments: int = 0


def quarter_bounds(duration_ms: int) -> list[tuple[int, int]]:
    """Four equal spans covering [0, duration_ms); integer ms, the last one ends exactly at the end."""
    cuts = [round(q * duration_ms / QUARTERS) for q in range(QUARTERS + 1)]
    return [(cuts[q], cuts[q + 1]) for q in range(QUARTERS)]


def _span_stats(entries: Sequence[TimelineEntry], labels: Sequence[str], start: int, end: int
                ) -> tuple[int, int, tuple[EmotionShare, ...], float, float]:
    """Talk time, its uncertain part, and the shares and weighted mean valence/arousal of the confident
    parts of ``entries`` inside [start, end)."""
    by_label = {label: [0, 0] for label in labels}
    talk = unsure = 0
    v_sum = a_sum = 0.0
    for e in entries:
        overlap = min(e.end_ms, end) - max(e.start_ms, start)
        if overlap <= 0:
            continue
        talk += overlap
        if e.uncertain:
            unsure += overlap
            continue
        slot = by_label.setdefault(e.top_label, [0, 0])
        slot[0] += overlap
        slot[1] += 1
        v_sum += overlap * e.valence
        a_sum += overlap * e.arousal
    sure = talk - unsure
    shares = tuple(EmotionShare(label, (d / sure) if sure else 0.0, d, n) for label, (d, n) in by_label.items())
    return talk, unsure, shares, (v_sum / sure if sure else 0.0), (a_sum / sure if sure else 0.0)


def participant_summary(entries: Sequence[TimelineEntry], participant: str, channel: int, labels: Sequence[str],
                        duration_ms: int) -> ParticipantSummary:
    mine = [e for e in entries if e.participant == participant]
    end = max([duration_ms, *(e.end_ms for e in mine)])
    talk, unsure, shares, valence, arousal = _span_stats(mine, labels, 0, end)
    quarters = []
    for q, (q_start, q_end) in enumerate(quarter_bounds(duration_ms), start=1):
        q_talk, q_unsure, q_shares, q_v, q_a = _span_stats(mine, labels, q_start, end if q == QUARTERS else q_end)
        quarters.append(QuarterSummary(q, q_start, q_end, q_talk, q_shares, q_v, q_a, uncertain_ms=q_unsure))
    return ParticipantSummary(
        participant=participant, channel=channel, talk_time_ms=talk,
        talk_share=(talk / duration_ms) if duration_ms > 0 else 0.0, shares=shares, quarters=tuple(quarters),
        mean_valence=valence, mean_arousal=arousal, segments=len(mine), uncertain_ms=unsure,
        uncertain_segments=sum(1 for e in mine if e.uncertain),
    )


def participant_summaries(entries: Sequence[TimelineEntry], labels: Sequence[str], duration_ms: int,
                          participants: Sequence[tuple[str, int]] = ()) -> list[ParticipantSummary]:
    """One summary per participant: those named in ``participants`` (name, channel) first, even when
    silent, then anyone else found in the timeline, in order of first appearance."""
    order: dict[str, int] = dict(participants)
    for e in entries:
        order.setdefault(e.participant, e.channel)
    return [participant_summary(entries, name, channel, labels, duration_ms) for name, channel in order.items()]
