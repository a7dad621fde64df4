"""Process-wide runtime choices a service makes once at start-up: torch threads and device."""
from __future__ import annotations

import logging

from shared.runtime import limit_threads, pick_device
from shared.settings import Settings

log = logging.getLogger("ser.runtime")


def configure_torch(settings: Settings) -> str:
    """Cap torch/OpenMP threads (several workers share the cores) and report the device used."""
    import torch

    limit_threads(settings.torch_threads)
    device = pick_device()
    log.info("torch device %s, %d thread(s)", device, torch.get_num_threads(), extra={"device": device})
    return device
