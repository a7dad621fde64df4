"""Publish a registry version that serves with ONNX Runtime: the same weights and side artifacts, plus
the validated ONNX export (optionally int8-quantised) as the ``onnx`` artifact, and a card that says so.

Versions are immutable, so this makes a new version (the torch weights stay in it: ``SER_RUNTIME=torch``
still serves it). The card's ``serving`` block records the runtime, the quantisation and how far the
graph's posteriors are from torch's on random inputs of the served shape.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.models.base import forward_batch
from shared.registry.card import UNCERTAIN_BELOW, ModelCard
from shared.registry.onnx_export import (
    CHECK_BATCH,
    DEFAULT_OPSET,
    DEFAULT_TOLERANCE,
    OnnxReport,
    export_onnx,
    random_inputs,
)
from shared.registry.onnx_runtime import INT8, ONNX_ARTIFACT, ONNXRUNTIME, OnnxForward, quantize_int8
from shared.registry.store import DEFAULT_ALIAS, ModelRef, ModelRegistry


@dataclass(frozen=True)
class OnnxExport:
    """An exported (and maybe quantised) graph and what its card's ``serving`` block says about it."""

    path: Path
    report: OnnxReport
    serving: dict[str, Any]


def export_for_serving(model: torch.nn.Module, card: ModelCard, folder: Path, *, int8: bool = False,
                       opset: int = DEFAULT_OPSET, tolerance: float = DEFAULT_TOLERANCE) -> OnnxExport:
    """Export (fp32, checked against torch within ``tolerance``, else ConfigMismatch), then quantise
    when asked, and measure the served graph's max |posterior difference| from torch."""
    folder.mkdir(parents=True, exist_ok=True)
    report = export_onnx(model, card, folder / "model.onnx", opset=opset, tolerance=tolerance)
    path = quantize_int8(folder / "model.onnx", folder / "model.int8.onnx") if int8 else folder / "model.onnx"
    serving: dict[str, Any] = {
        "runtime": ONNXRUNTIME, "opset": opset, "quantization": INT8 if int8 else "none",
        "exported_from": report.model, "max_abs_diff_probs_fp32": report.max_abs_diff_probs,
        "max_abs_diff_probs": posterior_gap(model, card, path),
    }
    return OnnxExport(path, report, serving)


def posterior_gap(model: torch.nn.Module, card: ModelCard, path: Path, seed: int = 7) -> float:
    """Max |probability difference| between the graph at ``path`` and torch, on random served-shape inputs."""
    inputs = random_inputs(model, card, CHECK_BATCH, seed)
    with torch.inference_mode():
        want = torch.softmax(forward_batch(model.eval().cpu(), **inputs), dim=-1).numpy()
    got = OnnxForward(path)(**{k: v.numpy() for k, v in inputs.items()})
    return float(np.max(np.abs(got - want)))


def publish_onnx(registry: ModelRegistry, name: str, version: str, *, int8: bool = False, as_name: str | None = None,
                 alias: str | None = None, tolerance: float = DEFAULT_TOLERANCE) -> tuple[ModelRef, OnnxExport]:
    """A new version of ``as_name`` (default ``name``) serving ``name:version`` with ONNX Runtime; ``alias``
    moves to it (a model name that is new gets ``default``)."""
    model, card = registry.load(name, version)
    target = as_name or name
    if alias is None and target not in registry.names():
        alias = DEFAULT_ALIAS  # a new model name gets a default version, as `ser models show NAME` expects
    side = {key: registry.artifact_path(name, card.version, key) for key in card.side_artifacts
            if key != ONNX_ARTIFACT}
    with tempfile.TemporaryDirectory(prefix="ser-onnx-") as tmp:
        export = export_for_serving(model, card, Path(tmp), int8=int8, tolerance=tolerance)
        kept = {UNCERTAIN_BELOW: card.serving[UNCERTAIN_BELOW]} if UNCERTAIN_BELOW in card.serving else {}
        serving = {**kept, **export.serving, "exported_from": f"{card.name or name}:{card.version}"}
        new_card = card.replace(side_artifacts={}, serving=serving)
        ref = registry.publish(model, new_card, name=target, artifacts={**side, ONNX_ARTIFACT: export.path},
                               alias=alias)
    return ref, OnnxExport(ref.path / registry.card(ref.name, ref.version).side_artifacts[ONNX_ARTIFACT].path,
                           export.report, serving)
