"""Silence and overlap of a call: where no channel speaks, and where more than one does."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class SilenceSummary:
    total_ms: int                           # no speech on any channel
    share: float                            # of the call duration
    longest_ms: int
    long_silences: tuple[tuple[int, int], ...]  # [start, end) gaps of at least min_silence_ms
    overlap_ms: int                         # speech on more than one channel at once


def silence_summary(spans: Iterable[tuple[int, int]], duration_ms: int, min_silence_ms: int = 2000) -> SilenceSummary:
    """``spans`` are the [start, end) ms of every speech segment, any channel. Gaps before the first
    and after the last segment count as silence; spans are clipped to [0, duration_ms)."""
    events: list[tuple[int, int]] = []
    for start, end in spans:
        start, end = max(0, int(start)), min(int(duration_ms), int(end))
        if end > start:
            events += [(start, 1), (end, -1)]
    events.sort()
    active = 0
    cursor = 0
    gaps: list[tuple[int, int]] = []
    overlap = 0
    for at, delta in events:
        if active == 0 and at > cursor:
            gaps.append((cursor, at))
        if active > 1:
            overlap += at - cursor
        active += delta
        cursor = at
    if duration_ms > cursor:
        gaps.append((cursor, int(duration_ms)))
    total = sum(e - s for s, e in gaps)
    return SilenceSummary(
        total_ms=total,
        share=(total / duration_ms) if duration_ms > 0 else 0.0,
        longest_ms=max((e - s for s, e in gaps), default=0),
        long_silences=tuple(g for g in gaps if g[1] - g[0] >= min_silence_ms),
        overlap_ms=overlap,
    )
