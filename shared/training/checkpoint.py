"""Crash-safe training checkpoints: weights as safetensors, the rest as a weights-only ``.pt``.

Layout of a checkpoint directory:
- ``last.safetensors``: the model's weights (and buffers) at the checkpoint;
- ``last_state.pt``: optimizer, GradScaler, RNG states, epoch/step counters, history and the
  best-epoch pointer; only tensors and primitives, so ``torch.load(weights_only=True)`` reads it;
- ``best.safetensors``: the weights of the best validation epoch so far.

Every file is written to a temp file and renamed over the target. The weights and the state
carry the same ``global_step``; a crash between the two renames leaves them disagreeing, which
``load_checkpoint`` detects and treats as no checkpoint (training restarts rather than mixing).
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from shared.features.atomic import atomic_write

log = logging.getLogger(__name__)

LAST_WEIGHTS = "last.safetensors"
LAST_STATE = "last_state.pt"
BEST_WEIGHTS = "best.safetensors"

Weights = dict[str, torch.Tensor]


def weights_of(model: nn.Module) -> Weights:
    """A CPU copy of the state dict; cloning un-ties shared tensors, which safetensors refuses."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def save_weights(weights: Weights, path: Path, metadata: dict[str, str] | None = None) -> Path:
    return atomic_write(path, lambda tmp: save_file(weights, tmp, metadata=metadata or {}))


def load_weights(path: Path) -> tuple[Weights, dict[str, str]]:
    """Tensors on CPU and the file's string metadata (never unpickles anything)."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    return load_file(str(path), device="cpu"), metadata


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and primitives (weights_only-safe)."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_cached_gauss": float(np_state[4]),
        "python_version": py_version,
        "python_internal": list(py_internal),
        "python_gauss": py_gauss,
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state((
        "MT19937",
        state["numpy_keys"].numpy().astype(np.uint32),
        state["numpy_pos"],
        state["numpy_has_gauss"],
        state["numpy_cached_gauss"],
    ))
    random.setstate((state["python_version"], tuple(state["python_internal"]), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Checkpoint:
    weights: Weights
    state: dict[str, Any]
    best_weights: Weights | None


def has_checkpoint(directory: Path | None) -> bool:
    return directory is not None and (Path(directory) / LAST_STATE).is_file() and (Path(directory) / LAST_WEIGHTS).is_file()


def save_checkpoint(directory: Path, weights: Weights, state: dict[str, Any], best_weights: Weights | None = None) -> None:
    """Write ``best`` (when given), then ``last`` weights, then the state that points at both.
    ``state`` must hold ``global_step`` and ``best_epoch`` (0: none yet) at its top level."""
    directory = Path(directory)
    step = str(int(state["global_step"]))
    if best_weights is not None:
        save_weights(best_weights, directory / BEST_WEIGHTS, {"epoch": str(int(state["best_epoch"]))})
    save_weights(weights, directory / LAST_WEIGHTS, {"global_step": step})
    atomic_write(directory / LAST_STATE, lambda tmp: torch.save(state, tmp))


def load_checkpoint(directory: Path) -> Checkpoint | None:
    """The checkpoint in ``directory``, or None when there is none or it is torn by a crash."""
    directory = Path(directory)
    if not has_checkpoint(directory):
        return None
    state = torch.load(directory / LAST_STATE, map_location="cpu", weights_only=True)
    weights, meta = load_weights(directory / LAST_WEIGHTS)
    if meta.get("global_step") != str(int(state["global_step"])):
        log.warning("torn checkpoint ignored (weights and state from different steps)",
                    extra={"checkpoint_dir": str(directory)})
        return None
    best: Weights | None = None
    if state.get("best_epoch") and (directory / BEST_WEIGHTS).is_file():
        best, best_meta = load_weights(directory / BEST_WEIGHTS)
        if best_meta.get("epoch") != str(int(state["best_epoch"])):
            # best.safetensors is from an epoch the state does not know yet: that epoch reruns.
            log.warning("best weights newer than the state; best-epoch tracking restarts",
                        extra={"checkpoint_dir": str(directory)})
            best = None
    return Checkpoint(weights, state, best)
