"""The feature-model family: utterance functionals (+ the utterance's own GE2E embedding) -> a small head.

Input rows are ``[raw functionals, speaker mean, speaker variance, speaker row count]`` (see
``shared.features.utterance``). The model standardises by itself, with the training pool's moments
kept as buffers (saved with the weights, so a card cannot lose them), in one of three views:

* ``global``: pool statistics only (no adaptation to the speaker; immune to skew);
* ``per_speaker``: the speaker's statistics shrunk toward the pool's by ``shrink`` pseudo-rows
  (``shrink=0``: plain per-speaker z-scores, which erase an emotion a speaker holds throughout);
* ``both``: the two views side by side, so the head learns how far to trust the speaker view;
* ``ensemble``: two heads trained apart, one on the shrunk per-speaker view and one on the global view,
  whose posteriors are averaged. Unlike ``both``, the global head cannot lean on the speaker view (one
  head fitting both fits each training corpus's absolute levels), and it keeps the emotion a speaker
  holds throughout, which the per-speaker view erases (skewed callers, tests/bench/bench_callers.py).

Z-scores are clipped to +-``clip``: one odd segment must not swing a call. The head is a linear
layer or a one-hidden-layer MLP; the speaker embedding (PCA-projected, as for the Speaker CCT) is
concatenated when ``speaker_dim > 0``.

``temperature`` divides the logits at inference (eval mode) only: it is fitted after training on
out-of-fold predictions (``shared.evaluation.calibration``), so training is unchanged and every path
that runs the model (eval, serving, ONNX) gives the same calibrated posteriors.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shared.errors import ConfigMismatch, SpecError
from shared.models.base import SerModel

VIEWS = ("global", "per_speaker", "both", "ensemble")


class UtteranceNet(SerModel):
    input_kind = "functionals"
    uses_speaker = True

    def __init__(self, num_classes: int, feature_dim: int = 88, speaker_dim: int = 64, view: str = "both",
                 shrink: float = 8.0, hidden: int = 128, dropout: float = 0.3, clip: float = 8.0,
                 temperature: float = 1.0, label_smoothing: float = 0.1) -> None:
        super().__init__()
        if view not in VIEWS:
            raise SpecError(f"view must be one of {list(VIEWS)}, got {view!r}")
        if shrink < 0 or feature_dim <= 0 or speaker_dim < 0 or hidden < 0:
            raise SpecError("shrink, feature_dim, speaker_dim and hidden must be non-negative (feature_dim > 0)")
        if not 0.05 <= temperature <= 20:
            raise SpecError(f"temperature must lie in [0.05, 20], got {temperature}")
        self.feature_dim, self.speaker_dim, self.view = feature_dim, speaker_dim, view
        self.shrink, self.clip, self.temperature = float(shrink), float(clip), float(temperature)
        self.label_smoothing = float(label_smoothing)
        self.uses_speaker = speaker_dim > 0
        self.takes_labels = view == "ensemble"  # the global head's own loss needs the labels
        self._global_loss: torch.Tensor | None = None
        self.register_buffer("pool_n", torch.zeros(()))
        self.register_buffer("pool_mean", torch.zeros(feature_dim))
        self.register_buffer("pool_var", torch.ones(feature_dim))
        width = feature_dim * (2 if view == "both" else 1) + speaker_dim  # ensemble: each head sees one view
        self.body = (nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)) if hidden
                     else nn.Dropout(dropout))
        self.out_width = hidden or width
        self.classifier = nn.Linear(self.out_width, num_classes)
        if view == "ensemble":
            self.body_global = (nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout)) if hidden
                                else nn.Dropout(dropout))
            self.classifier_global = nn.Linear(self.out_width, num_classes)

    @property
    def input_width(self) -> int:
        return 3 * self.feature_dim + 1

    def fit_normalizer(self, x: np.ndarray) -> None:
        """Pool moments from the training rows' raw functionals (training data only)."""
        raw = torch.as_tensor(np.asarray(x)[:, : self.feature_dim], dtype=torch.float64)
        if raw.shape[0] < 2:
            raise SpecError("fit the normaliser on at least two training rows")
        self.pool_n.fill_(float(raw.shape[0]))
        self.pool_mean.copy_(raw.mean(0).float())
        self.pool_var.copy_(raw.var(0, unbiased=False).float())

    def check_fitted(self) -> None:
        if float(self.pool_n) < 2:
            raise ConfigMismatch("this utterance model has no normalisation statistics (pool_n < 2): "
                                 "it was never fitted on training data")

    def _z(self, raw: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        return ((raw - mean) / var.clamp_min(1e-10).sqrt()).clamp(-self.clip, self.clip)

    def features(self, x: torch.Tensor, global_only: bool = False) -> torch.Tensor:
        """The z-scored views the (first) head reads; ``global_only``: the ensemble's global head's view."""
        d = self.feature_dim
        raw, g_mean, g_var, g_n = x[:, :d], x[:, d : 2 * d], x[:, 2 * d : 3 * d], x[:, 3 * d :]
        views = []
        if self.view in ("global", "both") or global_only:
            views.append(self._z(raw, self.pool_mean, self.pool_var))
        if self.view in ("per_speaker", "both", "ensemble") and not global_only:
            w = g_n / (g_n + self.shrink) if self.shrink > 0 else torch.ones_like(g_n)
            mean = w * g_mean + (1 - w) * self.pool_mean
            var = w * (g_var + (g_mean - mean) ** 2) + (1 - w) * (self.pool_var + (self.pool_mean - mean) ** 2)
            views.append(self._z(raw, mean, var))
        return torch.cat(views, dim=1)

    def embed(self, x: torch.Tensor, speaker: torch.Tensor | None = None, global_only: bool = False) -> torch.Tensor:
        parts = [self.features(x, global_only)]
        if self.speaker_dim:
            parts.append(speaker)
        return (self.body_global if global_only else self.body)(torch.cat(parts, dim=1))

    def forward(self, x: torch.Tensor, speaker: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.classifier(self.embed(x, speaker))
        if self.view == "ensemble":
            other = self.classifier_global(self.embed(x, speaker, global_only=True))
            if self.training:  # each head learns on its own: the global head's loss goes in as the auxiliary term
                self._global_loss = (None if labels is None else
                                     F.cross_entropy(other, labels, label_smoothing=self.label_smoothing))
                return logits
            logits = torch.log((torch.softmax(logits, 1) + torch.softmax(other, 1)) / 2)
        return logits if self.training else logits / self.temperature

    def auxiliary_loss(self, *inputs: torch.Tensor) -> torch.Tensor | None:
        loss, self._global_loss = self._global_loss, None
        return loss

    def example_inputs(self, batch: int = 1, **_: object) -> dict[str, torch.Tensor]:
        device = self.pool_mean.device
        x = torch.cat([torch.randn(batch, self.feature_dim), torch.zeros(batch, self.feature_dim),
                       torch.ones(batch, self.feature_dim), torch.ones(batch, 1)], dim=1).to(device)
        out = {"x": x}
        if self.speaker_dim:
            out["speaker"] = torch.zeros(batch, self.speaker_dim, device=device)
        return out


def build_utterance(num_classes: int, **kwargs: object) -> UtteranceNet:
    return UtteranceNet(num_classes, **kwargs)  # type: ignore[arg-type]
