"""Calibrated probabilities and an honest "uncertain".

A classifier trained with label smoothing on acted corpora is over- or under-confident on callers it
never heard; a contact centre reads its probabilities as probabilities. Temperature scaling (one
scalar that divides the logits) is fitted on predictions made *out of fold* (each held-out corpus
scored by a model that never saw it), because in-fold predictions are overconfident by construction.
The uncertain threshold is chosen on the same out-of-fold predictions, after calibration.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.errors import InvalidInput

ECE_BINS = 15


def _check(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or len(probs) != len(labels) or not len(labels):
        raise InvalidInput(f"need (N, C) probabilities and N labels, got {probs.shape} and {labels.shape}")
    if labels.min() < 0 or labels.max() >= probs.shape[1]:
        raise InvalidInput(f"labels must lie in [0, {probs.shape[1]})")
    return probs, labels


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax(log p / T): the same as dividing the logits by T (softmax is shift-invariant)."""
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    probs, labels = _check(probs, labels)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))))


def fit_temperature(probs: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The T that minimises the negative log-likelihood of ``scale(probs, T)``: a golden-section search
    over log T (the NLL is unimodal in T for a fixed set of logits)."""
    probs, labels = _check(probs, labels)
    a, b = np.log(low), np.log(high)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(scale(probs, np.exp(c)), labels), nll(scale(probs, np.exp(d)), labels)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(scale(probs, np.exp(c)), labels)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(scale(probs, np.exp(d)), labels)
    return float(np.exp((a + b) / 2))


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: its bounds, how many predictions fell in it, their mean confidence and accuracy."""

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        n = self.counts.sum()
        return float(np.sum(self.counts / n * np.abs(self.accuracy - self.confidence))) if n else 0.0


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> Reliability:
    """Top-label reliability over ``bins`` equal-width confidence bins (the last bin includes 1.0)."""
    probs, labels = _check(probs, labels)
    conf, correct = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    safe = np.maximum(counts, 1)
    return Reliability(edges, counts, np.bincount(which, conf, bins) / safe, np.bincount(which, correct, bins) / safe)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over equal-width confidence bins."""
    return reliability(probs, labels, bins).ece


def uncertain_threshold(probs: np.ndarray, coverage: float = 0.8) -> float:
    """The calibrated top probability below which a segment is called uncertain: the (1 - coverage)
    quantile of out-of-fold top probabilities, so about ``coverage`` of segments like those keep a label."""
    if not 0 < coverage <= 1:
        raise InvalidInput(f"coverage must lie in (0, 1], got {coverage}")
    top = np.asarray(probs, dtype=np.float64).max(axis=1)
    return float(np.quantile(top, 1.0 - coverage)) if coverage < 1 else 0.0


def plot_reliability(rel: Reliability, path: Path, title: str = "") -> Path:
    """A reliability diagram (accuracy against confidence per bin, the diagonal is perfect calibration)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    centres = (rel.edges[:-1] + rel.edges[1:]) / 2
    used = rel.counts > 0
    ax.bar(centres[used], rel.accuracy[used], width=np.diff(rel.edges)[used], edgecolor="k", alpha=0.7,
           label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    ax.set_xlabel("top probability")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} ECE {rel.ece:.3f}".strip())
    ax.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
