"""eGeMAPS (v02, 88) and emobase (988) utterance functionals via openSMILE, for the paper-4 baselines.

Building an ``opensmile.Smile`` parses its config (~0.25 s), so ``FunctionalsExtractor`` keeps one
per instance; ``extract_functionals`` is the one-shot convenience. ``Smile.process_signal`` still
initialises and frees a native openSMILE instance for every clip and wraps the answer in pandas, about
25 ms per clip: a call has hundreds of clips of 1-3 s, so the extractor instead keeps one native
instance per sample rate and resets it between clips (openSMILE's documented run/reset cycle), which
gives bit-identical functionals.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from shared.errors import EmptyAudio, InvalidInput, NonFiniteAudio

FEATURE_SETS = ("egemaps", "emobase")
EXPECTED_DIMS = {"egemaps": 88, "emobase": 988}


class _NativeRunner:
    """One initialised native openSMILE instance, run once per clip and reset in between.

    It feeds the clip as ``Smile._extract`` does (float -> int16 by x32768, external audio source,
    single-level external sink), so its output equals ``process_signal``'s; tests pin that."""

    def __init__(self, smile: Any, sample_rate: int) -> None:
        import os

        from opensmile.core.config import config

        options = smile._options()
        options.update(source=os.path.join(smile.default_config_root, config.EXTERNAL_INPUT_CONFIG),
                       sampleRate=sample_rate, nBits=16)
        self._source, self._sink = config.EXTERNAL_SOURCE_COMPONENT, config.EXTERNAL_OUTPUT_COMPONENT
        self._native = smile._smile(options=options)
        self._used = False
        weakref.finalize(self, self._native.free)  # native memory, not seen by the garbage collector

    def __call__(self, a: np.ndarray) -> np.ndarray | None:
        if self._used:
            self._native.reset()
        self._used = True
        rows: list[np.ndarray] = []
        self._native.external_sink_set_callback_ex(self._sink, lambda data, meta: rows.append(data.copy()))
        pcm = (a * np.float32(32768)).astype(np.int16)
        self._native.external_audio_source_write_data(self._source, bytes(pcm))
        self._native.external_audio_source_set_eoi(self._source)
        self._native.run()
        return rows[0] if rows else None

    def free(self) -> None:
        self._native.free()  # idempotent: the finaliser's second call does nothing


class FunctionalsExtractor:
    """Utterance functionals of one feature set. Safe to share between threads (calls are serialised),
    but one extractor per thread runs clips in parallel (openSMILE releases the GIL)."""

    def __init__(self, feature_set: str = "egemaps") -> None:
        import opensmile

        if feature_set not in FEATURE_SETS:
            raise InvalidInput(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")
        self.feature_set = feature_set
        fs = opensmile.FeatureSet.eGeMAPSv02 if feature_set == "egemaps" else opensmile.FeatureSet.emobase
        self._smile = opensmile.Smile(feature_set=fs, feature_level=opensmile.FeatureLevel.Functionals)
        self.names: list[str] = list(self._smile.feature_names)
        self._runners: dict[int, _NativeRunner] = {}
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return len(self.names)

    def __call__(self, x: np.ndarray, sample_rate: int) -> np.ndarray:
        """(dim,) float32 functionals of one mono clip."""
        a = np.asarray(x, dtype=np.float32)
        if a.ndim != 1:
            raise InvalidInput(f"expected a 1-D waveform, got shape {a.shape}")
        if a.size == 0:
            raise EmptyAudio("cannot compute functionals of an empty clip")
        if not np.isfinite(a).all():
            raise NonFiniteAudio("waveform contains NaN or Inf")
        with self._lock:
            return self._native(a, sample_rate)

    def _native(self, a: np.ndarray, sample_rate: int) -> np.ndarray:
        try:
            runner = self._runners.get(sample_rate) or self._runners.setdefault(
                sample_rate, _NativeRunner(self._smile, sample_rate))
        except AttributeError:  # an opensmile release without these internals: the public, slower path
            return self._smile.process_signal(a, sample_rate).to_numpy(dtype=np.float32).reshape(-1)
        try:
            row = runner(a)
        except Exception:
            self._runners.pop(sample_rate).free()  # a failed run leaves the instance in an unknown state
            raise
        if row is None:  # too short for one frame: process_signal's NaN row
            return np.full(self.dim, np.nan, dtype=np.float32)
        return np.asarray(row, dtype=np.float32).reshape(-1)

    def many(self, clips: list[np.ndarray], sample_rate: int) -> np.ndarray:
        return np.stack([self(c, sample_rate) for c in clips]) if clips else np.zeros((0, self.dim), np.float32)


def extract_functionals(x: np.ndarray, sr: int, feature_set: str = "egemaps") -> tuple[np.ndarray, list[str]]:
    """One clip's functionals and their names (builds a fresh extractor; reuse one for many clips)."""
    extractor = FunctionalsExtractor(feature_set)
    return extractor(x, sr), extractor.names
