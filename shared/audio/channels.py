"""Channel handling for call recordings: channel 0 is the agent and channel 1 the customer by default."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.audio.types import Audio

DEFAULT_ROLES: tuple[str, ...] = ("agent", "customer")
# speaker label of a single-channel (mono or mixed-down) signal: both parties may be in it
MIXED_ROLE = "mixed"


def split_channels(audio: Audio) -> list[np.ndarray]:
    """One contiguous 1-D float32 array per channel (views, not copies)."""
    return [np.ascontiguousarray(audio.samples[i], dtype=np.float32) for i in range(audio.num_channels)]


def mixdown(audio: Audio) -> Audio:
    """Mean of the channels as a (1, n) signal; a mono input comes back unchanged."""
    if audio.num_channels == 1:
        return audio
    mono = audio.samples.mean(axis=0, dtype=np.float64).astype(np.float32)[None, :]
    return Audio(samples=mono, sample_rate=audio.sample_rate, source_format=audio.source_format)


def channel_role(index: int, roles: Sequence[str] = DEFAULT_ROLES) -> str:
    """Role name of a channel; channels beyond the configured roles are named ``channel<N>``."""
    if index < 0:
        raise ValueError(f"channel index must be >= 0, got {index}")
    return roles[index] if index < len(roles) else f"channel{index}"


def roles_for(num_channels: int, roles: Sequence[str] = DEFAULT_ROLES) -> tuple[str, ...]:
    """Speaker label of each channel of a signal: role names, or ``mixed`` for a single channel."""
    if num_channels == 1:
        return (MIXED_ROLE,)
    return tuple(channel_role(i, roles) for i in range(num_channels))
