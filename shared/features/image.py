"""Log-mel -> fixed-size image for the CCT, ResNet50 and VACNN models (and uint8 for KAZE).

Deterministic arithmetic only: scale to [0, 1], flip so low frequencies are at the bottom (as a
plotted spectrogram, which is what the papers' models saw), resize with bilinear antialiased
``torch.nn.functional.interpolate``. No matplotlib colormap, no JPEG round trip (the seed code's
JPEG artefacts and colormap made train and serve images differ).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from shared.errors import InvalidInput, SpecError
from shared.features.config import config_hash

IMAGE_CONFIG_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageConfig:
    """How a log-mel becomes an image.

    ``scaling="minmax"`` maps each spectrogram's own min..max to 0..1 (a constant spectrogram
    becomes all zeros); ``"fixed"`` maps the absolute dB range ``db_min..db_max`` to 0..1 and clips
    (with ``log="db"`` and ref=1.0 a full-scale tone peaks near +40 dB).
    """

    size: int = 224
    channels: int = 3
    scaling: str = "minmax"
    db_min: float = -80.0
    db_max: float = 40.0
    imagenet_norm: bool = False
    low_freq_bottom: bool = True
    antialias: bool = True

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise SpecError(f"channels must be 1 or 3, got {self.channels}")
        if self.scaling not in ("minmax", "fixed"):
            raise SpecError(f"scaling must be 'minmax' or 'fixed', got {self.scaling!r}")
        if self.db_max <= self.db_min:
            raise SpecError(f"db_max ({self.db_max}) must exceed db_min ({self.db_min})")
        if self.size < 8:
            raise SpecError(f"image size {self.size} too small")
        if self.imagenet_norm and self.channels != 3:
            raise SpecError("ImageNet normalisation needs 3 channels")

    def to_dict(self) -> dict[str, Any]:
        return {"version": IMAGE_CONFIG_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageConfig:
        data = dict(data)
        version = data.pop("version", IMAGE_CONFIG_VERSION)
        if version != IMAGE_CONFIG_VERSION:
            raise SpecError(f"ImageConfig version {version} not supported")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise SpecError(f"unknown ImageConfig fields: {sorted(unknown)}")
        return cls(**data)

    def hash(self) -> str:
        return config_hash(self.to_dict())


def images_from_batch(logmel: torch.Tensor, config: ImageConfig = ImageConfig()) -> torch.Tensor:
    """(B, n_mels, frames) tensor -> (B, C, size, size) float32 on the same device."""
    if logmel.ndim != 3 or logmel.shape[1] == 0 or logmel.shape[2] == 0:
        raise InvalidInput(f"expected a (B, n_mels, frames) log-mel, got shape {tuple(logmel.shape)}")
    x = logmel.to(torch.float32)
    if not bool(torch.isfinite(x).all()):
        raise InvalidInput("log-mel contains NaN or Inf")
    x = _scale01(x, config)
    if config.low_freq_bottom:
        x = torch.flip(x, dims=[1])
    x = F.interpolate(
        x.unsqueeze(1), size=(config.size, config.size), mode="bilinear", align_corners=False, antialias=config.antialias
    ).clamp_(0.0, 1.0)
    if config.channels == 3:
        x = x.expand(-1, 3, -1, -1).contiguous()
    if config.imagenet_norm:
        mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
        x = (x - mean) / std
    return x


def to_image(logmel: np.ndarray | torch.Tensor, config: ImageConfig = ImageConfig()) -> np.ndarray:
    """One (n_mels, frames) log-mel -> (C, size, size) float32."""
    x = torch.as_tensor(np.asarray(logmel) if not isinstance(logmel, torch.Tensor) else logmel)
    if x.ndim != 2:
        raise InvalidInput(f"expected a (n_mels, frames) log-mel, got shape {tuple(x.shape)}")
    return images_from_batch(x.unsqueeze(0), config)[0].cpu().numpy()


def to_image_uint8(logmel: np.ndarray | torch.Tensor, config: ImageConfig = ImageConfig()) -> np.ndarray:
    """One log-mel -> (size, size) uint8 grey image (0..255), the input KAZE expects."""
    grey = ImageConfig(
        size=config.size,
        channels=1,
        scaling=config.scaling,
        db_min=config.db_min,
        db_max=config.db_max,
        imagenet_norm=False,
        low_freq_bottom=config.low_freq_bottom,
        antialias=config.antialias,
    )
    img = to_image(logmel, grey)[0]
    return np.round(img * 255.0).astype(np.uint8)


def _scale01(x: torch.Tensor, config: ImageConfig) -> torch.Tensor:
    if config.scaling == "fixed":
        return ((x - config.db_min) / (config.db_max - config.db_min)).clamp(0.0, 1.0)
    lo = x.amin(dim=(1, 2), keepdim=True)
    hi = x.amax(dim=(1, 2), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (x - lo) / torch.where(span > 0, span, torch.ones_like(span)), torch.zeros_like(x))
