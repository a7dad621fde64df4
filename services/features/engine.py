"""The heavy objects behind the feature service, created once and shared by every RPC thread.

Front ends (one per feature config), BOVW vocabularies (one per resolved artifact folder) and
openSMILE extractors (one per feature set) are built on first use and kept by this object; the
servicer owns one engine, so there is no module-level cache. All numbers come from
``shared.features``: this class only batches clips and picks the objects.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from shared.errors import ConfigMismatch, InvalidInput
from shared.features.artifacts import VOCABULARIES, ArtifactStore, VocabularyArtifact, load_vocabulary
from shared.features.bovw import kaze_descriptors
from shared.features.config import LogMelConfig
from shared.features.egemaps import FunctionalsExtractor
from shared.features.image import ImageConfig, images_from_batch, to_image_uint8
from shared.features.inputs import InputBuilder, ModelInputConfig
from shared.features.logmel import LogMelFrontEnd
from shared.features.windowing import WindowPolicy, window_many

MAX_WINDOW_S = 60.0


def samples_for_frames(config: LogMelConfig, frames: int) -> int:
    """Fewest samples whose log-mel has ``frames`` frames (short clips are padded with silence to this)."""
    base = (frames - 1) * config.hop_length
    return base if config.center else base + config.n_fft


class FeatureEngine:
    def __init__(self, artifacts_dir: Path | str, device: str | torch.device | None = None, workers: int = 1) -> None:
        self.device = device
        self.workers = workers  # threads computing utterance functionals per call (SER_FEATURE_THREADS)
        self.artifacts_dir = Path(artifacts_dir)
        self.vocabularies = ArtifactStore(artifacts_dir, VOCABULARIES)
        self._lock = threading.Lock()
        self._frontends: dict[str, LogMelFrontEnd] = {}
        self._loaded: dict[Path, VocabularyArtifact] = {}
        self._smile: dict[str, tuple[FunctionalsExtractor, threading.Lock]] = {}
        self._builders: dict[str, InputBuilder] = {}

    def frontend(self, config: LogMelConfig) -> LogMelFrontEnd:
        key = config.hash()
        with self._lock:
            if key not in self._frontends:
                self._frontends[key] = LogMelFrontEnd(config, device=self.device)
            return self._frontends[key]

    def builder(self, config: ModelInputConfig) -> InputBuilder:
        """The model input front end for ``config`` (one per config hash), as the inference service builds it."""
        key = config.hash()
        with self._lock:
            if key not in self._builders:
                self._builders[key] = InputBuilder(config, device=self.device, workers=self.workers)
            return self._builders[key]

    def logmels(self, clips: Sequence[np.ndarray], config: LogMelConfig, window_frames: int = 0) -> list[np.ndarray]:
        """(n_features, frames) per clip, all clips in batched STFTs; with ``window_frames``,
        (windows, n_features, window_frames) per clip (see ``shared.features.windowing``)."""
        if window_frames > 0 and samples_for_frames(config, window_frames) > MAX_WINDOW_S * config.sample_rate:
            # found by fuzzing: window_frames near 2**32 asked for terabytes of padding
            raise InvalidInput(f"window_frames={window_frames} spans over {MAX_WINDOW_S:.0f} s; windows are at most that long")
        if not clips:
            return []
        if window_frames <= 0:
            return self.frontend(config).compute_many(list(clips))
        least = samples_for_frames(config, window_frames)
        padded = [np.pad(c, (0, max(0, least - len(c)))) for c in clips]
        mels = self.frontend(config).compute_many(padded)
        policy = WindowPolicy(window_frames, window_frames)
        return [window_many([m], policy).data.astype(np.float32) for m in mels]

    @staticmethod
    def images(mels: Sequence[np.ndarray], n_mels: int, config: ImageConfig) -> list[np.ndarray]:
        """(C, size, size) per log-mel; only the static bands (no deltas) become the image."""
        out = []
        for mel in mels:
            with torch.no_grad():
                out.append(images_from_batch(torch.from_numpy(np.ascontiguousarray(mel[None, :n_mels])), config)[0].numpy())
        return out

    def vocabulary(self, name: str, version: str) -> VocabularyArtifact:
        """The vocabulary ``name`` at ``version`` ("latest" re-resolved per call, each version loaded once)."""
        _, folder = self.vocabularies.resolve(name, version)
        with self._lock:
            if folder in self._loaded:
                return self._loaded[folder]
        loaded = load_vocabulary(self.artifacts_dir, name, folder.name)
        with self._lock:
            self._loaded[folder] = loaded
        return loaded

    @staticmethod
    def check_vocabulary_config(loaded: VocabularyArtifact, config: LogMelConfig) -> None:
        fitted = loaded.vocabulary.card.feature_config_hash
        if fitted and fitted != config.hash():
            raise ConfigMismatch(
                f"vocabulary {loaded.name!r} v{loaded.version} was fitted on log-mel config {fitted}, "
                f"the request uses {config.hash()}"
            )

    @staticmethod
    def bovw(mels: Sequence[np.ndarray], loaded: VocabularyArtifact, n_mels: int) -> list[tuple[np.ndarray, int]]:
        """(normalised histogram, keypoints found) per log-mel."""
        vocabulary = loaded.vocabulary
        out = []
        for mel in mels:
            descriptors = kaze_descriptors(to_image_uint8(mel[:n_mels], loaded.image), vocabulary.card.kaze_threshold)
            out.append((vocabulary.histogram(descriptors), int(len(descriptors))))
        return out

    def functionals(self, feature_set: str) -> tuple[FunctionalsExtractor, threading.Lock]:
        with self._lock:
            if feature_set not in self._smile:
                self._smile[feature_set] = (FunctionalsExtractor(feature_set), threading.Lock())
            return self._smile[feature_set]

    def egemaps(self, clips: Sequence[np.ndarray], sample_rate: int, feature_set: str) -> tuple[list[np.ndarray], list[str]]:
        if feature_set not in ("egemaps", "emobase"):
            raise InvalidInput(f"unknown openSMILE feature set {feature_set!r}")
        extractor, lock = self.functionals(feature_set)
        with lock:  # one openSMILE instance is not meant to run two signals at once
            return [extractor(c, sample_rate) for c in clips], list(extractor.names)
