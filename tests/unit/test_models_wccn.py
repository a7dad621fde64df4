"""Deep-WCCN shrinks within-class scatter, has no trainable parameters, and evaluates with its
stored B; classic WCCN whitens within-class covariance."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.errors import InvalidInput
from shared.models.wccn import DeepWccn, wccn_fit

DIM = 8


def _features(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """3 classes; within-class spread is large on dim 0 (std 5) and small elsewhere (std 0.5);
    class means differ along dim 1 only."""
    y = torch.randint(0, 3, (n,), generator=g)
    std = torch.full((DIM,), 0.5)
    std[0] = 5.0
    x = torch.randn(n, DIM, generator=g) * std
    x[:, 1] += 1.5 * (y.float() - 1.0)
    return x, y


def _scatter_ratio(x: torch.Tensor, y: torch.Tensor) -> float:
    """trace(within-class covariance) / trace(between-class covariance)."""
    x = x.double()
    mu = x.mean(dim=0)
    sw = torch.zeros(x.shape[1], x.shape[1], dtype=torch.float64)
    sb = torch.zeros_like(sw)
    for c in y.unique():
        xc = x[y == c]
        d = xc - xc.mean(dim=0)
        sw += d.T @ d / len(x)
        m = (xc.mean(dim=0) - mu)[:, None]
        sb += len(xc) / len(x) * (m @ m.T)
    return float(torch.trace(sw) / torch.trace(sb))


def test_deep_wccn_shrinks_within_class_covariance() -> None:
    g = torch.Generator().manual_seed(0)
    layer = DeepWccn(DIM, 3, alpha=0.2, beta=0.01)
    layer.train()
    for _ in range(30):
        x, y = _features(64, g)
        layer(x, y)
    layer.eval()
    x, y = _features(2000, g)
    with torch.no_grad():
        before, after = _scatter_ratio(x, y), _scatter_ratio(layer(x), y)
    print(f"tr(Sw)/tr(Sb): {before:.2f} before Deep-WCCN, {after:.2f} after")
    assert after < 0.25 * before
    projected = layer(x)
    within = torch.stack([torch.cov(projected[y == c].T) for c in range(3)]).mean(dim=0)
    eig = torch.linalg.eigvalsh(within)
    print(f"within-class eigenvalue spread after Deep-WCCN: {float(eig.max() / eig.min()):.2f} (raw: 100)")
    assert float(eig.max() / eig.min()) < 2.5  # near white; the raw ratio is 100


def test_no_parameters_b_is_detached_buffer() -> None:
    layer = DeepWccn(4, 2)
    assert list(layer.parameters()) == []
    assert {"B", "class_cov", "class_seen"} <= set(layer.state_dict())
    x = torch.randn(16, 4, requires_grad=True)
    y = torch.tensor([0, 1] * 8)
    out = layer(x, y)
    out.sum().backward()
    assert not layer.B.requires_grad and layer.B.grad is None
    assert torch.allclose(x.grad, layer.B.sum(dim=1).expand(16, 4))  # gradient through x only


def test_eval_uses_the_stored_b_and_it_survives_a_reload() -> None:
    g = torch.Generator().manual_seed(1)
    layer = DeepWccn(DIM, 3)
    x, y = _features(64, g)
    layer(x, y)
    stored = layer.B.clone()
    assert not torch.allclose(stored, torch.eye(DIM))
    assert torch.allclose(stored, torch.tril(stored))  # a Cholesky factor
    layer.eval()
    x2, y2 = _features(64, g)
    assert torch.allclose(layer(x2, y2), x2 @ stored)
    assert torch.equal(layer.B, stored)  # labels at eval do not update anything
    fresh = DeepWccn(DIM, 3)
    fresh.load_state_dict(layer.state_dict())
    fresh.eval()
    assert torch.allclose(fresh(x2), x2 @ stored)


def test_alpha_one_keeps_only_the_latest_batch() -> None:
    g = torch.Generator().manual_seed(2)
    layer = DeepWccn(DIM, 3, alpha=1.0, beta=0.0, eps=0.0)
    layer(*_features(64, g))
    x, y = _features(64, g)
    layer(x, y)
    expected = torch.stack([torch.cov(x[y == c].T) for c in range(3)]).mean(dim=0)
    within = layer.class_cov.mean(dim=0)
    assert torch.allclose(within, expected, atol=1e-4)
    assert torch.allclose(layer.B @ layer.B.T, torch.linalg.inv(expected), rtol=1e-3, atol=1e-3)


def test_invalid_hyper_parameters() -> None:
    with pytest.raises(InvalidInput):
        DeepWccn(4, 2, alpha=0.0)
    with pytest.raises(InvalidInput):
        DeepWccn(4, 2, beta=1.5)


def test_wccn_fit_whitens_within_class_covariance() -> None:
    g = torch.Generator().manual_seed(3)
    x, y = _features(3000, g)
    X, Y = x.numpy().astype(np.float64), y.numpy()
    B = wccn_fit(X, Y)
    assert np.allclose(B, np.tril(B))
    Z = X @ B
    within = np.mean([np.cov(Z[Y == c], rowvar=False) for c in range(3)], axis=0)
    assert np.allclose(within, np.eye(DIM), atol=1e-6)
    assert _scatter_ratio(torch.from_numpy(Z), y) < 0.25 * _scatter_ratio(x, y)
    with pytest.raises(InvalidInput):
        wccn_fit(X[:1], Y[:1])
