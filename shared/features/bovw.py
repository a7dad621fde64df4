"""Bag of visual words over KAZE descriptors of log-mel images (the VACNN + BOVW paper).

* Descriptors: OpenCV KAZE (64-d float) on the uint8 log-mel image (``image.to_image_uint8``).
* Vocabulary: k-means centroids; ``MiniBatchKMeans`` above ``minibatch_above`` descriptors.
  With ``k_range`` the number of words is the candidate with the highest mean silhouette
  (computed on a fixed random sample for speed), as in the paper; otherwise ``k`` (128).
* Histograms: word counts, **L1-normalised** (they sum to 1, a distribution over words). An image
  with no keypoints gets the all-zero histogram, which no real image can produce.
* Artifact: ``vocabulary.safetensors`` (centroids) + ``vocabulary.json`` (the card: k, feature and
  image config hashes, corpora fitted on, silhouette scores, time, version). Fit it on training
  data only; the card records what it saw.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import ConfigMismatch, InvalidInput, NotFound, SpecError
from shared.features.atomic import atomic_write

KAZE_DIM = 64
VOCABULARY_VERSION = 1
CENTROIDS_FILE = "vocabulary.safetensors"
CARD_FILE = "vocabulary.json"


def kaze_descriptors(image: np.ndarray, threshold: float = 0.001) -> np.ndarray:
    """KAZE descriptors of a 2-D uint8 image, (n, 64) float32; (0, 64) when it has no keypoints."""
    import cv2

    img = np.asarray(image)
    if img.ndim != 2 or img.dtype != np.uint8:
        raise InvalidInput(f"KAZE needs a 2-D uint8 image, got shape {img.shape} dtype {img.dtype}")
    kaze = cv2.KAZE_create(threshold=threshold)
    _, desc = kaze.detectAndCompute(img, None)
    if desc is None or len(desc) == 0:
        return np.zeros((0, KAZE_DIM), dtype=np.float32)
    return desc.astype(np.float32)


@dataclass(frozen=True)
class VocabularyCard:
    k: int
    feature_config_hash: str
    image_config_hash: str
    corpora: tuple[str, ...]
    silhouette_scores: dict[str, float]
    n_descriptors: int
    n_images: int
    seed: int
    algorithm: str
    descriptor: str = "kaze"
    descriptor_dim: int = KAZE_DIM
    kaze_threshold: float = 0.001
    histogram_norm: str = "l1"
    fit_split: str = "train"
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    version: int = VOCABULARY_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["corpora"] = list(self.corpora)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VocabularyCard:
        data = dict(data)
        if data.get("version") != VOCABULARY_VERSION:
            raise SpecError(f"vocabulary card version {data.get('version')} not supported")
        data["corpora"] = tuple(data.get("corpora", ()))
        return cls(**data)


class BovwVocabulary:
    """Centroids + card; turns descriptor sets into normalised word histograms."""

    def __init__(self, centroids: np.ndarray, card: VocabularyCard) -> None:
        centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        if centroids.ndim != 2 or centroids.shape[0] != card.k:
            raise SpecError(f"centroids shape {centroids.shape} does not match k={card.k}")
        self.centroids = centroids
        self.card = card
        self._sq_norms = np.einsum("ij,ij->i", centroids, centroids)

    @property
    def k(self) -> int:
        return self.card.k

    def assign(self, descriptors: np.ndarray) -> np.ndarray:
        """Nearest word index for each descriptor row."""
        d = np.asarray(descriptors, dtype=np.float32)
        if d.ndim != 2 or d.shape[1] != self.centroids.shape[1]:
            raise InvalidInput(f"descriptors must be (n, {self.centroids.shape[1]}), got {d.shape}")
        dist = self._sq_norms[None, :] - 2.0 * d @ self.centroids.T
        return np.argmin(dist, axis=1)

    def histogram(self, descriptors: np.ndarray) -> np.ndarray:
        """(k,) float32, L1-normalised; all zeros when there are no descriptors."""
        hist = np.zeros(self.k, dtype=np.float32)
        if len(descriptors) == 0:
            return hist
        counts = np.bincount(self.assign(descriptors), minlength=self.k).astype(np.float32)
        return counts / counts.sum()

    def histograms(self, descriptor_sets: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([self.histogram(d) for d in descriptor_sets]) if descriptor_sets else np.zeros((0, self.k), np.float32)

    def histogram_of_image(self, image: np.ndarray) -> np.ndarray:
        return self.histogram(kaze_descriptors(image, self.card.kaze_threshold))

    def save(self, directory: Path | str) -> Path:
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / CENTROIDS_FILE, lambda p: save_file({"centroids": self.centroids}, str(p)))
        card_text = json.dumps(self.card.to_dict(), indent=2, sort_keys=True)
        atomic_write(directory / CARD_FILE, lambda p: Path(p).write_text(card_text, encoding="utf-8"))
        return directory

    @classmethod
    def load(
        cls,
        directory: Path | str,
        expect_feature_config_hash: str | None = None,
        expect_image_config_hash: str | None = None,
    ) -> BovwVocabulary:
        from safetensors.numpy import load_file

        directory = Path(directory)
        if not (directory / CENTROIDS_FILE).is_file() or not (directory / CARD_FILE).is_file():
            raise NotFound(f"no BOVW vocabulary at {directory} (need {CENTROIDS_FILE} and {CARD_FILE})")
        card = VocabularyCard.from_dict(json.loads((directory / CARD_FILE).read_text(encoding="utf-8")))
        for label, expected, actual in (
            ("feature", expect_feature_config_hash, card.feature_config_hash),
            ("image", expect_image_config_hash, card.image_config_hash),
        ):
            if expected is not None and expected != actual:
                raise ConfigMismatch(f"vocabulary at {directory} was fitted with {label} config {actual}, not {expected}")
        return cls(load_file(str(directory / CENTROIDS_FILE))["centroids"], card)


def fit_vocabulary(
    descriptor_sets: Sequence[np.ndarray],
    k: int = 128,
    k_range: Sequence[int] | None = None,
    seed: int = 0,
    corpora: Sequence[str] = (),
    feature_config_hash: str = "",
    image_config_hash: str = "",
    kaze_threshold: float = 0.001,
    minibatch_above: int = 20000,
    silhouette_sample: int = 4000,
) -> BovwVocabulary:
    """Fit the word centroids on the (training) descriptor sets of many images."""
    sets = [np.asarray(d, dtype=np.float32).reshape(-1, KAZE_DIM) for d in descriptor_sets]
    data = np.concatenate(sets) if sets else np.zeros((0, KAZE_DIM), np.float32)
    candidates = sorted({int(c) for c in k_range}) if k_range else [int(k)]
    if not candidates or candidates[0] < 2:
        raise SpecError(f"vocabulary sizes must be >= 2, got {candidates}")
    if len(data) <= candidates[-1]:
        raise InvalidInput(f"{len(data)} descriptors cannot support a vocabulary of {candidates[-1]} words")
    algorithm = "minibatch_kmeans" if len(data) > minibatch_above else "kmeans"
    scores: dict[str, float] = {}
    best: tuple[float, np.ndarray, int] | None = None
    for cand in candidates:
        model = _kmeans(cand, algorithm, seed).fit(data)
        if len(candidates) > 1:
            score = _silhouette(data, model.labels_, silhouette_sample, seed)
            scores[str(cand)] = score
        else:
            score = 0.0
        if best is None or score > best[0]:
            best = (score, model.cluster_centers_, cand)
    assert best is not None
    card = VocabularyCard(
        k=best[2],
        feature_config_hash=feature_config_hash,
        image_config_hash=image_config_hash,
        corpora=tuple(corpora),
        silhouette_scores=scores,
        n_descriptors=int(len(data)),
        n_images=len(sets),
        seed=seed,
        algorithm=algorithm,
        kaze_threshold=kaze_threshold,
    )
    return BovwVocabulary(best[1], card)


def _kmeans(k: int, algorithm: str, seed: int) -> Any:
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if algorithm == "minibatch_kmeans":
        return MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3)
    return KMeans(n_clusters=k, random_state=seed, n_init=4)


def _silhouette(data: np.ndarray, labels: np.ndarray, sample: int, seed: int) -> float:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return -1.0
    size = min(sample, len(data))
    return float(silhouette_score(data, labels, sample_size=size, random_state=seed))

