"""Test-wide settings: one torch/OpenMP thread per process so parallel tests do not thrash 2 cores."""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("SER_TORCH_THREADS", "1")

try:  # torch is a hard dependency, but keep collection of pure tests cheap if it is absent
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass
