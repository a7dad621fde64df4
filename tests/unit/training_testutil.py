"""Tiny synthetic data and a tiny model for the training tests (fast on one CPU thread)."""
from __future__ import annotations

import torch
from torch import nn

from shared.models.base import SerModel
from shared.training.data import TensorBatches


class TinyMelNet(SerModel):
    """Mean over time, then a 2-layer MLP with dropout (dropout makes RNG state matter)."""

    input_kind = "logmel"

    def __init__(self, num_classes: int = 3, n_mels: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.body = nn.Sequential(nn.Linear(n_mels, hidden), nn.ReLU(), nn.Dropout(0.1))
        self.head = nn.Linear(hidden, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.mean(dim=-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def band_data(n: int, seed: int, num_classes: int = 3, n_mels: int = 8, frames: int = 5) -> TensorBatches:
    """Class c puts +2 of energy on its own band of mel rows: linearly separable."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_classes
    x = torch.randn(n, n_mels, frames, generator=g)
    rows = n_mels // num_classes
    for i, c in enumerate(labels.tolist()):
        x[i, c * rows : (c + 1) * rows] += 2.0
    return TensorBatches(x, labels)


def tiny_model(seed: int = 0, **kwargs: int) -> TinyMelNet:
    torch.manual_seed(seed)
    return TinyMelNet(**kwargs)
