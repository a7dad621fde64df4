"""The one preparation path: decode -> channels -> resample -> VAD segments -> normalise.

The preprocess gRPC service and the Celery ``segment_batch`` task both call ``prepare`` so a
recording is cut the same way wherever it is analysed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from shared.audio.channels import DEFAULT_ROLES, mixdown, roles_for
from shared.audio.decode import AudioLimits, RawPcmSpec, decode
from shared.audio.loudness import loudness_normalize, peak_normalize
from shared.audio.resample import resample
from shared.audio.types import Audio, Segment
from shared.audio.vad import SileroVad, VadConfig, segment_audio

NORMALIZE_MODES = ("none", "peak", "loudness")


@dataclass(frozen=True)
class PrepareOptions:
    """How to prepare a recording.

    ``normalize`` is applied per channel (each channel is a different speaker and line level):
    ``peak`` to -1 dBFS, ``loudness`` to -23 LUFS (BS.1770). VAD runs on the un-normalised signal,
    so segments do not depend on it. ``return_audio`` is for adapters (send the samples back or
    not); ``prepare`` always fills ``PreparedAudio.audio``.
    """

    keep_channels: bool = True
    normalize: str = "none"
    vad: VadConfig = field(default_factory=VadConfig)
    target_rate: int = 16000
    return_audio: bool = False
    roles: tuple[str, ...] = DEFAULT_ROLES

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")
        if self.target_rate <= 0:
            raise ValueError(f"target_rate must be positive, got {self.target_rate}")


@dataclass
class PreparedAudio:
    audio: Audio  # resampled to target_rate, channels kept or mixed down, normalised
    segments: list[Segment]
    source_rate: int
    source_channels: int
    duration_s: float
    roles: tuple[str, ...]  # speaker label of each channel of ``audio``


def normalize_channels(x: np.ndarray, sr: int, mode: str) -> np.ndarray:
    """Normalise each row of (channels, n) independently."""
    if mode == "none":
        return x
    if mode == "peak":
        return np.stack([peak_normalize(c) for c in x])
    if mode == "loudness":
        return np.stack([loudness_normalize(c, sr) for c in x])
    raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {mode!r}")


def prepare(
    source: bytes | str | os.PathLike,
    options: PrepareOptions = PrepareOptions(),
    *,
    vad: SileroVad,
    limits: AudioLimits | None = None,
    raw: RawPcmSpec | None = None,
) -> PreparedAudio:
    """Decode and segment one recording. Raises the typed ``AudioError``s of ``decode``."""
    decoded = decode(source, limits=limits, raw=raw)
    audio = decoded if options.keep_channels else mixdown(decoded)
    audio = resample(audio, options.target_rate)
    segments = segment_audio(audio, options.vad, vad, keep_channels=True, roles=options.roles)
    samples = normalize_channels(audio.samples, audio.sample_rate, options.normalize)
    return PreparedAudio(
        audio=Audio(samples=samples, sample_rate=audio.sample_rate, source_format=decoded.source_format),
        segments=segments,
        source_rate=decoded.sample_rate,
        source_channels=decoded.num_channels,
        duration_s=decoded.duration_s,
        roles=roles_for(audio.num_channels, options.roles),
    )
