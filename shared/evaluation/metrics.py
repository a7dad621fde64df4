"""Classification metrics for emotion recognition: WA, UAR, macro-F1, per-class scores, confusion.

Conventions (they matter when a test corpus lacks a class, e.g. EmoDB has no surprise):
- The confusion matrix has rows = true class, columns = predicted class, over the full class list.
- A class with no test items (support 0) has recall and F1 ``None`` and is left out of UAR and
  macro-F1: both average over the classes present in the test set. Its precision is 0.0 when the
  model predicted it (every such prediction is wrong), else ``None``.
- A present class that is never predicted has precision 0.0 (and F1 0.0).
- Predictions of an absent class still count as errors in accuracy and in the recall of the
  true class. (scikit-learn's macro averages with ``labels=`` would instead count absent classes
  as 0; ours is the honest mean over what was tested.)
- ``aggregate`` reports the mean and the sample standard deviation (ddof=1; 0 for one fold) over
  folds, plus metrics pooled from the summed confusion matrix.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.errors import InvalidInput

SUMMARY_METRICS = ("accuracy", "uar", "macro_f1")


@dataclass(frozen=True)
class ClassScores:
    precision: float | None
    recall: float | None
    f1: float | None
    support: int
    predicted: int


@dataclass(frozen=True)
class Metrics:
    classes: tuple[str, ...]
    confusion: np.ndarray = field(compare=False, repr=False)
    accuracy: float
    uar: float
    macro_f1: float
    per_class: dict[str, ClassScores] = field(compare=False, hash=False)

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def present_classes(self) -> tuple[str, ...]:
        return tuple(c for c in self.classes if self.per_class[c].support > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "uar": self.uar,
            "macro_f1": self.macro_f1,
            "classes": list(self.classes),
            "confusion": self.confusion.astype(int).tolist(),
            "per_class": {c: vars(s) for c, s in self.per_class.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metrics:
        return metrics_from_confusion(np.asarray(d["confusion"], dtype=np.int64), d["classes"])


def confusion_matrix(y_true: Sequence, y_pred: Sequence, classes: Sequence[str]) -> np.ndarray:
    """Counts, rows = true, columns = predicted. Labels may be class names or integer indices."""
    classes = list(classes)
    if len(y_true) != len(y_pred):
        raise InvalidInput(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)

    def to_idx(values: Sequence, what: str) -> np.ndarray:
        out = np.empty(len(values), dtype=np.int64)
        for j, v in enumerate(values):
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                if not 0 <= int(v) < k:
                    raise InvalidInput(f"{what} index {v} outside 0..{k - 1}")
                out[j] = int(v)
            elif v in index:
                out[j] = index[v]
            else:
                raise InvalidInput(f"{what} label {v!r} is not one of the classes {classes}")
        return out

    t, p = to_idx(list(y_true), "true"), to_idx(list(y_pred), "predicted")
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def metrics_from_confusion(cm: np.ndarray, classes: Sequence[str]) -> Metrics:
    cm = np.asarray(cm, dtype=np.int64)
    classes = tuple(classes)
    if cm.shape != (len(classes), len(classes)):
        raise InvalidInput(f"confusion matrix {cm.shape} does not match {len(classes)} classes")
    total = int(cm.sum())
    if total == 0:
        raise InvalidInput("cannot compute metrics on an empty test set")
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    per_class: dict[str, ClassScores] = {}
    recalls, f1s = [], []
    for i, c in enumerate(classes):
        tp = int(cm[i, i])
        recall = tp / support[i] if support[i] else None
        if predicted[i]:
            precision: float | None = tp / predicted[i]
        else:
            precision = 0.0 if support[i] else None
        if recall is None:
            f1 = None
        else:
            f1 = 2 * precision * recall / (precision + recall) if (precision or recall) else 0.0
            recalls.append(recall)
            f1s.append(f1)
        per_class[c] = ClassScores(
            precision=None if precision is None else float(precision),
            recall=None if recall is None else float(recall),
            f1=None if f1 is None else float(f1),
            support=int(support[i]),
            predicted=int(predicted[i]),
        )
    return Metrics(
        classes=classes,
        confusion=cm,
        accuracy=float(np.trace(cm) / total),
        uar=float(np.mean(recalls)),
        macro_f1=float(np.mean(f1s)),
        per_class=per_class,
    )


def compute_metrics(y_true: Sequence, y_pred: Sequence, classes: Sequence[str]) -> Metrics:
    return metrics_from_confusion(confusion_matrix(y_true, y_pred, classes), classes)


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f}"


@dataclass(frozen=True)
class AggregateMetrics:
    """Mean ± std over folds of each summary metric, and metrics pooled over all folds."""

    folds: int
    summary: dict[str, Spread] = field(hash=False)
    per_class_recall: dict[str, Spread] = field(hash=False)
    pooled: Metrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            **{k: vars(v) for k, v in self.summary.items()},
            "per_class_recall": {c: vars(s) for c, s in self.per_class_recall.items()},
            "pooled": self.pooled.to_dict(),
        }


def _spread(values: Sequence[float]) -> Spread:
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return Spread(float(arr.mean()), std, len(arr))


def aggregate(fold_results: Sequence[Metrics]) -> AggregateMetrics:
    if not fold_results:
        raise InvalidInput("aggregate() needs at least one fold result")
    classes = fold_results[0].classes
    if any(r.classes != classes for r in fold_results):
        raise InvalidInput("cannot aggregate folds with different class lists")
    summary = {m: _spread([getattr(r, m) for r in fold_results]) for m in SUMMARY_METRICS}
    per_class = {}
    for c in classes:
        recalls = [r.per_class[c].recall for r in fold_results if r.per_class[c].recall is not None]
        if recalls:
            per_class[c] = _spread(recalls)
    pooled = metrics_from_confusion(sum(r.confusion for r in fold_results), classes)
    return AggregateMetrics(len(fold_results), summary, per_class, pooled)
