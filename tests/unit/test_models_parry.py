"""Parry et al.: about 2M parameters each, mean over time, padding, and learning."""
from __future__ import annotations

import pytest
import torch

from shared.models.parry import ParryCnn, ParryCnnLstm, ParryLstm, pad_to_min_frames
from shared.models.registry import count_parameters
from shared.models.sanity import accuracy, separable_batch, train_steps

FAMILY = {"lstm": ParryLstm, "cnn": ParryCnn, "cnn_lstm": ParryCnnLstm}
SMALL = {
    "lstm": {"hidden": 32, "layers": 1},
    "cnn": {"channels": (16, 32)},
    "cnn_lstm": {"channels": (16,), "hidden": 32},
}


@pytest.mark.parametrize("kind", sorted(FAMILY))
def test_default_widths_give_about_two_million_parameters(kind: str) -> None:
    n = count_parameters(FAMILY[kind](num_classes=3))
    print(f"parry_{kind}: {n:,} parameters")
    assert 1_800_000 <= n <= 2_200_000


def test_short_inputs_are_padded_to_100_frames() -> None:
    x = torch.randn(2, 40, 37)
    assert pad_to_min_frames(x).shape == (2, 40, 100)
    assert torch.equal(pad_to_min_frames(x)[..., :37], x)
    assert pad_to_min_frames(torch.randn(1, 40, 150)).shape[-1] == 150
    model = ParryCnn(num_classes=3, channels=(8, 8)).eval()
    assert model(x).shape == (2, 3)


def test_embedding_is_the_mean_over_time() -> None:
    model = ParryLstm(num_classes=3, hidden=8, layers=1).eval()
    x = torch.randn(2, 40, 120)
    with torch.no_grad():
        assert torch.allclose(model.embed(x), model.frames(x).mean(dim=1))
    with pytest.raises(ValueError, match="40"):
        model(torch.randn(2, 64, 120))


@pytest.mark.parametrize("kind", sorted(FAMILY))
def test_learns_band_task(kind: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = FAMILY[kind](num_classes=3, **SMALL[kind])
    losses = train_steps(model, lambda _: separable_batch(model, 16, 3, g), steps=30, lr=3e-3)
    acc = accuracy(model, separable_batch(model, 96, 3, g))
    print(f"parry_{kind} (small widths): loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {acc:.3f}")
    assert acc >= 0.9
