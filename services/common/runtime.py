"""Process-wide runtime choices a service makes once at start-up: torch threads, device, allocator."""
from __future__ import annotations

import ctypes
import logging
import os

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


M_ARENA_MAX = -8  # glibc's mallopt() parameter number
ARENA_MAX = 2


def bound_malloc_arenas(arenas: int = ARENA_MAX) -> bool:
    """Cap glibc's malloc arenas, as MALLOC_ARENA_MAX does at exec, for servers started any other way.

    glibc gives a thread that contends for malloc an arena of its own (up to 8 per core) and keeps
    what a request freed there for reuse; with one thread per RPC, every thread that once handled a
    64 MiB message holds a heap that size. True when the cap was set; a no-op where MALLOC_ARENA_MAX
    is already in the environment or the C library is not glibc.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False
