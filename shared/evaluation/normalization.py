"""Feature standardisation: ``none``, ``global``, ``per_corpus`` or ``per_speaker``.

Where the statistics come from is the whole point:
- ``global``: mean/std fitted on the training features only.
- ``per_corpus``: each training corpus gets its own mean/std, fitted on training data. A corpus
  never seen in training (the cross-corpus test corpus) is standardised with its *own* unlabelled
  statistics (``unseen_corpus="own"``) or refused (``"error"``).
- ``per_speaker``: every speaker is standardised with the statistics of its own features, in
  whatever set is being transformed. That uses that speaker's unlabelled audio only, never labels
  and never other speakers; at serving time one call channel is one speaker.
Labels are never an input here. A feature that is constant within a group has std floored to 1
(it becomes 0 after centring), so a speaker with a single item maps to zeros.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.corpora.items import Manifest
from shared.errors import InvalidInput, SpecError

NORMALIZATION_MODES = ("none", "global", "per_corpus", "per_speaker")
UNSEEN_CORPUS_OPTIONS = ("own", "error")


def check_mode(mode: str) -> str:
    if mode not in NORMALIZATION_MODES:
        raise SpecError(f"normalization={mode!r} is not one of {list(NORMALIZATION_MODES)}")
    return mode


@dataclass(frozen=True)
class Stats:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, eps: float) -> Stats:
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std < eps, 1.0, std))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std


def _as_matrix(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInput(f"features must be a 2-D matrix (items x dims), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInput("features contain NaN or infinity")
    return x


def _groups(groups: Sequence[str] | None, n: int, what: str) -> np.ndarray:
    if groups is None:
        raise InvalidInput(f"this normalization needs {what} for every row")
    arr = np.asarray([str(g) for g in groups])
    if len(arr) != n:
        raise InvalidInput(f"{len(arr)} {what} for {n} feature rows")
    return arr


def standardize_groups(x: np.ndarray, groups: Sequence[str], eps: float = 1e-8) -> np.ndarray:
    """Standardise each group of rows with its own mean/std (per-speaker, per-channel)."""
    x = _as_matrix(x)
    g = _groups(groups, len(x), "group ids")
    out = np.empty_like(x)
    for key in np.unique(g):
        rows = g == key
        out[rows] = Stats.of(x[rows], eps).apply(x[rows])
    return out


@dataclass
class FeatureNormalizer:
    """Fit on training features (``fit``), apply anywhere (``transform``)."""

    mode: str = "none"
    unseen_corpus: str = "own"
    eps: float = 1e-8
    global_stats: Stats | None = field(default=None, init=False)
    corpus_stats: dict[str, Stats] = field(default_factory=dict, init=False)
    fitted: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if self.unseen_corpus not in UNSEEN_CORPUS_OPTIONS:
            raise SpecError(f"unseen_corpus={self.unseen_corpus!r} is not one of {list(UNSEEN_CORPUS_OPTIONS)}")

    def fit(self, x: np.ndarray, corpora: Sequence[str] | None = None) -> FeatureNormalizer:
        x = _as_matrix(x)
        if self.mode == "global":
            self.global_stats = Stats.of(x, self.eps)
        elif self.mode == "per_corpus":
            c = _groups(corpora, len(x), "corpus names")
            self.corpus_stats = {str(k): Stats.of(x[c == k], self.eps) for k in np.unique(c)}
        self.fitted = True
        return self

    def transform(
        self,
        x: np.ndarray,
        corpora: Sequence[str] | None = None,
        speakers: Sequence[str] | None = None,
    ) -> np.ndarray:
        x = _as_matrix(x)
        if not self.fitted:
            raise SpecError("FeatureNormalizer.transform called before fit (fit on training data)")
        if self.mode == "none":
            return x.copy()
        if self.mode == "global":
            assert self.global_stats is not None
            return self.global_stats.apply(x)
        if self.mode == "per_speaker":
            return standardize_groups(x, _groups(speakers, len(x), "speaker ids"), self.eps)
        c = _groups(corpora, len(x), "corpus names")
        out = np.empty_like(x)
        for key in np.unique(c):
            rows = c == key
            stats = self.corpus_stats.get(str(key))
            if stats is None:
                if self.unseen_corpus == "error":
                    raise SpecError(f"corpus {key!r} was not in the training data of this normalizer")
                stats = Stats.of(x[rows], self.eps)
            out[rows] = stats.apply(x[rows])
        return out

    def fit_transform(
        self, x: np.ndarray, corpora: Sequence[str] | None = None, speakers: Sequence[str] | None = None
    ) -> np.ndarray:
        return self.fit(x, corpora).transform(x, corpora, speakers)

    def transform_manifest(self, x: np.ndarray, manifest: Manifest) -> np.ndarray:
        """Rows of ``x`` follow ``manifest``; groups are its corpora and speaker keys."""
        return self.transform(x, [i.corpus for i in manifest], [i.speaker_key for i in manifest])

    def fit_manifest(self, x: np.ndarray, manifest: Manifest) -> FeatureNormalizer:
        return self.fit(x, [i.corpus for i in manifest])

    def state(self) -> dict[str, np.ndarray]:
        """Fitted statistics as named arrays (for safetensors)."""
        out: dict[str, np.ndarray] = {}
        if self.global_stats is not None:
            out["global.mean"], out["global.std"] = self.global_stats.mean, self.global_stats.std
        for name, s in self.corpus_stats.items():
            out[f"corpus.{name}.mean"], out[f"corpus.{name}.std"] = s.mean, s.std
        return out
