"""Diarization settings, validated once: bad values are the caller's error (``InvalidInput``)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.errors import InvalidInput

MAX_SPEAKERS = 4


@dataclass(frozen=True)
class DiarizationConfig:
    """``num_speakers`` 0 = estimate it (1..``max_speakers``).

    Windows are ``window_ms`` long every ``hop_ms`` inside the VAD's speech, so every instant is seen by
    about two windows; turns are resolved on a ``frame_ms`` grid. A window is *mixed* when, fitted as a
    non-negative mix of its two nearest speaker centroids, the smaller share is at least
    ``overlap_share`` and the mix explains it better than the nearest centroid alone by
    ``overlap_gain``; an instant is overlap only when every window that covers it is mixed (a window
    that merely straddles a clean turn change has a pure neighbour).
    """

    num_speakers: int = 0
    max_speakers: int = MAX_SPEAKERS
    window_ms: int = 1500
    hop_ms: int = 750
    min_window_ms: int = 400
    frame_ms: int = 50
    min_turn_ms: int = 400
    same_speaker_cos: float = 0.93
    min_silhouette: float = 0.10
    more_speakers_margin: float = 0.06
    overlap_share: float = 0.30
    overlap_gain: float = 0.005
    min_overlap_ms: int = 300
    overlap_near_change_ms: int = 1500
    detect_overlap: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.max_speakers <= MAX_SPEAKERS:
            raise InvalidInput(f"max_speakers must be in 1..{MAX_SPEAKERS}, got {self.max_speakers}")
        if not 0 <= self.num_speakers <= self.max_speakers:
            raise InvalidInput(f"num_speakers must be 0 (estimate) or 1..{self.max_speakers}, got {self.num_speakers}")
        if not 0 < self.hop_ms <= self.window_ms:
            raise InvalidInput(f"hop_ms must be in (0, window_ms], got {self.hop_ms} with window_ms {self.window_ms}")
        if not 0 < self.frame_ms <= self.hop_ms:
            raise InvalidInput(f"frame_ms must be in (0, hop_ms], got {self.frame_ms}")
        if not 0 < self.min_window_ms <= self.window_ms:
            raise InvalidInput(f"min_window_ms must be in (0, window_ms], got {self.min_window_ms}")
        if not 0.0 < self.overlap_share <= 0.5:
            raise InvalidInput(f"overlap_share must be in (0, 0.5], got {self.overlap_share}")
        if min(self.min_turn_ms, self.min_overlap_ms) < 0:
            raise InvalidInput("min_turn_ms and min_overlap_ms must be >= 0")
