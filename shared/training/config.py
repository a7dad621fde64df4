"""The training recipe: optimizer, schedule, regularisation, stopping, and reproducibility knobs.

A frozen dataclass so that a spec file maps onto it one to one (``from_dict`` refuses unknown
keys, which catches typos in YAML specs) and a run records exactly what it used (``to_dict``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from shared.errors import SpecError

Optimizer = Literal["adamw", "adam", "sgd", "adagrad"]
Schedule = Literal["constant", "cosine", "linear"]
OPTIMIZERS: tuple[str, ...] = ("adamw", "adam", "sgd", "adagrad")
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "linear")


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``early_stopping_patience`` counts epochs without a better validation UAR
    (``None``: train all ``max_epochs``). Warmup is given in steps or as a fraction of all steps,
    not both. ``amp`` only takes effect on CUDA. ``num_threads`` ``None`` leaves torch's CPU
    threads as the process set them."""

    optimizer: Optimizer = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.01
    momentum: float = 0.9
    batch_size: int = 32
    max_epochs: int = 30
    warmup_steps: int = 0
    warmup_fraction: float = 0.0
    schedule: Schedule = "cosine"
    label_smoothing: float = 0.0
    early_stopping_patience: int | None = 10
    grad_clip: float | None = None
    amp: bool = True
    seed: int = 0
    num_threads: int | None = None
    deterministic: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise SpecError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise SpecError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        checks = [
            ("lr", self.lr >= 0 and math.isfinite(self.lr), "a finite number >= 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("max_epochs", self.max_epochs >= 1, ">= 1"),
            ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
            ("warmup_fraction", 0 <= self.warmup_fraction < 1, "in [0, 1)"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("early_stopping_patience", self.early_stopping_patience is None or self.early_stopping_patience >= 1,
             ">= 1 or null"),
            ("grad_clip", self.grad_clip is None or self.grad_clip > 0, "> 0 or null"),
            ("num_threads", self.num_threads is None or self.num_threads >= 1, ">= 1 or null"),
        ]
        checks += [(name, isinstance(getattr(self, name), bool), "true or false") for name in ("amp", "deterministic")]
        for name, ok, what in checks:
            if not ok:
                raise SpecError(f"train config {name} must be {what}, got {getattr(self, name)!r}")
        if self.warmup_steps and self.warmup_fraction:
            raise SpecError("give warmup_steps or warmup_fraction, not both")

    def warmup_for(self, total_steps: int) -> int:
        """Warmup length in optimizer steps for a run of ``total_steps``."""
        if self.warmup_steps:
            return min(self.warmup_steps, total_steps)
        return int(round(self.warmup_fraction * total_steps))

    def lr_factor(self, step: int, total_steps: int) -> float:
        """Multiplier of ``lr`` at 0-based optimizer ``step``: linear warmup, then the schedule
        (cosine and linear decay towards 0 at ``total_steps``)."""
        warmup = self.warmup_for(total_steps)
        if step < warmup:
            return (step + 1) / warmup
        if self.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        progress = min(1.0, max(0.0, progress))
        if self.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict):
            raise SpecError(f"train config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown train config keys {unknown}; known: {sorted(known)}")
        try:
            return cls(**{k: _coerce(k, v) for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise SpecError(f"invalid train config: {exc}") from exc


_FLOATS = {"lr", "weight_decay", "momentum", "warmup_fraction", "label_smoothing", "grad_clip"}
_INTS = {"batch_size", "max_epochs", "warmup_steps", "early_stopping_patience", "seed", "num_threads"}


def _coerce(key: str, value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string; numbers written that way are accepted as numbers."""
    if value is None or isinstance(value, bool):
        return value
    if key in _FLOATS and isinstance(value, (int, float, str)):
        return float(value)
    if key in _INTS and isinstance(value, (int, float, str)):
        number = float(value)
        if number != int(number):
            raise ValueError(f"{key} must be a whole number, got {value!r}")
        return int(number)
    return value
