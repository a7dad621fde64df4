"""Within-class covariance normalisation: the Deep-WCCN layer and the classic linear WCCN.

WCCN (Hatch et al. 2006) projects features with B, the Cholesky factor of the inverse
within-class covariance W (B B^T = W^-1), so that after ``x @ B`` the within-class covariance
is the identity: directions where a class scatters a lot are shrunk, directions where classes
are tight are stretched.

Deep-WCCN (Eghbal-zadeh et al.) does this inside a network, in a detached graph: B is computed
from running statistics with ``torch.no_grad`` and has no trainable parameters, so gradients
flow through the features ``x`` only. Two smoothing hyper-parameters:

- ``alpha`` (running-average weight of the newest mini-batch): each class covariance is
  updated as ``S_c <- (1 - alpha) S_c + alpha * S_c(batch)``; small alpha = a long memory.
- ``beta`` (shrinkage toward the identity at W's own scale):
  ``W~ = (1 - beta) W + beta * (trace(W) / d) I``; it keeps W well conditioned when a
  mini-batch has fewer samples than dimensions. ``eps`` is added to the diagonal on top.

The last B is a buffer: it is saved with the model and used unchanged at evaluation.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from shared.errors import InvalidInput


class DeepWccn(nn.Module):
    """forward(x (B, dim), labels (B,) or None) -> x @ B, B detached; statistics update in training."""

    def __init__(self, dim: int, num_classes: int, alpha: float = 0.1, beta: float = 0.1, eps: float = 1e-4) -> None:
        super().__init__()
        if not 0.0 < alpha <= 1.0 or not 0.0 <= beta <= 1.0:
            raise InvalidInput(f"DeepWccn needs 0 < alpha <= 1 and 0 <= beta <= 1, got {alpha}, {beta}")
        self.dim, self.num_classes = dim, num_classes
        self.alpha, self.beta, self.eps = alpha, beta, eps
        self.register_buffer("class_cov", torch.eye(dim).repeat(num_classes, 1, 1))
        self.register_buffer("class_seen", torch.zeros(num_classes, dtype=torch.bool))
        self.register_buffer("B", torch.eye(dim))

    @torch.no_grad()
    def update(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        """Fold one mini-batch into the per-class running covariances and recompute B."""
        x64 = x.detach().double()
        for c in labels.unique().tolist():
            xc = x64[labels == c]
            if xc.shape[0] < 2:
                continue
            xc = xc - xc.mean(dim=0, keepdim=True)
            cov = (xc.T @ xc) / (xc.shape[0] - 1)
            if self.class_seen[c]:
                cov = (1.0 - self.alpha) * self.class_cov[c].double() + self.alpha * cov
            self.class_cov[c] = cov.to(self.class_cov.dtype)
            self.class_seen[c] = True
        if self.class_seen.any():
            within = self.class_cov[self.class_seen].mean(dim=0)
            self.B.copy_(_cholesky_inverse_factor(within, self.beta, self.eps).to(self.B))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"DeepWccn expects (B, {self.dim}), got {tuple(x.shape)}")
        if self.training and labels is not None:
            self.update(x, labels)
        return x @ self.B.detach()


def _cholesky_inverse_factor(w: torch.Tensor, beta: float, eps: float) -> torch.Tensor:
    """Lower-triangular B with B B^T = inv(W~), W~ the shrunk, regularised W (computed in float64)."""
    w = w.double()
    d = w.shape[0]
    w = 0.5 * (w + w.T)
    scale = max(float(torch.trace(w)) / d, eps)
    eye = torch.eye(d, dtype=w.dtype, device=w.device)
    w = (1.0 - beta) * w + (beta * scale + eps) * eye
    factor, info = torch.linalg.cholesky_ex(torch.linalg.inv(w))
    if int(info) != 0:  # numerically indefinite: fall back to a stronger ridge
        factor = torch.linalg.cholesky(torch.linalg.inv(w + 1e-3 * scale * eye))
    return factor


def wccn_fit(X: np.ndarray, y: np.ndarray, *, beta: float = 0.0, eps: float = 1e-6) -> np.ndarray:
    """Classic WCCN on fixed features (the "WCCN on the linear path" baseline): returns B, to use
    as ``X @ B``. W is the mean of the per-class covariances (Hatch et al.)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise InvalidInput(f"wccn_fit needs X (n, d) and y (n,), got {X.shape} and {y.shape}")
    covs = []
    for c in np.unique(y):
        xc = X[y == c]
        if len(xc) < 2:
            continue
        covs.append(np.cov(xc, rowvar=False).reshape(X.shape[1], X.shape[1]))
    if not covs:
        raise InvalidInput("wccn_fit needs at least one class with two or more samples")
    return _cholesky_inverse_factor(torch.from_numpy(np.mean(covs, axis=0)), beta, eps).numpy()
