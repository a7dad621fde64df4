"""Class balancing for training sets: undersample to the minority class, or plan augmented
copies of the minority classes up to the majority class.

Both are seeded and return a ``BalanceLog`` (per-class counts before and after) that the
training job logs and writes into its report, so a result says exactly what it was trained on.
Indices come back sorted, so the balanced set keeps the corpus order of the input.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.errors import InvalidInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BalanceLog:
    """What balancing did: ``method`` is ``undersample`` or ``oversample``; counts per class."""

    method: str
    seed: int
    before: dict[str, int] = field(hash=False)
    after: dict[str, int] = field(hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "seed": self.seed, "before": dict(self.before), "after": dict(self.after)}

    def emit(self) -> None:
        log.info("class balancing", extra={"balance": self.to_dict()})


def _members(labels: Sequence[str]) -> dict[str, list[int]]:
    if len(labels) == 0:
        raise InvalidInput("cannot balance an empty label list")
    members: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(str(label), []).append(i)
    return dict(sorted(members.items()))


def undersample(labels: Sequence[str], seed: int) -> tuple[list[int], BalanceLog]:
    """Indices of a random subset with every class cut down to the minority class's count."""
    members = _members(labels)
    target = min(len(m) for m in members.values())
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for idx in members.values():
        keep.extend(int(i) for i in rng.choice(idx, size=target, replace=False))
    keep.sort()
    balance = BalanceLog(
        "undersample", seed, {c: len(m) for c, m in members.items()}, {c: target for c in members}
    )
    balance.emit()
    return keep, balance


def oversample_plan(labels: Sequence[str], seed: int) -> tuple[list[tuple[int, int]], BalanceLog]:
    """``(index, copy)`` pairs lifting every class to the majority count; copy 0 is the original.

    Extra copies go round a seeded permutation of the class's items, so each item is copied
    at most once more than any other. The data pipeline augments copy ``k >= 1`` of item ``i``
    with a seed derived from ``(seed, i, k)`` (``augmentation_seed``), so a copy is reproducible.
    """
    members = _members(labels)
    target = max(len(m) for m in members.values())
    rng = np.random.default_rng(seed)
    plan: list[tuple[int, int]] = [(i, 0) for i in range(len(labels))]
    for idx in members.values():
        order = rng.permutation(idx)
        for j in range(target - len(idx)):
            plan.append((int(order[j % len(idx)]), 1 + j // len(idx)))
    plan.sort()
    balance = BalanceLog(
        "oversample", seed, {c: len(m) for c, m in members.items()}, {c: target for c in members}
    )
    balance.emit()
    return plan, balance


def augmentation_seed(seed: int, index: int, copy: int) -> int:
    """A stable per-copy seed for the augmenter (independent of how the plan is iterated)."""
    return int(np.random.SeedSequence([seed, index, copy]).generate_state(1)[0])
