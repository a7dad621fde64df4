"""Moments a participant turns negative, with smoothing and hysteresis so one odd segment is not a "turn".

The rule, per participant, over their segments in time order:

1. Each segment gets a score in [-1, 1]. By default it is the segment's expected valence (the
   posterior-weighted valence of the labels). With ``negative_labels`` it is
   ``1 - 2 * P(negative labels)``, so 0 means "as likely negative as not".
2. The score is smoothed: ``s_i`` is the duration-weighted mean score of the last ``window``
   segments (this one included).
3. A two-state machine walks the smoothed scores. It starts in no state; the first segment puts it
   in *non-negative* if ``s >= threshold`` and in *negative* otherwise (a participant who starts
   negative has not *turned*). From non-negative, ``s_i < threshold`` is a **turn**: it is reported
   at segment ``i`` and the state becomes negative. From negative, the state returns to
   non-negative only once ``s_i >= threshold + hysteresis``; scores wobbling around the threshold
   therefore give one turn, not one per wobble.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.analytics.timeline import TimelineEntry
from shared.errors import InvalidInput


@dataclass(frozen=True)
class TurnRule:
    threshold: float = 0.0
    hysteresis: float = 0.1
    window: int = 2
    negative_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.window < 1:
            raise InvalidInput(f"turn smoothing window must be >= 1 segment, got {self.window}")
        if self.hysteresis < 0:
            raise InvalidInput(f"hysteresis must be >= 0, got {self.hysteresis}")
        if not -1.0 <= self.threshold <= 1.0:
            raise InvalidInput(f"threshold must lie in [-1, 1], got {self.threshold}")


@dataclass(frozen=True)
class TurningPoint:
    at_ms: int              # start of the segment where the turn is detected
    timeline_index: int
    from_label: str         # top label of the participant's previous segment
    to_label: str
    valence_before: float   # smoothed score before / at the turn
    valence_after: float


def segment_score(entry: TimelineEntry, negative_labels: Sequence[str]) -> float:
    if not negative_labels:
        return entry.valence
    unknown = set(negative_labels) - set(entry.labels)
    if unknown == set(negative_labels):
        raise InvalidInput(f"none of the negative labels {sorted(negative_labels)} is in the model's labels "
                           f"{list(entry.labels)}")
    p_negative = sum(p for label, p in zip(entry.labels, entry.probs, strict=True) if label in negative_labels)
    return 1.0 - 2.0 * p_negative


def smoothed_scores(entries: Sequence[TimelineEntry], rule: TurnRule) -> list[float]:
    scores = [segment_score(e, rule.negative_labels) for e in entries]
    out = []
    for i in range(len(entries)):
        recent = range(max(0, i - rule.window + 1), i + 1)
        weight = sum(entries[j].duration_ms for j in recent)
        out.append(sum(scores[j] * entries[j].duration_ms for j in recent) / weight)
    return out


def negative_turns(entries: Sequence[TimelineEntry], rule: TurnRule = TurnRule()) -> list[TurningPoint]:
    """Turning points of one participant's entries (sorted here by start time); see the module rule."""
    ordered = sorted(entries, key=lambda e: (e.start_ms, e.index))
    scores = smoothed_scores(ordered, rule)
    turns: list[TurningPoint] = []
    negative: bool | None = None
    for i, (entry, s) in enumerate(zip(ordered, scores, strict=True)):
        if negative is None:
            negative = s < rule.threshold
        elif not negative and s < rule.threshold:
            previous = ordered[i - 1]
            turns.append(TurningPoint(entry.start_ms, entry.index, previous.top_label, entry.top_label,
                                      scores[i - 1], s))
            negative = True
        elif negative and s >= rule.threshold + rule.hysteresis:
            negative = False
    return turns
