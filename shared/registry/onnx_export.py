"""Export a registry model to ONNX and check it against torch on random inputs of the served shape.

The graph takes exactly what ``forward_batch`` feeds the model at serving time: ``x`` (one window's
features, shape from the card's feature config), plus ``speaker`` (the PCA-projected speaker vector)
and/or ``bovw`` (a vocabulary histogram) for models that use them. The batch axis is dynamic.
Outputs are ``logits`` and ``probs`` (softmax). The feature front end, the speaker encoder + PCA and
the BOVW vocabulary stay outside the graph; the JSON written beside the model says which are needed.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shared.errors import ConfigMismatch, SpecError
from shared.features.inputs import InputBuilder, ModelInputConfig
from shared.models.base import forward_batch
from shared.registry.card import ModelCard

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4  # max |logit difference|, ONNX Runtime vs torch, float32 on CPU
EXPORT_BATCH, CHECK_BATCH = 2, 5  # checking at another batch size proves the batch axis is dynamic


class _Graph(nn.Module):
    """Positional inputs in a fixed order, logits and probabilities out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.uses_speaker = bool(getattr(model, "uses_speaker", False))
        self.uses_bovw = bool(getattr(model, "uses_bovw", False))

    def forward(self, x: torch.Tensor, *side: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rest = list(side)
        speaker = rest.pop(0) if self.uses_speaker else None
        bovw = rest.pop(0) if self.uses_bovw else None
        logits = forward_batch(self.model, x, speaker=speaker, bovw=bovw)
        return logits, torch.softmax(logits, dim=-1)


@dataclass(frozen=True)
class OnnxReport:
    """What the JSON beside the .onnx file records."""

    model: str
    architecture: str
    labels: list[str]
    feature_config: dict[str, Any]
    feature_config_hash: str
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    side_artifacts: dict[str, str]
    opset: int
    tolerance: float
    max_abs_diff: float | None
    max_abs_diff_probs: float | None
    check_batch: int
    validated: bool
    validation: str
    versions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def window_shape(card: ModelCard) -> tuple[int, ...]:
    """One window's model input shape, computed by the serving front end itself (so it cannot drift)."""
    config = ModelInputConfig.from_dict(card.feature_config)
    if config.kind == "functionals":
        return (3 * config.utterance.dim + 1,)
    example = InputBuilder(config, device="cpu").from_windows(np.zeros((1, config.policy.length), dtype=np.float32))
    return tuple(example.shape[1:])


def random_inputs(model: nn.Module, card: ModelCard, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Inputs of the served shapes: standard-normal features, unit-norm speaker vectors, L1 histograms."""
    g = torch.Generator().manual_seed(seed)
    inputs = {"x": torch.randn(batch, *window_shape(card), generator=g)}
    if card.input_kind == "functionals":  # rows [raw, group mean, group variance (> 0), group count (>= 1)]
        d = (inputs["x"].shape[1] - 1) // 3
        inputs["x"][:, 2 * d :] = torch.rand(batch, d + 1, generator=g) * 4 + 0.5
        inputs["x"][:, -1] = torch.randint(1, 60, (batch,), generator=g).float()
    if getattr(model, "uses_speaker", False):
        s = torch.randn(batch, int(model.speaker_dim), generator=g)
        inputs["speaker"] = s / s.norm(dim=1, keepdim=True)
    if getattr(model, "uses_bovw", False):
        h = torch.rand(batch, int(model.vocabulary_size), generator=g)
        inputs["bovw"] = h / h.sum(dim=1, keepdim=True)
    return inputs


def export_onnx(model: nn.Module, card: ModelCard, path: Path | str, *, opset: int = DEFAULT_OPSET,
                tolerance: float = DEFAULT_TOLERANCE, seed: int = 0) -> OnnxReport:
    """Write ``path`` (.onnx) and ``path`` with suffix .json; raise ConfigMismatch if ONNX Runtime's
    output differs from torch's by more than ``tolerance``. Without onnxruntime the model is written
    and the report says it was not validated."""
    if opset < DEFAULT_OPSET:
        raise SpecError(f"opset {opset} is too old; use {DEFAULT_OPSET} or newer")
    if tolerance < 0:
        raise SpecError(f"tolerance must be >= 0, got {tolerance}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = _Graph(model.eval().cpu()).eval()
    example = random_inputs(model, card, EXPORT_BATCH, seed)
    names = list(example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, tuple(example.values()), str(path), input_names=names,
                          output_names=["logits", "probs"], opset_version=opset, dynamo=False,
                          dynamic_axes={n: {0: "batch"} for n in [*names, "logits", "probs"]})
    check = random_inputs(model, card, CHECK_BATCH, seed + 1)
    with torch.inference_mode():
        want_logits, want_probs = (t.numpy() for t in graph(*check.values()))
    diff = diff_probs = None
    validation = _validate(path, {k: v.numpy() for k, v in check.items()})
    if isinstance(validation, tuple):
        got_logits, got_probs = validation
        diff = float(np.max(np.abs(got_logits - want_logits)))
        diff_probs = float(np.max(np.abs(got_probs - want_probs)))
        validation = f"onnxruntime CPU vs torch on {CHECK_BATCH} random inputs: max |logit diff| {diff:.2e}"
    report = OnnxReport(
        model=f"{card.name}:{card.version}" if card.name else card.architecture, architecture=card.architecture,
        labels=list(card.labels), feature_config=card.feature_config, feature_config_hash=card.feature_config_hash,
        inputs={k: ["batch", *v.shape[1:]] for k, v in example.items()},
        outputs={"logits": ["batch", len(card.labels)], "probs": ["batch", len(card.labels)]},
        side_artifacts=_side_notes(card), opset=opset, tolerance=tolerance, max_abs_diff=diff,
        max_abs_diff_probs=diff_probs, check_batch=CHECK_BATCH, validated=diff is not None and diff <= tolerance,
        validation=validation, versions=_versions())
    path.with_suffix(".json").write_text(report.to_json(), encoding="utf-8")
    if diff is not None and diff > tolerance:
        raise ConfigMismatch(f"ONNX export of {report.model} differs from torch by {diff:.3g} > {tolerance:g}; "
                             f"see {path.with_suffix('.json')}")
    return report


def _validate(path: Path, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | str:
    """(logits, probs) from ONNX Runtime, or why it could not run."""
    try:
        import onnx

        onnx.checker.check_model(str(path))
    except ImportError:
        pass
    try:
        import onnxruntime as ort
    except ImportError:
        return "not validated: onnxruntime is not installed"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, probs = session.run(["logits", "probs"], feeds)
    return np.asarray(logits), np.asarray(probs)


def _side_notes(card: ModelCard) -> dict[str, str]:
    notes = {}
    if card.uses_speaker:
        notes["speaker"] = ("GE2E embedding of the speaker's audio, projected by the version's speaker_pca "
                            "artifact to the model width")
    if card.uses_bovw:
        notes["bovw"] = "KAZE bag-of-visual-words histogram of the window image (bovw_vocabulary artifact)"
    return notes


def _versions() -> dict[str, str]:
    versions = {"torch": torch.__version__}
    for name in ("onnx", "onnxruntime"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            continue
    return versions
