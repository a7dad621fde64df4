"""PCA projection of speaker embeddings to the emotion model's width (384 in the Speaker CCT paper).

Fitted on training embeddings only (the seed code also fitted on the test corpus). PCA can give
at most ``min(n_samples, embedding_dim)`` components; when the width asks for more (GE2E is
256-d, so 384 always does) the extra outputs are zeros, and the card says so
(``zero_padded=True``, ``n_components``). Centring uses the training mean; no whitening.
Artifact: ``speaker_pca.safetensors`` (mean, components, explained variance) + ``speaker_pca.json``.
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

PCA_VERSION = 1
TENSORS_FILE = "speaker_pca.safetensors"
CARD_FILE = "speaker_pca.json"


@dataclass(frozen=True)
class PcaCard:
    width: int
    n_components: int
    input_dim: int
    zero_padded: bool
    encoder: str
    corpora: tuple[str, ...]
    n_samples: int
    explained_variance_ratio_total: float
    fit_split: str = "train"
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    version: int = PCA_VERSION

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["corpora"] = list(self.corpora)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PcaCard:
        data = dict(data)
        if data.get("version") != PCA_VERSION:
            raise SpecError(f"speaker PCA card version {data.get('version')} not supported")
        data["corpora"] = tuple(data.get("corpora", ()))
        return cls(**data)


class SpeakerPca:
    def __init__(
        self,
        mean: np.ndarray,
        components: np.ndarray,
        explained_variance: np.ndarray,
        explained_variance_ratio: np.ndarray,
        card: PcaCard,
    ) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.components = np.asarray(components, dtype=np.float32)
        self.explained_variance = np.asarray(explained_variance, dtype=np.float32)
        self.explained_variance_ratio = np.asarray(explained_variance_ratio, dtype=np.float32)
        self.card = card
        if self.components.shape != (card.n_components, card.input_dim):
            raise SpecError(f"components shape {self.components.shape} does not match the card")

    @property
    def width(self) -> int:
        return self.card.width

    @classmethod
    def fit(
        cls,
        embeddings: np.ndarray,
        width: int = 384,
        corpora: Sequence[str] = (),
        encoder: str = "ge2e-resemblyzer",
    ) -> SpeakerPca:
        """Fit on training embeddings (N, D). Deterministic: SVD with sklearn's sign convention."""
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise InvalidInput(f"need at least 2 embeddings of shape (N, D), got {x.shape}")
        if not np.isfinite(x).all():
            raise InvalidInput("embeddings contain NaN or Inf")
        if width < 1:
            raise SpecError(f"PCA width must be >= 1, got {width}")
        n, d = x.shape
        mean = x.mean(axis=0)
        centred = x - mean
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        # Same sign rule as sklearn's svd_flip: the largest |loading| of each component is positive.
        signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
        vt *= np.where(signs == 0, 1.0, signs)[:, None]
        n_components = min(width, n, d)
        variance = s**2 / (n - 1)
        total = variance.sum()
        ratio = variance / total if total > 0 else np.zeros_like(variance)
        card = PcaCard(
            width=int(width),
            n_components=int(n_components),
            input_dim=int(d),
            zero_padded=n_components < width,
            encoder=encoder,
            corpora=tuple(corpora),
            n_samples=int(n),
            explained_variance_ratio_total=float(ratio[:n_components].sum()),
        )
        return cls(mean, vt[:n_components], variance[:n_components], ratio[:n_components], card)

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, D) or (D,) -> (N, width) or (width,) float32; columns past n_components are zero."""
        x = np.asarray(embeddings, dtype=np.float32)
        single = x.ndim == 1
        x = x[None] if single else x
        if x.ndim != 2 or x.shape[1] != self.card.input_dim:
            raise InvalidInput(f"expected embeddings of dim {self.card.input_dim}, got shape {np.shape(embeddings)}")
        out = np.zeros((x.shape[0], self.width), dtype=np.float32)
        out[:, : self.card.n_components] = (x - self.mean) @ self.components.T
        return out[0] if single else out

    def save(self, directory: Path | str) -> Path:
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {
            "mean": self.mean,
            "components": self.components,
            "explained_variance": self.explained_variance,
            "explained_variance_ratio": self.explained_variance_ratio,
        }
        atomic_write(directory / TENSORS_FILE, lambda p: save_file(tensors, p))
        text = json.dumps(self.card.to_dict(), indent=2, sort_keys=True)
        atomic_write(directory / CARD_FILE, lambda p: Path(p).write_text(text, encoding="utf-8"))
        return directory

    @classmethod
    def load(cls, directory: Path | str, expect_width: int | None = None) -> SpeakerPca:
        from safetensors.numpy import load_file

        directory = Path(directory)
        if not (directory / TENSORS_FILE).is_file() or not (directory / CARD_FILE).is_file():
            raise NotFound(f"no speaker PCA at {directory} (need {TENSORS_FILE} and {CARD_FILE})")
        card = PcaCard.from_dict(json.loads((directory / CARD_FILE).read_text(encoding="utf-8")))
        if expect_width is not None and card.width != expect_width:
            raise ConfigMismatch(f"speaker PCA at {directory} projects to {card.width}, model width is {expect_width}")
        t = load_file(str(directory / TENSORS_FILE))
        return cls(t["mean"], t["components"], t["explained_variance"], t["explained_variance_ratio"], card)

