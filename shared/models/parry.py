"""Parry et al. 2019: LSTM, CNN and CNN-LSTM over 40 log-mel filterbanks, about 2M parameters each.

Input (B, 40, T): 25 ms / 10 ms filterbanks normalised per utterance by the feature pipeline and
padded to at least ``MIN_FRAMES`` (the models pad too, with zeros, so a short clip never fails).
Each model ends with a mean-over-time layer and an FC classifier. The paper fixes the size
(about 2M parameters), not every width; the default widths below are our choice to hit it
(1-D convolutions treat the 40 bands as channels):
  LSTM      2 x LSTM(400)                                              ~1.99M
  CNN       4 x [Conv1d k5 + BatchNorm + ReLU], 256-320-384-512 ch,
            max pool 2 over time after the first three                   ~2.06M
  CNN-LSTM  2 x [Conv1d k5 + BatchNorm + ReLU + max pool 2], 128-256 ch,
            then LSTM(560)                                             ~2.02M
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shared.models.base import SerModel

N_MELS = 40
MIN_FRAMES = 100


def pad_to_min_frames(x: torch.Tensor, min_frames: int = MIN_FRAMES) -> torch.Tensor:
    """Zero-pad (B, n_mels, T) at the end of time up to ``min_frames``."""
    return F.pad(x, (0, min_frames - x.shape[-1])) if x.shape[-1] < min_frames else x


def _conv(c_in: int, c_out: int, kernel: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2), nn.BatchNorm1d(c_out), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool1d(2))
    return nn.Sequential(*layers)


class _ParryBase(SerModel):
    input_kind = "logmel"

    def __init__(self, n_mels: int, dropout: float) -> None:
        super().__init__()
        self.n_mels = n_mels
        self.dropout = nn.Dropout(dropout)

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.n_mels:
            raise ValueError(f"{type(self).__name__} expects (B, {self.n_mels}, T), got {tuple(x.shape)}")
        return pad_to_min_frames(x)

    def frames(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Per-frame features (B, T', D)."""
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The mean-over-time vector (B, D), the input of the classifier (used for t-SNE)."""
        return self.frames(self._check(x)).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.embed(x)))


class ParryLstm(_ParryBase):
    def __init__(
        self, num_classes: int, n_mels: int = N_MELS, hidden: int = 400, layers: int = 2, dropout: float = 0.3
    ):
        super().__init__(n_mels, dropout)
        self.lstm = nn.LSTM(
            n_mels, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.fc = nn.Linear(hidden, num_classes)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x.transpose(1, 2))[0]


class ParryCnn(_ParryBase):
    def __init__(
        self,
        num_classes: int,
        n_mels: int = N_MELS,
        channels: tuple[int, ...] = (256, 320, 384, 512),
        kernel: int = 5,
        dropout: float = 0.3,
    ):
        super().__init__(n_mels, dropout)
        chans = (n_mels, *channels)
        self.convs = nn.Sequential(
            *[_conv(chans[i], chans[i + 1], kernel, pool=i < len(channels) - 1) for i in range(len(channels))]
        )
        self.fc = nn.Linear(channels[-1], num_classes)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x).transpose(1, 2)


class ParryCnnLstm(_ParryBase):
    def __init__(
        self,
        num_classes: int,
        n_mels: int = N_MELS,
        channels: tuple[int, ...] = (128, 256),
        kernel: int = 5,
        hidden: int = 560,
        dropout: float = 0.3,
    ):
        super().__init__(n_mels, dropout)
        chans = (n_mels, *channels)
        self.convs = nn.Sequential(*[_conv(chans[i], chans[i + 1], kernel, pool=True) for i in range(len(channels))])
        self.lstm = nn.LSTM(channels[-1], hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.convs(x).transpose(1, 2))[0]
