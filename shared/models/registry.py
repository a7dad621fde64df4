"""Every trainable architecture by name: how to build it, what it eats, and how big it is.

``architectures()`` builds a fresh name -> ModelSpec dict; ``ARCHITECTURES`` is a read-only
view of it for callers that just look names up. ``build_model(name, num_classes, **overrides)``
merges the spec's defaults with the caller's overrides (e.g. ``img_size=64`` for a quick run,
``weights_path=...`` for local ImageNet weights) and refuses unknown names with NotFound.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from shared.errors import NotFound, SpecError
from shared.models.base import InputKind
from shared.models.cct import build_cct
from shared.models.parry import N_MELS, ParryCnn, ParryCnnLstm, ParryLstm
from shared.models.resnet import build_resnet50
from shared.models.speaker_cct import FUSIONS, build_speaker_cct
from shared.models.vacnn import Vacnn, VacnnBovw
from shared.models.wav2vec_wccn import Wav2Vec2Wccn


@dataclass(frozen=True)
class ModelSpec:
    """How to build one architecture and what a batch for it looks like."""

    name: str
    family: str
    paper: str
    input_kind: InputKind
    builder: Callable[..., nn.Module]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    uses_speaker: bool = False
    uses_bovw: bool = False
    takes_labels: bool = False
    description: str = ""

    def build(self, num_classes: int, **overrides: Any) -> nn.Module:
        kwargs = {**self.defaults, **overrides}
        try:
            return self.builder(num_classes, **kwargs)
        except TypeError as exc:
            raise SpecError(f"cannot build {self.name!r} with {sorted(kwargs)}: {exc}") from exc


def _speaker_dim(model: nn.Module) -> int:
    return int(model.speaker_dim)


def example_inputs(model: nn.Module, batch: int = 1, *, frames: int = 100, seconds: float = 2.0) -> dict[str, torch.Tensor]:
    """Zero inputs of the right shapes for ``forward_batch`` (shape tests, MAC counting)."""
    kind = model.input_kind
    device = next(model.parameters()).device
    if kind == "image":
        cfg = getattr(model, "config", None) or getattr(getattr(model, "cct", None), "config", None)
        chans = cfg.in_chans if cfg is not None else getattr(model, "in_chans", 1)
        if isinstance(model, VacnnBovw):
            hw = (int(round((model.positions ** 0.5) * 32)),) * 2
            chans = model.backbone.stem[0].in_channels
        elif isinstance(model, Vacnn):
            hw, chans = (224, 224), model.stem[0].in_channels
        else:
            hw = cfg.hw if cfg is not None else (224, 224)
        inputs = {"x": torch.zeros(batch, chans, *hw, device=device)}
    elif kind == "logmel":
        inputs = {"x": torch.zeros(batch, getattr(model, "n_mels", N_MELS), frames, device=device)}
    else:
        inputs = {"x": torch.randn(batch, int(seconds * 16000), device=device)}
    if getattr(model, "uses_speaker", False):
        inputs["speaker"] = torch.zeros(batch, _speaker_dim(model), device=device)
    if getattr(model, "uses_bovw", False):
        inputs["bovw"] = torch.zeros(batch, model.vocabulary_size, device=device)
    return inputs


def architectures() -> dict[str, ModelSpec]:
    """A fresh name -> spec table of every trainable architecture."""
    specs: list[ModelSpec] = [
        ModelSpec("cct_14_7x2", "cct", "speaker-vgg-cct", "image", build_cct, {"preset": "cct_14_7x2"},
                  description="CCT-14/7x2, 224x224, the paper's baseline"),
        ModelSpec("cct_2_3x2_32", "cct", "speaker-vgg-cct", "image", build_cct, {"preset": "cct_2_3x2_32"},
                  description="CCT-2/3x2 for 32x32 inputs"),
        ModelSpec("cct_tiny", "cct", "speaker-vgg-cct", "image", build_cct, {"preset": "cct_tiny"},
                  description="compact CCT, 224x224 with a strong-stride tokenizer, for CPUs"),
        ModelSpec("resnet50", "resnet", "speaker-vgg-cct", "image", build_resnet50,
                  description="torchvision ResNet50 baseline (ImageNet weights only from a local path)"),
    ]
    for base, suffix in (("cct_14_7x2", ""), ("cct_tiny", "_tiny")):
        for fusion in FUSIONS:
            specs.append(ModelSpec(
                f"speaker_cct_{fusion}{suffix}", "speaker_cct", "speaker-vgg-cct", "image", build_speaker_cct,
                {"fusion": fusion, "base": base}, uses_speaker=True,
                description=f"Speaker CCT, {fusion} fusion, on {base}",
            ))
    for cbam in (False, True):
        tag = "_cbam" if cbam else ""
        specs.append(ModelSpec(f"vacnn{tag}", "vacnn", "vacnn-bovw", "image", Vacnn, {"cbam": cbam},
                               description=f"VACNN{' (CBAM ablation)' if cbam else ''}, 224x224x1"))
        specs.append(ModelSpec(f"vacnn{tag}_bovw", "vacnn", "vacnn-bovw", "image", VacnnBovw, {"cbam": cbam},
                               uses_bovw=True, description="VACNN + BOVW Luong context attention"))
    specs += [
        ModelSpec("parry_lstm", "parry", "parry-2019", "logmel", ParryLstm, description="2x LSTM(400), ~2M"),
        ModelSpec("parry_cnn", "parry", "parry-2019", "logmel", ParryCnn, description="4x Conv1d, ~2M"),
        ModelSpec("parry_cnn_lstm", "parry", "parry-2019", "logmel", ParryCnnLstm, description="2x Conv1d + LSTM, ~2M"),
        ModelSpec("wav2vec2_wccn", "wav2vec2", "wav2vec2-wccn", "waveform", Wav2Vec2Wccn, {"encoder": "xlsr53"},
                  takes_labels=True, description="XLSR-53-shaped wav2vec2 + Deep-WCCN head"),
        ModelSpec("wav2vec2_wccn_tiny", "wav2vec2", "wav2vec2-wccn", "waveform", Wav2Vec2Wccn, {"encoder": "tiny"},
                  takes_labels=True, description="tiny wav2vec2 + Deep-WCCN head (CPU tests)"),
    ]
    return {s.name: s for s in specs}


ARCHITECTURES: Mapping[str, ModelSpec] = MappingProxyType(architectures())


def get_spec(name: str) -> ModelSpec:
    specs = architectures()
    if name not in specs:
        raise NotFound(f"unknown architecture {name!r}; known: {sorted(specs)}")
    return specs[name]


def build_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
    if num_classes < 2:
        raise SpecError(f"num_classes must be at least 2, got {num_classes}")
    return get_spec(name).build(num_classes, **overrides)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> int:
    """Multiply-accumulates of one forward pass (torch's FLOP counter / 2), in eval mode."""
    from torch.utils.flop_counter import FlopCounterMode

    from shared.models.base import forward_batch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            forward_batch(model, inputs["x"], speaker=inputs.get("speaker"), bovw=inputs.get("bovw"))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
