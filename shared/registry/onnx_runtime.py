"""Serving a registry model with ONNX Runtime instead of torch, and dynamic int8 quantisation.

The runtime is a choice on the model card (``serving.runtime``: ``torch`` or ``onnxruntime``), which
``SER_RUNTIME`` overrides per server. The ONNX graph is the registry's own export
(``onnx_export.export_onnx``): same inputs as ``forward_batch`` (``x``, ``speaker``, ``bovw``), batch
axis dynamic, ``probs`` out, so the inference service's dynamic batcher runs it unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shared.errors import SpecError
from shared.registry.card import ModelCard

TORCH, ONNXRUNTIME = "torch", "onnxruntime"
RUNTIMES = (TORCH, ONNXRUNTIME)
ONNX_ARTIFACT = "onnx"  # side-artifact key of the .onnx file on a card
INT8 = "dynamic-int8"  # serving.quantization of a quantize_dynamic graph


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise SpecError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
    return runtime


def card_runtime(card: ModelCard) -> str:
    """The runtime the card asks for (torch when it says nothing)."""
    return check_runtime(str((card.serving or {}).get("runtime", TORCH)))


def serving_runtime(card: ModelCard, override: str = "") -> str:
    """``override`` (SER_RUNTIME) when set, else the card's choice."""
    return check_runtime(override) if override else card_runtime(card)


def providers_for(device: str, available: Sequence[str] | None = None) -> list[str]:
    """CUDA first where the device is a GPU and this onnxruntime build has the provider; CPU always."""
    import onnxruntime as ort

    available = list(ort.get_available_providers() if available is None else available)
    chosen = ["CUDAExecutionProvider"] if device.startswith("cuda") and "CUDAExecutionProvider" in available else []
    return [*chosen, "CPUExecutionProvider"]


@dataclass
class OnnxForward:
    """``(x, speaker, bovw) -> probs``, the same call as the torch forward the batcher runs."""

    path: Path
    device: str = "cpu"
    threads: int = 1

    def __post_init__(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, self.threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers etc. are noise here
        self.session = ort.InferenceSession(str(self.path), sess_options=options,
                                            providers=providers_for(self.device))
        self.input_names = [i.name for i in self.session.get_inputs()]

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def __call__(self, x: np.ndarray, speaker: np.ndarray | None = None, bovw: np.ndarray | None = None
                 ) -> np.ndarray:
        given = {"x": x, "speaker": speaker, "bovw": bovw}
        feeds: dict[str, Any] = {}
        for name in self.input_names:
            if given.get(name) is None:
                raise SpecError(f"the ONNX graph {self.path.name} needs input {name!r}")
            feeds[name] = np.ascontiguousarray(given[name], dtype=np.float32)
        [probs] = self.session.run(["probs"], feeds)
        return np.asarray(probs, dtype=np.float32)


def quantize_int8(source: Path | str, target: Path | str) -> Path:
    """Dynamic int8 quantisation (weights int8 ahead of time, activations quantised per batch at run
    time): no calibration data needed, and MatMul/Gemm-heavy models shrink about 4x."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return target
