"""A speaker-discriminant projection of GE2E window embeddings (LDA), fitted on held-out corpus speakers.

Raw GE2E windows of one actor in different emotions spread as far apart as two actors do, so a call's
clusters follow emotion as often as identity. Linear discriminant analysis (speakers as classes,
shrunk within-speaker covariance) keeps the directions that tell speakers apart and drops the
within-speaker ones, as the LDA/PLDA back end of x-vector diarization does. Fitted by
``shared.diarization.fit_projection`` on speakers the diarization benchmark never uses, clean and
through the telephone channel; shipped in ``shared/assets/diarization``. Projected embeddings are
compared by cosine like the raw ones.

Artifact: ``projection.safetensors`` (``matrix``, (input_dim, dims)) + ``projection.json`` (the card).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import ConfigMismatch, NotFound, SpecError
from shared.features.atomic import atomic_write

TENSORS_FILE = "projection.safetensors"
CARD_FILE = "projection.json"
BUNDLED = Path(__file__).resolve().parents[1] / "assets" / "diarization"


@dataclass(frozen=True)
class ProjectionCard:
    encoder: str
    input_dim: int
    dims: int
    shrinkage: float
    speakers: int
    samples: int
    sources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpeakerProjection:
    matrix: np.ndarray  # (input_dim, dims)
    card: ProjectionCard

    @classmethod
    def fit(cls, embeddings: np.ndarray, speakers: np.ndarray, *, dims: int, shrinkage: float, encoder: str,
            sources: dict[str, Any]) -> SpeakerProjection:
        from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

        classes = len(np.unique(speakers))
        if not 1 <= dims < classes:
            raise SpecError(f"an LDA over {classes} speakers gives at most {classes - 1} dims, {dims} asked")
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage).fit(embeddings, speakers)
        matrix = np.ascontiguousarray(lda.scalings_[:, :dims], dtype=np.float32)
        return cls(matrix, ProjectionCard(encoder, embeddings.shape[1], dims, shrinkage, classes, len(embeddings),
                                          sources))

    def transform(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, input_dim) -> (n, dims) unit vectors."""
        if embeddings.shape[1] != self.card.input_dim:
            raise ConfigMismatch(f"projection takes {self.card.input_dim}-d embeddings, got {embeddings.shape[1]}")
        z = np.asarray(embeddings, dtype=np.float64) @ self.matrix
        return z / np.linalg.norm(z, axis=1, keepdims=True).clip(min=1e-12)

    def save(self, directory: Path | str) -> Path:
        from safetensors.numpy import save_file

        directory = Path(directory)
        atomic_write(directory / TENSORS_FILE, lambda p: save_file({"matrix": self.matrix}, p))
        text = json.dumps(asdict(self.card), indent=1, sort_keys=True) + "\n"
        atomic_write(directory / CARD_FILE, lambda p: Path(p).write_text(text, encoding="utf-8"))
        return directory

    @classmethod
    def load(cls, directory: Path | str = BUNDLED) -> SpeakerProjection:
        from safetensors.numpy import load_file

        directory = Path(directory)
        if not (directory / TENSORS_FILE).is_file() or not (directory / CARD_FILE).is_file():
            raise NotFound(f"no speaker projection in {directory}")
        card = ProjectionCard(**json.loads((directory / CARD_FILE).read_text(encoding="utf-8")))
        matrix = load_file(str(directory / TENSORS_FILE))["matrix"]
        if matrix.shape != (card.input_dim, card.dims):
            raise SpecError(f"{directory}: matrix {matrix.shape} does not match the card ({card.input_dim}, {card.dims})")
        return cls(matrix, card)


def projection_for(encoder_name: str, directory: Path | str = BUNDLED) -> SpeakerProjection | None:
    """The bundled projection when it was fitted for this encoder, else None (raw embeddings are used)."""
    try:
        projection = SpeakerProjection.load(directory)
    except NotFound:
        return None
    return projection if projection.card.encoder == encoder_name else None
