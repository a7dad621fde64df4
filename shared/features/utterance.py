"""Utterance-level features: openSMILE functionals of the speech in a clip, one vector per clip.

The feature-model family (``utterance_*`` architectures) eats these. Clips are VAD-trimmed first
(``trim="vad"``): corpus clips carry leading and trailing silence of corpus-specific length, while a
call's segments are already cut by the same VAD with the same padding, so trimming makes a corpus
clip and a call segment of the same words look alike (the silence would otherwise leak into
loudness and voicing functionals). A clip in which the VAD finds no speech is kept whole.

Group statistics (``with_group_stats``) turn raw rows into the model's input layout
``[raw, group mean, group variance, group count]``: the model standardises by speaker itself, with
the pool statistics it learned in training (see ``shared.models.utterance``), so every path that
can say which rows belong to one speaker (a corpus speaker in training, a call channel in serving)
feeds the model the same way.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from shared.errors import SpecError
from shared.features.cache import FeatureCache, audio_hash
from shared.features.config import config_hash
from shared.features.moments import Moments

SAMPLE_RATE = 16000
TrimMode = Literal["vad", "none"]
ENCODERS = ("none", "whisper-tiny.en")


@dataclass(frozen=True)
class UtteranceConfig:
    """``feature_set`` functionals, then (``encoder``) a frozen pretrained encoder's pooled frames."""

    feature_set: str = "egemaps"
    trim: TrimMode = "vad"
    encoder: str = "none"

    def __post_init__(self) -> None:
        from shared.features.egemaps import FEATURE_SETS

        if self.feature_set not in FEATURE_SETS:
            raise SpecError(f"feature_set must be one of {list(FEATURE_SETS)}, got {self.feature_set!r}")
        if self.trim not in ("vad", "none"):
            raise SpecError(f"trim must be 'vad' or 'none', got {self.trim!r}")
        if self.encoder not in ENCODERS:
            raise SpecError(f"encoder must be one of {list(ENCODERS)}, got {self.encoder!r}")

    @property
    def dim(self) -> int:
        from shared.features.egemaps import EXPECTED_DIMS
        from shared.features.whisper import DIM

        return EXPECTED_DIMS[self.feature_set] + (DIM if self.encoder != "none" else 0)

    def to_dict(self) -> dict[str, Any]:
        d = {"feature_set": self.feature_set, "trim": self.trim}
        return d if self.encoder == "none" else {**d, "encoder": self.encoder}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UtteranceConfig:
        unknown = set(d) - {"feature_set", "trim", "encoder"}
        if unknown:
            raise SpecError(f"unknown utterance feature fields: {sorted(unknown)}")
        return cls(**d)

    def hash(self) -> str:
        return config_hash(self.to_dict())


def vad_trim(clip: np.ndarray, vad: Any) -> np.ndarray:
    """The clip from its first speech segment's start to its last one's end (VAD padding included)."""
    from shared.audio.vad import VadConfig

    spans = vad.segments(clip, SAMPLE_RATE, VadConfig())
    if not spans:
        return clip
    start, end = spans[0][0] * SAMPLE_RATE // 1000, spans[-1][1] * SAMPLE_RATE // 1000
    return clip[start:end] if end - start >= SAMPLE_RATE // 10 else clip


class UtteranceFrontEnd:
    """Clips (16 kHz mono) -> (n, dim) functionals; optionally cached on disk by audio content."""

    def __init__(self, config: UtteranceConfig, cache: FeatureCache | None = None) -> None:
        from shared.features.egemaps import FunctionalsExtractor

        self.config = config
        self.extractor = FunctionalsExtractor(config.feature_set)
        self.encoder = None
        if config.encoder != "none":
            from shared.features.whisper import WhisperEncoder

            self.encoder = WhisperEncoder()
        self.cache = cache
        self._vad = None
        self._keys = (config_hash({"feature_set": config.feature_set, "trim": config.trim}),
                      config_hash({"encoder": config.encoder, "trim": config.trim}))

    def _trimmed(self, clip: np.ndarray) -> np.ndarray:
        if self.config.trim == "none":
            return clip
        if self._vad is None:
            from shared.audio.vad import SileroVad

            self._vad = SileroVad(device="cpu")
        return vad_trim(clip, self._vad)

    def _part(self, clip: np.ndarray, audio_key: str, config_key: str, compute) -> np.ndarray:
        if self.cache is not None:
            hit = self.cache.get(audio_key, config_key)
            if hit is not None:
                return hit
        value = np.asarray(compute(self._trimmed(clip)), dtype=np.float32)
        if self.cache is not None:
            self.cache.put(audio_key, config_key, value)
        return value

    def one(self, clip: np.ndarray) -> np.ndarray:
        clip = np.asarray(clip, dtype=np.float32)
        key = audio_hash(clip, SAMPLE_RATE) if self.cache is not None else ""
        parts = [self._part(clip, key, self._keys[0], lambda x: self.extractor(x, SAMPLE_RATE))]
        if self.encoder is not None:
            parts.append(self._part(clip, key, self._keys[1], self.encoder.one))
        return np.concatenate(parts)

    def __call__(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        rows = [self.one(c) for c in clips]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.config.dim), np.float32)


def with_group_stats(raw: np.ndarray, moments: Sequence[Moments]) -> np.ndarray:
    """Rows ``[raw, mean, var, n]`` of each row's group (``moments[i]`` describes row i's group)."""
    raw = np.asarray(raw, dtype=np.float64)
    if len(moments) != len(raw):
        raise SpecError(f"{len(moments)} group statistics for {len(raw)} rows")
    out = [np.concatenate([r, m.mean, m.var, [m.n]]) for r, m in zip(raw, moments, strict=True)]
    return np.asarray(out, dtype=np.float32).reshape(len(raw), 3 * raw.shape[1] + 1)


def group_moments(raw: np.ndarray, groups: Sequence[str] | None) -> list[Moments]:
    """Each row's group moments over all rows of its group (no groups: each row is its own group)."""
    raw = np.asarray(raw, dtype=np.float64)
    if groups is None:
        return [Moments.of(r[None]) for r in raw]
    keys = [str(g) for g in groups]
    by_group = {k: Moments.of(raw[[i for i, g in enumerate(keys) if g == k]]) for k in dict.fromkeys(keys)}
    return [by_group[k] for k in keys]
