"""Every trainable architecture by name: how to build it, what it eats, and how big it is.

``architectures()`` builds a fresh name -> ModelSpec dict; ``ARCHITECTURES`` is a read-only
view of it for callers that just look names up. ``build_model(name, num_classes, **overrides)``
merges the spec's defaults with the caller's overrides (e.g. ``img_size=64`` for a quick run,
``weights_path=...`` for local ImageNet weights) and refuses unknown names with NotFound.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from shared.errors import NotFound, SpecError
from shared.models.base import InputKind, forward_batch
from shared.models.speaker_cct import FUSIONS


@dataclass(frozen=True)
class ModelSpec:
    """How to build one architecture and what a batch for it looks like."""

    name: str
    family: str
    paper: str
    input_kind: InputKind
    builder: str  # "module:callable", imported on build so listing names stays cheap
    defaults: Mapping[str, Any] = field(default_factory=dict)
    uses_speaker: bool = False
    uses_bovw: bool = False
    takes_labels: bool = False
    description: str = ""

    def build(self, num_classes: int, **overrides: Any) -> nn.Module:
        kwargs = {**self.defaults, **overrides}
        module, attr = self.builder.split(":")
        builder: Callable[..., nn.Module] = getattr(importlib.import_module(module), attr)
        try:
            return builder(num_classes, **kwargs)
        except TypeError as exc:
            raise SpecError(f"cannot build {self.name!r} with {sorted(kwargs)}: {exc}") from exc


def architectures() -> dict[str, ModelSpec]:
    """A fresh name -> spec table of every trainable architecture."""
    cct, spk, vac = "shared.models.cct:build_cct", "shared.models.speaker_cct:build_speaker_cct", "shared.models.vacnn"
    w2v = "shared.models.wav2vec_wccn:Wav2Vec2Wccn"
    paper = "speaker-vgg-cct"
    specs: list[ModelSpec] = [
        ModelSpec("cct_14_7x2", "cct", paper, "image", cct, {"preset": "cct_14_7x2"},
                  description="CCT-14/7x2, 224x224, the paper's baseline"),
        ModelSpec("cct_2_3x2_32", "cct", paper, "image", cct, {"preset": "cct_2_3x2_32"},
                  description="CCT-2/3x2 for 32x32 inputs"),
        ModelSpec("cct_tiny", "cct", paper, "image", cct, {"preset": "cct_tiny"},
                  description="compact CCT, 224x224 with a strong-stride tokenizer, for CPUs"),
        ModelSpec("resnet50", "resnet", paper, "image", "shared.models.resnet:build_resnet50",
                  description="torchvision ResNet50 baseline (ImageNet weights only from a local path)"),
    ]
    for base, suffix in (("cct_14_7x2", ""), ("cct_tiny", "_tiny")):
        for fusion in FUSIONS:
            specs.append(ModelSpec(
                f"speaker_cct_{fusion}{suffix}", "speaker_cct", paper, "image", spk, {"fusion": fusion, "base": base},
                uses_speaker=True, description=f"Speaker CCT, {fusion} fusion, on {base}",
            ))
    for cbam in (False, True):
        tag = "_cbam" if cbam else ""
        specs.append(ModelSpec(f"vacnn{tag}", "vacnn", "vacnn-bovw", "image", f"{vac}:Vacnn", {"cbam": cbam},
                               description=f"VACNN{' (CBAM ablation)' if cbam else ''}, 224x224x1"))
        specs.append(ModelSpec(f"vacnn{tag}_bovw", "vacnn", "vacnn-bovw", "image", f"{vac}:VacnnBovw", {"cbam": cbam},
                               uses_bovw=True, description="VACNN + BOVW Luong context attention (fine-tuning)"))
    for name, cls, desc in (("parry_lstm", "ParryLstm", "2x LSTM(400)"), ("parry_cnn", "ParryCnn", "4x Conv1d"),
                            ("parry_cnn_lstm", "ParryCnnLstm", "2x Conv1d + LSTM(560)")):
        specs.append(ModelSpec(name, "parry", "parry-2019", "logmel", f"shared.models.parry:{cls}",
                               description=f"{desc}, about 2M parameters"))
    for encoder, suffix in (("xlsr53", ""), ("tiny", "_tiny")):
        specs.append(ModelSpec(f"wav2vec2_wccn{suffix}", "wav2vec2", "wav2vec2-wccn", "waveform", w2v,
                               {"encoder": encoder}, takes_labels=True,
                               description=f"{encoder} wav2vec2 (local weights via pretrained_path) + Deep-WCCN head"))
    utt = "shared.models.utterance:build_utterance"
    for name, defaults, speaker, desc in (
            ("utterance_mlp", {}, True, "eGeMAPS + GE2E (PCA 64), speaker-shrunk and global views, MLP(128)"),
            ("utterance_linear", {"hidden": 0, "dropout": 0.0}, True, "eGeMAPS + GE2E (PCA 64), linear head"),
            ("utterance_mlp_nospeaker", {"speaker_dim": 0}, False, "eGeMAPS only, MLP(128)")):
        specs.append(ModelSpec(name, "utterance", "feature-models", "functionals", utt, defaults,
                               uses_speaker=speaker, description=desc))
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


def _rnn_macs(module: nn.LSTM, inputs: tuple[torch.Tensor, ...]) -> int:
    """LSTM MACs, which torch's FLOP counter does not see: per step and direction, 4 gates of
    (input + hidden) x hidden."""
    x = inputs[0]
    batch, steps = (x.shape[0], x.shape[1]) if module.batch_first else (x.shape[1], x.shape[0])
    dirs = 2 if module.bidirectional else 1
    h, total, width = module.hidden_size, 0, module.input_size
    for _ in range(module.num_layers):
        total += dirs * 4 * h * (width + h) * steps * batch
        width = h * dirs
    return total


def count_macs(model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> int:
    """Multiply-accumulates of one forward pass in eval mode: torch's FLOP counter / 2, plus
    LSTM layers counted by hooks."""
    from torch.utils.flop_counter import FlopCounterMode

    rnn_macs: list[int] = []
    hooks = [
        m.register_forward_hook(lambda mod, args, out: rnn_macs.append(_rnn_macs(mod, args)))
        for m in model.modules()
        if isinstance(m, nn.LSTM)
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            forward_batch(model, inputs["x"], speaker=inputs.get("speaker"), bovw=inputs.get("bovw"))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return counter.get_total_flops() // 2 + sum(rnn_macs)
