"""Model inputs from 16 kHz mono speech: the one path training, evaluation and serving share.

A ``ModelInputConfig`` names everything between a waveform and a model's input tensor (window
policy, log-mel config, image config); its hash goes into the model card, and serving refuses a
request whose hash differs. Windowing policy (see ``windowing``): clips are cut into fixed windows
of ``window_s`` every ``stride_s`` (short clips zero-padded, never stretched); a clip's prediction
is the mean of its windows' posteriors.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from shared.errors import SerError, SpecError
from shared.evaluation.normalization import standardize_groups
from shared.features.cache import FeatureCache
from shared.features.config import LogMelConfig, config_hash, preset
from shared.features.image import ImageConfig, images_from_batch
from shared.features.logmel import LogMelFrontEnd
from shared.features.moments import Moments
from shared.features.utterance import UtteranceConfig, UtteranceFrontEnd, group_moments, with_group_stats
from shared.features.windowing import WindowPolicy, Windows, window_many

InputKind = Literal["image", "logmel", "waveform", "functionals"]
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class ModelInputConfig:
    kind: InputKind = "image"
    logmel: LogMelConfig = field(default_factory=LogMelConfig)
    image: ImageConfig = field(default_factory=lambda: ImageConfig(channels=1))
    utterance: UtteranceConfig = field(default_factory=UtteranceConfig)
    window_s: float = 3.0
    stride_s: float = 1.5
    waveform_norm: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("image", "logmel", "waveform", "functionals"):
            raise SpecError(f"input kind must be image, logmel, waveform or functionals, got {self.kind!r}")
        if not 0 < self.stride_s <= self.window_s:
            raise SpecError(f"need 0 < stride_s <= window_s, got {self.stride_s}, {self.window_s}")

    @property
    def policy(self) -> WindowPolicy:
        return WindowPolicy(int(round(self.window_s * SAMPLE_RATE)), int(round(self.stride_s * SAMPLE_RATE)))

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "functionals":  # one row per clip: no windows, no log-mel
            return {"kind": self.kind, "utterance": self.utterance.to_dict()}
        d: dict[str, Any] = {"kind": self.kind, "window_s": self.window_s, "stride_s": self.stride_s}
        if self.kind == "waveform":
            d["waveform_norm"] = self.waveform_norm
        else:
            d["logmel"] = self.logmel.to_dict()
        if self.kind == "image":
            d["image"] = self.image.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInputConfig:
        d = dict(d)
        unknown = set(d) - {"kind", "window_s", "stride_s", "waveform_norm", "logmel", "image", "preset", "utterance"}
        if unknown:
            raise SpecError(f"unknown input config fields: {sorted(unknown)}")
        logmel = preset(d.pop("preset")) if "preset" in d else LogMelConfig()
        if "logmel" in d:
            overrides = dict(d.pop("logmel"))
            logmel = LogMelConfig.from_dict({**logmel.to_dict(), **overrides}) if overrides else logmel
        image = ImageConfig.from_dict(d.pop("image")) if "image" in d else ImageConfig(channels=1)
        utterance = UtteranceConfig.from_dict(d.pop("utterance")) if "utterance" in d else UtteranceConfig()
        return cls(logmel=logmel, image=image, utterance=utterance, **d)

    def hash(self) -> str:
        return config_hash(self.to_dict())


def normalize_waveform(x: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Zero mean, unit variance per waveform (wav2vec2's input convention)."""
    x = np.asarray(x, dtype=np.float32)
    return (x - x.mean()) / (x.std() + eps)


@dataclass(frozen=True)
class ModelInputs:
    """``x[i]`` is window i of clip ``source[i]``; ``num_clips`` clips went in."""

    x: np.ndarray
    source: np.ndarray
    num_clips: int


class InputBuilder:
    """Turns clips into model inputs with one front end instance (GPU when present).

    ``functionals`` inputs are one row per clip (``utterance_rows``); ``cache`` keeps their
    openSMILE functionals on disk by audio content, for experiments that see the same clips again.
    """

    def __init__(self, config: ModelInputConfig, device: str | torch.device | None = None,
                 cache: FeatureCache | None = None, workers: int = 1) -> None:
        self.config = config
        self.frontend = None if config.kind in ("waveform", "functionals") else LogMelFrontEnd(config.logmel,
                                                                                              device=device)
        self.utterance = (UtteranceFrontEnd(config.utterance, cache, workers=workers) if config.kind == "functionals"
                          else None)
        self._mel_shape: tuple[int, ...] | None = None

    def utterance_rows(self, clips: Sequence[np.ndarray], groups: Sequence[str] | None = None) -> np.ndarray:
        """(clips, 3 * dim + 1): each clip's functionals with its group's statistics over all given clips."""
        assert self.utterance is not None
        raw = self.utterance(clips)
        return with_group_stats(raw, group_moments(raw, groups))

    def raw_inputs(self, clips: Sequence[np.ndarray], batch: int = 64) -> list[np.ndarray | SerError]:
        """Each clip's group-independent inputs, or the typed error that clip raised: its functionals row
        (dim,), its windows' log-mels (windows, n_mels, frames) or its waveform windows (windows, samples).

        This is the part of the front end that needs nothing but the clip itself, so a features service
        can compute it apart from inference (SER_PIPELINE=services); ``raw_moments`` and ``finish`` do the
        rest, and the in-process path runs the same three steps."""
        if self.config.kind == "functionals":
            assert self.utterance is not None
            return self.utterance.each(clips)
        if not clips:
            return []
        w = self.windows(clips)
        data = w.data.astype(np.float32) if self.config.kind == "waveform" else self._mels(w.data, batch)
        return [data[w.source == k] for k in range(len(clips))]

    def raw_shape(self) -> tuple[int, ...]:
        """The shape of one clip's functionals row, or of one window's log-mel or waveform."""
        if self.config.kind == "functionals":
            return (self.config.utterance.dim,)
        if self.config.kind == "waveform":
            return (self.config.policy.length,)
        if self._mel_shape is None:
            self._mel_shape = self._mels(np.zeros((1, self.config.policy.length), np.float32), 1).shape[1:]
        return self._mel_shape

    def raw_moments(self, raw: np.ndarray) -> Moments:
        """A clip's share of its group's statistics, from its raw inputs: the functionals row, or its
        log-mel bands over every window and frame (as ``standardize_bands`` counts them)."""
        raw = np.asarray(raw)
        if self.config.kind == "functionals":
            return Moments.of(raw.reshape(1, -1))
        return Moments.of(raw.transpose(0, 2, 1).reshape(-1, raw.shape[1]))

    def windows(self, clips: Sequence[np.ndarray]) -> Windows:
        return window_many([np.asarray(c, dtype=np.float32) for c in clips], self.config.policy)

    def __call__(self, clips: Sequence[np.ndarray], *, groups: Sequence[str] | None = None,
                 batch: int = 64, stats: Mapping[str, Moments] | None = None) -> ModelInputs:
        """``groups`` (one per clip: a speaker, a corpus, a call channel) turns on group standardisation:
        over the given clips of each group, or with ``stats[group]`` (``group_stats`` of all of a
        group's clips, when they do not fit in one call)."""
        if self.config.kind == "functionals":
            return ModelInputs(self.utterance_rows(clips, groups), np.arange(len(clips)), len(clips))
        w = self.windows(clips)
        window_groups = None if groups is None else np.asarray(groups)[w.source]
        return ModelInputs(self.from_windows(w.data, groups=window_groups, batch=batch, stats=stats), w.source,
                           len(clips))

    def _mels(self, data: np.ndarray, batch: int) -> np.ndarray:
        assert self.frontend is not None
        mels = []
        for i in range(0, len(data), batch):
            with torch.no_grad():
                mels.append(self.frontend(torch.from_numpy(np.ascontiguousarray(data[i : i + batch]))).cpu().numpy())
        return np.concatenate(mels).astype(np.float32)

    def band_moments(self, clips: Sequence[np.ndarray], batch: int = 64) -> Moments:
        """Log-mel band moments over every window and frame of ``clips``, as ``standardize_bands`` counts them."""
        return self.raw_moments(self._mels(self.windows(clips).data, batch))

    def from_windows(self, data: np.ndarray, *, groups: np.ndarray | None = None, batch: int = 64,
                     stats: Mapping[str, Moments] | None = None) -> np.ndarray:
        """(N, samples) equal-length windows -> (N, ...) model inputs, computed in batches.

        With ``groups``, each log-mel band is standardised over all windows and frames of its group,
        using only that group's own (unlabelled) audio: per-speaker or per-corpus normalisation.
        """
        raw = data if self.config.kind == "waveform" else self._mels(data, batch)
        return self.finish(raw, groups=groups, batch=batch, stats=stats)

    def finish(self, raw: np.ndarray, *, groups: np.ndarray | None = None, batch: int = 64,
               stats: Mapping[str, Moments] | None = None) -> np.ndarray:
        """(N, ...) raw window inputs (``raw_inputs`` of clips, concatenated) -> (N, ...) model inputs:
        group standardisation (``groups`` per window), then the image for image models."""
        if self.config.kind == "waveform":
            return np.stack([normalize_waveform(w) for w in raw]) if self.config.waveform_norm else raw
        mel = np.asarray(raw, dtype=np.float32)
        if groups is not None and stats is not None:
            mel = standardize_with(mel, groups, stats)
        elif groups is not None:
            mel = standardize_bands(mel, groups)
        if self.config.kind == "logmel":
            return mel
        images = [images_from_batch(torch.from_numpy(mel[i : i + batch]), self.config.image).numpy()
                  for i in range(0, len(mel), batch)]
        return np.concatenate(images).astype(np.float32)


def standardize_with(mel: np.ndarray, groups: Sequence[str] | np.ndarray, stats: Mapping[str, Moments]) -> np.ndarray:
    """(N, F, T) log-mels, window i z-scored per band with ``stats[groups[i]]`` (same floor as ``standardize_bands``)."""
    out = np.empty_like(mel)
    for i, g in enumerate(np.asarray(groups).astype(str)):
        m = stats[g]
        std = np.sqrt(m.var)
        std = np.where(std < 1e-8, 1.0, std)
        out[i] = ((mel[i].astype(np.float64) - m.mean[:, None]) / std[:, None]).astype(np.float32)
    return out


def standardize_bands(mel: np.ndarray, groups: Sequence[str] | np.ndarray) -> np.ndarray:
    """(N, F, T) log-mels: z-score each band within each group (over the group's windows and frames)."""
    n, f, t = mel.shape
    rows = mel.transpose(0, 2, 1).reshape(-1, f)
    out = standardize_groups(rows, np.repeat(np.asarray(groups).astype(str), t))
    return out.reshape(n, t, f).transpose(0, 2, 1).astype(np.float32)
