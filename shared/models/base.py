"""What every trainable architecture declares, so training and serving can feed any of them.

A model says which input it eats (``input_kind``), which side inputs it needs (a speaker
embedding, a BOVW histogram) and whether its forward wants the labels (Deep-WCCN updates its
statistics from them). ``forward_batch`` is the one generic call site built on those flags.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from shared.errors import InvalidInput

InputKind = Literal["image", "logmel", "waveform", "functionals"]
"""``image``: (B, C, H, W) with C 1 or 3 (224x224 for the paper configs); ``logmel``: (B, n_mels, T);
``waveform``: (B, T) at 16 kHz; ``functionals``: (B, 3 * dim + 1) utterance rows with their speaker's
statistics (``shared.features.utterance``)."""


class SerModel(nn.Module):
    """Marker base: class attributes describe the inputs; ``embed`` gives penultimate features."""

    input_kind: InputKind = "image"
    uses_speaker: bool = False
    uses_bovw: bool = False
    takes_labels: bool = False

    def embed(self, *args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def example_inputs(self, batch: int = 1, *, frames: int = 100, seconds: float = 2.0) -> dict[str, torch.Tensor]:
        """Inputs of the right shapes for ``forward_batch`` (shape tests, MAC counting). Image
        models set ``in_chans`` and ``img_hw``; log-mel models ``n_mels``."""
        device = next(self.parameters()).device
        if self.input_kind == "image":
            inputs = {"x": torch.zeros(batch, self.in_chans, *self.img_hw, device=device)}
        elif self.input_kind == "logmel":
            inputs = {"x": torch.zeros(batch, self.n_mels, frames, device=device)}
        else:
            inputs = {"x": torch.randn(batch, int(seconds * 16000), device=device)}
        if self.uses_speaker:
            inputs["speaker"] = torch.zeros(batch, self.speaker_dim, device=device)
        if self.uses_bovw:
            inputs["bovw"] = torch.zeros(batch, self.vocabulary_size, device=device)
        return inputs

    def auxiliary_loss(self, *inputs: torch.Tensor) -> torch.Tensor | None:
        """An extra, already weighted loss term the trainer adds to cross-entropy (None: none)."""
        return None


def forward_batch(
    model: nn.Module,
    x: torch.Tensor,
    *,
    speaker: torch.Tensor | None = None,
    bovw: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    embed: bool = False,
) -> torch.Tensor:
    """Call ``model`` (logits, or penultimate features with ``embed=True``) with what it declares.

    Side inputs a model does not use are ignored, so one training loop serves every model.
    """
    args: list[torch.Tensor] = [x]
    if getattr(model, "uses_speaker", False):
        if speaker is None:
            raise InvalidInput(f"{type(model).__name__} needs a speaker embedding (B, d)")
        args.append(speaker)
    if getattr(model, "uses_bovw", False):
        if bovw is None:
            raise InvalidInput(f"{type(model).__name__} needs a BOVW histogram (B, vocabulary)")
        args.append(bovw)
    if embed:
        return model.embed(*args)
    if getattr(model, "takes_labels", False):
        return model(*args, labels=labels)
    return model(*args)
