"""Utterance-level features: openSMILE functionals of the speech in a clip, one vector per clip.

The feature-model family (``utterance_*`` architectures) eats these. Clips are VAD-trimmed first:
corpus clips carry leading and trailing silence of corpus-specific length, while a call's segments
are already cut by the same VAD with the same padding, so trimming makes a corpus clip and a call
segment of the same words look alike (the silence would otherwise leak into loudness and voicing
functionals). A clip in which the VAD finds no speech is kept whole.

* ``trim="vad_call"`` (use this): the clip is embedded in silence before the VAD runs, as an
  utterance is on a call channel, so a corpus clip gets about the span the call path's segmenter gives
  the same words; then the edges are refined on the samples themselves (``energy_edges``), because
  the VAD's 32 ms windows sit at a phase that depends on where the signal started. Edge-sensitive
  functionals (voiced-segment lengths, jitter and formant-bandwidth variation) move with the edges:
  30-250 ms apart made the two paths' posteriors differ by up to 0.17;
* ``trim="vad"``: the VAD on the bare clip (models trained before ``vad_call`` existed);
* ``trim="none"``.

Group statistics (``with_group_stats``) turn raw rows into the model's input layout
``[raw, group mean, group variance, group count]``: the model standardises by speaker itself, with
the pool statistics it learned in training (see ``shared.models.utterance``), so every path that
can say which rows belong to one speaker (a corpus speaker in training, a call channel in serving)
feeds the model the same way.
"""
from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from shared.errors import SerError, SpecError
from shared.features.cache import FeatureCache, audio_hash
from shared.features.config import config_hash
from shared.features.moments import Moments

SAMPLE_RATE = 16000
TrimMode = Literal["vad_call", "vad", "none"]
# eGeMAPS functionals that move by more than 0.2 of their spread across clips when a clip's edges move by
# one VAD window (32 ms), which is how far the call path's and the eval path's trims can disagree
# (tests/bench/bench_edge_sensitivity.py, 60 clips of SAVEE, RAVDESS and URDU). Mostly coefficients of
# variation (stddevNorm) of near-zero-mean tracks. ``edge_stable=True`` leaves them out.
EDGE_UNSTABLE_EGEMAPS = (    "mfcc4_sma3_stddevNorm",
    "mfcc2_sma3_stddevNorm",
    "F3bandwidth_sma3nz_stddevNorm",
    "F2bandwidth_sma3nz_stddevNorm",
    "F1bandwidth_sma3nz_stddevNorm",
    "jitterLocal_sma3nz_stddevNorm",
    "F3bandwidth_sma3nz_amean",
    "F2frequency_sma3nz_stddevNorm",
    "mfcc3_sma3_stddevNorm",
    "slopeV500-1500_sma3nz_stddevNorm",
    "F3frequency_sma3nz_stddevNorm",
    "F2bandwidth_sma3nz_amean",
    "mfcc4V_sma3nz_stddevNorm",
    "F1frequency_sma3nz_stddevNorm",
)
CALL_CONTEXT_S = 0.5
EDGE_FLOOR_DB = 20.0
EDGE_PAD_S = 0.05
ENCODERS = ("none", "whisper-tiny.en", "whisper-tiny.en-mid")


@dataclass(frozen=True)
class UtteranceConfig:
    """``feature_set`` functionals, then (``encoder``) a frozen pretrained encoder's pooled frames."""

    feature_set: str = "egemaps"
    trim: TrimMode = "vad_call"
    encoder: str = "none"
    edge_stable: bool = False

    def __post_init__(self) -> None:
        from shared.features.egemaps import FEATURE_SETS

        if self.feature_set not in FEATURE_SETS:
            raise SpecError(f"feature_set must be one of {list(FEATURE_SETS)}, got {self.feature_set!r}")
        if self.trim not in ("vad_call", "vad", "none"):
            raise SpecError(f"trim must be 'vad_call', 'vad' or 'none', got {self.trim!r}")
        if self.encoder not in ENCODERS:
            raise SpecError(f"encoder must be one of {list(ENCODERS)}, got {self.encoder!r}")
        if self.edge_stable and self.feature_set != "egemaps":
            raise SpecError("edge_stable applies to the egemaps feature set only")

    @property
    def dim(self) -> int:
        from shared.features.egemaps import EXPECTED_DIMS
        from shared.features.whisper import DIM

        functionals = EXPECTED_DIMS[self.feature_set] - (len(EDGE_UNSTABLE_EGEMAPS) if self.edge_stable else 0)
        return functionals + (DIM if self.encoder != "none" else 0)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"feature_set": self.feature_set, "trim": self.trim}
        if self.encoder != "none":
            d["encoder"] = self.encoder
        if self.edge_stable:
            d["edge_stable"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UtteranceConfig:
        unknown = set(d) - {"feature_set", "trim", "encoder", "edge_stable"}
        if unknown:
            raise SpecError(f"unknown utterance feature fields: {sorted(unknown)}")
        return cls(**d)

    def hash(self) -> str:
        return config_hash(self.to_dict())


def vad_trim(clip: np.ndarray, vad: Any, context_s: float = 0.0) -> np.ndarray:
    """The clip from its first speech segment's start to its last one's end (VAD padding included),
    found with ``context_s`` of silence on both sides (as on a call channel; 0: the bare clip)."""
    from shared.audio.vad import VadConfig

    pad = int(round(context_s * SAMPLE_RATE))
    x = np.pad(np.asarray(clip, dtype=np.float32), (pad, pad)) if pad else clip
    spans = vad.segments(x, SAMPLE_RATE, VadConfig())
    if not spans:
        return clip
    start = max(0, spans[0][0] * SAMPLE_RATE // 1000 - pad)
    end = min(len(clip), spans[-1][1] * SAMPLE_RATE // 1000 - pad)
    return clip[start:end] if end - start >= SAMPLE_RATE // 10 else clip


def energy_edges(clip: np.ndarray, floor_db: float = EDGE_FLOOR_DB, pad_s: float = EDGE_PAD_S) -> np.ndarray:
    """The clip cut ``pad_s`` before its first and after its last 10 ms frame (1 ms hop) within ``floor_db``
    of its loudest one. Unlike the VAD's 32 ms windows, whose phase depends on where the signal started,
    these edges depend only on the samples around the speech, so a corpus clip and the same words cut
    from a call end up with the same edges."""
    x = np.asarray(clip, dtype=np.float32)
    frame, hop = SAMPLE_RATE // 100, SAMPLE_RATE // 1000
    if len(x) < 2 * frame:
        return x
    power = np.convolve(x.astype(np.float64) ** 2, np.ones(frame) / frame, mode="valid")[::hop]
    db = 10 * np.log10(power + 1e-12)
    loud = np.flatnonzero(db >= db.max() - floor_db)
    pad = int(pad_s * SAMPLE_RATE)
    start, end = max(0, loud[0] * hop - pad), min(len(x), loud[-1] * hop + frame + pad)
    return x[start:end] if end - start >= SAMPLE_RATE // 10 else x


class UtteranceFrontEnd:
    """Clips (16 kHz mono) -> (n, dim) functionals; optionally cached on disk by audio content.

    openSMILE is the slowest step of serving (about 31x real time per core), and it releases the GIL,
    so ``workers`` threads compute clips in parallel, each with its own openSMILE and VAD instance
    (neither is safe to share between threads).
    """

    def __init__(self, config: UtteranceConfig, cache: FeatureCache | None = None, workers: int = 1) -> None:
        from shared.features.egemaps import FunctionalsExtractor

        self.config = config
        self.workers = max(1, int(workers))
        self._executor: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._local = threading.local()
        self._local.extractor = FunctionalsExtractor(config.feature_set)
        self.encoder = None
        if config.encoder != "none":
            from shared.features.whisper import WhisperEncoder

            self.encoder = WhisperEncoder(config.encoder)
        self.keep = np.asarray([i for i, n in enumerate(self.extractor.names)
                                if not (config.edge_stable and n in EDGE_UNSTABLE_EGEMAPS)])
        self.cache = cache
        self._keys = (config_hash({"feature_set": config.feature_set, "trim": config.trim}),
                      config_hash({"encoder": config.encoder, "trim": config.trim}))

    @property
    def extractor(self) -> Any:
        """This thread's openSMILE extractor."""
        if getattr(self._local, "extractor", None) is None:
            from shared.features.egemaps import FunctionalsExtractor

            self._local.extractor = FunctionalsExtractor(self.config.feature_set)
        return self._local.extractor

    def _trimmed(self, clip: np.ndarray) -> np.ndarray:
        if self.config.trim == "none":
            return clip
        if getattr(self._local, "vad", None) is None:
            from shared.audio.vad import SileroVad

            self._local.vad = SileroVad(device="cpu")
        if self.config.trim == "vad":
            return vad_trim(clip, self._local.vad)
        return energy_edges(vad_trim(clip, self._local.vad, CALL_CONTEXT_S))

    def _part(self, trimmed: Callable[[], np.ndarray], audio_key: str, config_key: str,
              compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if self.cache is not None:
            hit = self.cache.get(audio_key, config_key)
            if hit is not None:
                return hit
        value = np.asarray(compute(trimmed()), dtype=np.float32)
        if self.cache is not None:
            self.cache.put(audio_key, config_key, value)
        return value

    def one(self, clip: np.ndarray) -> np.ndarray:
        clip = np.asarray(clip, dtype=np.float32)
        key = audio_hash(clip, SAMPLE_RATE) if self.cache is not None else ""
        trimmed = functools.cache(lambda: self._trimmed(clip))  # the VAD runs once, and only on a cache miss
        parts = [self._part(trimmed, key, self._keys[0], lambda x: self.extractor(x, SAMPLE_RATE))[self.keep]]
        if self.encoder is not None:
            parts.append(self._part(trimmed, key, self._keys[1], self.encoder.one))
        return np.concatenate(parts)

    def each(self, clips: Sequence[np.ndarray]) -> list[np.ndarray | SerError]:
        """Each clip's row, or the typed error that clip raised (one bad clip does not sink the others)."""
        def safe(clip: np.ndarray) -> np.ndarray | SerError:
            try:
                return self.one(clip)
            except SerError as exc:
                return exc

        if self.workers == 1 or len(clips) < 2:
            return [safe(c) for c in clips]
        return list(self._pool().map(safe, clips))

    def _pool(self) -> ThreadPoolExecutor:
        """One pool for the front end's life: its threads keep their openSMILE and VAD instances from
        chunk to chunk (a pool per call would build and drop them every 64 segments)."""
        with self._pool_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="utterance")
                weakref.finalize(self, self._executor.shutdown, wait=False)
            return self._executor

    def __call__(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        rows = self.each(clips)
        for row in rows:
            if isinstance(row, SerError):
                raise row
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
