"""Process-wide runtime choices a service makes once at start-up: torch threads and device."""
from __future__ import annotations

import logging

from shared.settings import Settings

log = logging.getLogger("ser.runtime")


def configure_torch(settings: Settings) -> str:
    """Cap torch/OpenMP threads (several workers share the cores) and report the device used."""
    import torch

    torch.set_num_threads(max(1, settings.torch_threads))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    log.info("torch device %s, %d thread(s)", device, torch.get_num_threads(), extra={"device": device})
    return device
