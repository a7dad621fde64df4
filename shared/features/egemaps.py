"""eGeMAPS (v02, 88) and emobase (988) utterance functionals via openSMILE, for the paper-4 baselines.

Building an ``opensmile.Smile`` parses its config (~0.25 s), so ``FunctionalsExtractor`` keeps one
per instance; ``extract_functionals`` is the one-shot convenience.
"""
from __future__ import annotations

import numpy as np

from shared.errors import EmptyAudio, InvalidInput, NonFiniteAudio

FEATURE_SETS = ("egemaps", "emobase")
EXPECTED_DIMS = {"egemaps": 88, "emobase": 988}


class FunctionalsExtractor:
    def __init__(self, feature_set: str = "egemaps") -> None:
        import opensmile

        if feature_set not in FEATURE_SETS:
            raise InvalidInput(f"feature_set must be one of {FEATURE_SETS}, got {feature_set!r}")
        self.feature_set = feature_set
        fs = opensmile.FeatureSet.eGeMAPSv02 if feature_set == "egemaps" else opensmile.FeatureSet.emobase
        self._smile = opensmile.Smile(feature_set=fs, feature_level=opensmile.FeatureLevel.Functionals)
        self.names: list[str] = list(self._smile.feature_names)

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
        frame = self._smile.process_signal(a, sample_rate)
        return frame.to_numpy(dtype=np.float32).reshape(-1)

    def many(self, clips: list[np.ndarray], sample_rate: int) -> np.ndarray:
        return np.stack([self(c, sample_rate) for c in clips]) if clips else np.zeros((0, self.dim), np.float32)


def extract_functionals(x: np.ndarray, sr: int, feature_set: str = "egemaps") -> tuple[np.ndarray, list[str]]:
    """One clip's functionals and their names (builds a fresh extractor; reuse one for many clips)."""
    extractor = FunctionalsExtractor(feature_set)
    return extractor(x, sr), extractor.names
