"""Diarization error rate with the standard implementation (pyannote.metrics), from plain spans.

An overlap turn counts for both of its speakers, as the reference does for overlapping utterances.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

DEFAULT_COLLAR_S = 0.25


def annotation(spans: Iterable[tuple[int, int, Sequence[str]]]):
    """A pyannote ``Annotation`` from (start_ms, end_ms, speakers) spans."""
    from pyannote.core import Annotation, Segment

    out = Annotation()
    for n, (start, end, speakers) in enumerate(spans):
        for s in speakers:
            out[Segment(start / 1000.0, end / 1000.0), f"{n}:{s}"] = s
    return out


def der(reference: Iterable[tuple[int, int, Sequence[str]]], hypothesis: Iterable[tuple[int, int, Sequence[str]]],
        collar_s: float = DEFAULT_COLLAR_S) -> dict[str, float]:
    """DER and its parts (seconds) with the optimal speaker mapping; ``collar_s`` is the full collar
    pyannote takes (0.25 s forgives 0.125 s on each side of every reference boundary)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar_s, skip_overlap=False)
    parts = metric(annotation(reference), annotation(hypothesis), detailed=True)
    return {"der": float(parts["diarization error rate"]), "total_s": float(parts["total"]),
            "missed_s": float(parts["missed detection"]), "false_alarm_s": float(parts["false alarm"]),
            "confusion_s": float(parts["confusion"])}
