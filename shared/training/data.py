"""A tiny in-memory dataset for the trainer: inputs, labels and optional side inputs, cut into
seeded mini-batches.

The feature pipeline produces numpy arrays; ``TensorBatches.from_numpy`` wraps them. The
shuffle of epoch ``e`` depends only on ``(seed, e)``, so a run resumed mid-epoch sees exactly
the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from shared.errors import InvalidInput

ArrayLike = np.ndarray | torch.Tensor


class Batch(NamedTuple):
    x: torch.Tensor
    labels: torch.Tensor
    speaker: torch.Tensor | None
    bovw: torch.Tensor | None

    def to(self, device: torch.device | str) -> Batch:
        move = lambda t: None if t is None else t.to(device, non_blocking=True)  # noqa: E731
        return Batch(move(self.x), move(self.labels), move(self.speaker), move(self.bovw))


def _tensor(value: ArrayLike, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value, dtype=dtype)


def collate(items: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack equal shapes; right-pad the last axis with zeros when lengths differ (waveforms,
    log-mels of different durations). Models that pool over time see the padding, so batch
    items of similar length together where that matters."""
    if all(t.shape == items[0].shape for t in items):
        return torch.stack(list(items))
    if any(t.shape[:-1] != items[0].shape[:-1] for t in items):
        raise InvalidInput(f"inputs differ in more than their last axis: {sorted({tuple(t.shape) for t in items})}")
    longest = max(t.shape[-1] for t in items)
    return torch.stack([F.pad(t, (0, longest - t.shape[-1])) for t in items])


@dataclass(frozen=True)
class TensorBatches:
    """``x`` is one (N, ...) tensor or a list of N per-item tensors; labels are class indices;
    ``speaker`` (N, d) and ``bovw`` (N, k) only for the models that use them."""

    x: torch.Tensor | list[torch.Tensor]
    labels: torch.Tensor
    speaker: torch.Tensor | None = None
    bovw: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = len(self.labels)
        if n == 0:
            raise InvalidInput("a dataset needs at least one item")
        if self.labels.ndim != 1 or self.labels.dtype != torch.long:
            raise InvalidInput(f"labels must be a 1-D int64 tensor, got {self.labels.dtype} {tuple(self.labels.shape)}")
        if int(self.labels.min()) < 0:
            raise InvalidInput("labels must be class indices >= 0")
        for name in ("x", "speaker", "bovw"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise InvalidInput(f"{name} has {len(value)} items but there are {n} labels")

    @classmethod
    def from_numpy(
        cls,
        x: ArrayLike | Sequence[ArrayLike],
        labels: Sequence[int] | ArrayLike,
        *,
        speaker: ArrayLike | None = None,
        bovw: ArrayLike | None = None,
    ) -> TensorBatches:
        """Wrap arrays as float32 tensors (a list of arrays stays a list: variable lengths)."""
        xs = [_tensor(a) for a in x] if isinstance(x, (list, tuple)) else _tensor(x)
        return cls(
            xs,
            _tensor(labels, torch.long),
            None if speaker is None else _tensor(speaker),
            None if bovw is None else _tensor(bovw),
        )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1

    def subset(self, indices: Sequence[int]) -> TensorBatches:
        """Items at ``indices`` (repeats allowed, e.g. an oversampling plan's originals)."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        x = [self.x[i] for i in idx.tolist()] if isinstance(self.x, list) else self.x[idx]
        return TensorBatches(x, self.labels[idx], pick(self.speaker), pick(self.bovw))

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def order(self, *, shuffle: bool, seed: int = 0, epoch: int = 0) -> torch.Tensor:
        if not shuffle:
            return torch.arange(len(self))
        g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
        return torch.randperm(len(self), generator=g)

    def batches(
        self, batch_size: int, *, shuffle: bool = False, seed: int = 0, epoch: int = 0, start: int = 0
    ) -> Iterator[Batch]:
        """Mini-batches in order, or shuffled by ``(seed, epoch)``; ``start`` skips that many."""
        order = self.order(shuffle=shuffle, seed=seed, epoch=epoch)
        for b in range(start, self.num_batches(batch_size)):
            idx = order[b * batch_size : (b + 1) * batch_size]
            x = collate([self.x[i] for i in idx.tolist()]) if isinstance(self.x, list) else self.x[idx]
            yield Batch(
                x,
                self.labels[idx],
                None if self.speaker is None else self.speaker[idx],
                None if self.bovw is None else self.bovw[idx],
            )
