"""Process-level runtime choices: thread budget and device."""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def limit_threads(n: int) -> None:
    """Pin torch/OpenMP/MKL threads for this process; call once at process start."""
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(max(1, min(n, 2)))
    except RuntimeError:  # already set once in this process
        pass


def pick_device(prefer: str | None = None) -> str:
    """CUDA when present (or asked for), else CPU; the choice is logged."""
    import torch

    if prefer:
        device = prefer
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    log.info("device selected", extra={"device": device})
    return device
