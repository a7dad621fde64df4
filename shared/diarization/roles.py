"""Participant names for diarized speakers, in order of first appearance.

The first speaker is ``roles[0]`` (the agent with the default SER_CALL_CHANNELS), the second
``roles[1]``, and so on; speakers beyond the roles are ``speaker<N>`` (1-based). ``first_role``
moves one role to the front ("customer": the customer spoke first), keeping the others in order.
"""
from __future__ import annotations

from collections.abc import Sequence

from shared.errors import InvalidInput

OVERLAP = "overlap"


def speaker_roles(num_speakers: int, roles: Sequence[str], first_role: str = "") -> list[str]:
    """Name of speaker 0..num_speakers-1 (numbered by first appearance)."""
    order = [r for r in roles if r]
    if len(set(order)) != len(order):
        raise InvalidInput(f"roles must be distinct, got {list(roles)}")
    if OVERLAP in order:
        raise InvalidInput(f"{OVERLAP!r} is reserved for overlapping speech and cannot be a role")
    if first_role:
        if first_role not in order:
            raise InvalidInput(f"first speaker role {first_role!r} is not one of the roles {order}")
        order = [first_role, *(r for r in order if r != first_role)]
    names = order[:num_speakers]
    return names + [f"speaker{i + 1}" for i in range(len(names), num_speakers)]
