"""A call's emotion timeline: each classified segment with its top label, valence and arousal."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.corpora.labels import VALENCE_AROUSAL
from shared.errors import InvalidInput


@dataclass(frozen=True)
class ClassifiedSegment:
    """One speech segment and the model's class posteriors for it; ``uncertain``: the model's calibrated top
    probability is below its card's ``serving.uncertain_below`` (inference decides, the flag is carried)."""

    channel: int
    participant: str
    start_ms: int
    end_ms: int
    labels: tuple[str, ...]
    probs: tuple[float, ...]
    uncertain: bool = False

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise InvalidInput(f"segment [{self.start_ms}, {self.end_ms}) ms is empty")
        if len(self.labels) != len(self.probs) or not self.labels:
            raise InvalidInput(f"{len(self.labels)} labels but {len(self.probs)} probabilities")


@dataclass(frozen=True)
class TimelineEntry:
    index: int
    channel: int
    participant: str
    start_ms: int
    end_ms: int
    labels: tuple[str, ...]
    probs: tuple[float, ...]
    top_label: str
    top_prob: float
    valence: float
    arousal: float
    overlap_participants: tuple[str, ...] = ()  # a diarized stretch where these two spoke at once
    uncertain: bool = False  # top probability below the model's threshold: left out of shares, means and turns

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def overlap(self) -> bool:
        return bool(self.overlap_participants)


def valence_arousal_of(labels: Sequence[str], probs: Sequence[float]) -> tuple[float, float]:
    """Posterior-weighted (valence, arousal) over the labels that have circumplex coordinates
    (``shared.corpora.labels.VALENCE_AROUSAL``), renormalised over them; (0, 0) when none has any,
    so a model with an unplaced label (e.g. "other") still gets a timeline."""
    total = v = a = 0.0
    for label, p in zip(labels, probs, strict=True):
        if label in VALENCE_AROUSAL:
            lv, la = VALENCE_AROUSAL[label]
            total += float(p)
            v += float(p) * lv
            a += float(p) * la
    return (v / total, a / total) if total > 0 else (0.0, 0.0)


def classify(segment: ClassifiedSegment, index: int = 0) -> TimelineEntry:
    """Top label by argmax; valence/arousal are the posterior-weighted label coordinates."""
    probs = np.asarray(segment.probs, dtype=np.float64)
    top = int(np.argmax(probs))
    valence, arousal = valence_arousal_of(segment.labels, probs.tolist())
    return TimelineEntry(
        index=index, channel=segment.channel, participant=segment.participant, start_ms=segment.start_ms,
        end_ms=segment.end_ms, labels=tuple(segment.labels), probs=tuple(float(p) for p in probs),
        top_label=segment.labels[top], top_prob=float(probs[top]), valence=float(valence), arousal=float(arousal),
        uncertain=bool(segment.uncertain),
    )


def build_timeline(segments: Sequence[ClassifiedSegment]) -> list[TimelineEntry]:
    """Entries sorted by start, then channel; ``index`` is the position in that order."""
    ordered = sorted(segments, key=lambda s: (s.start_ms, s.channel, s.end_ms))
    return [classify(s, i) for i, s in enumerate(ordered)]
