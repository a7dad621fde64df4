"""Synthetic separable tasks and a tiny training loop: a model that cannot learn these is broken.

Used by the unit tests and usable as a smoke check of any registered architecture. The class
signal is where the energy sits: a horizontal band of an image or of a log-mel spectrogram
(low / middle / high frequencies), or the frequency of a sine for waveform models.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from shared.models.base import SerModel, forward_batch

Batch = tuple[dict[str, torch.Tensor], torch.Tensor]


def band_energy(shape: tuple[int, ...], labels: torch.Tensor, num_classes: int, g: torch.Generator) -> torch.Tensor:
    """Noise with +2 added on the rows (axis -2) of band ``label`` of ``num_classes`` bands."""
    x = torch.randn(len(labels), *shape, generator=g)
    rows = shape[-2]
    for i, c in enumerate(labels.tolist()):
        x[i, ..., c * rows // num_classes : (c + 1) * rows // num_classes, :] += 2.0
    return x


def sines(
    n_samples: int, labels: torch.Tensor, g: torch.Generator, freqs: tuple[float, ...] = (250.0, 1000.0, 4000.0)
) -> torch.Tensor:
    t = torch.arange(n_samples) / 16000.0
    phase = torch.rand(len(labels), 1, generator=g) * math.tau
    amp = 0.5 + torch.rand(len(labels), 1, generator=g)
    f = torch.tensor([freqs[c] for c in labels.tolist()])[:, None]
    return amp * torch.sin(math.tau * f * t + phase) + 0.05 * torch.randn(len(labels), n_samples, generator=g)


def separable_batch(
    model: SerModel, n: int, num_classes: int, g: torch.Generator, *, frames: int = 100, seconds: float = 0.25
) -> Batch:
    """A batch shaped for ``model`` whose label is readable from the main input alone; side
    inputs (speaker, BOVW) are noise, except that a BOVW histogram also peaks at the class."""
    labels = torch.randint(0, num_classes, (n,), generator=g)
    shapes = {k: tuple(v.shape[1:]) for k, v in model.example_inputs(1, frames=frames, seconds=seconds).items()}
    if model.input_kind == "waveform":
        inputs = {"x": sines(shapes["x"][0], labels, g)}
    else:
        inputs = {"x": band_energy(shapes["x"], labels, num_classes, g)}
    if "speaker" in shapes:
        inputs["speaker"] = torch.randn(n, *shapes["speaker"], generator=g)
    if "bovw" in shapes:
        hist = torch.rand(n, *shapes["bovw"], generator=g)
        hist[torch.arange(n), labels] += 2.0
        inputs["bovw"] = hist / hist.sum(dim=1, keepdim=True)
    return inputs, labels


def train_steps(model: nn.Module, batch_fn: Callable[[int], Batch], steps: int, lr: float = 1e-3) -> list[float]:
    """Adam on the trainable parameters for ``steps`` batches; returns the per-step losses
    (cross-entropy plus the model's auxiliary loss, if any)."""
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for step in range(steps):
        inputs, labels = batch_fn(step)
        logits = forward_batch(
            model, inputs["x"], speaker=inputs.get("speaker"), bovw=inputs.get("bovw"), labels=labels
        )
        loss = F.cross_entropy(logits, labels)
        aux = model.auxiliary_loss(inputs["x"]) if isinstance(model, SerModel) else None
        if aux is not None:
            loss = loss + aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, batch: Batch) -> float:
    """Accuracy in eval mode on one batch."""
    inputs, labels = batch
    model.eval()
    logits = forward_batch(model, inputs["x"], speaker=inputs.get("speaker"), bovw=inputs.get("bovw"))
    return float((logits.argmax(dim=1) == labels).float().mean())
