"""The synthetic tasks put the class signal where they say."""
from __future__ import annotations

import torch

from shared.models.parry import ParryCnn
from shared.models.sanity import band_energy, separable_batch, sines
from shared.models.vacnn import VacnnBovw


def test_band_energy_sits_in_the_class_band() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 2] * 20)
    x = band_energy((1, 30, 16), labels, 3, g)
    band_means = x.reshape(60, 3, 10, 16).mean(dim=(2, 3))
    assert torch.equal(band_means.argmax(dim=1), labels)


def test_sines_have_the_class_frequency() -> None:
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 2])
    x = sines(4000, labels, g)
    peak_hz = torch.fft.rfft(x).abs().argmax(dim=1).float() * 16000 / 4000
    assert torch.allclose(peak_hz, torch.tensor([250.0, 1000.0, 4000.0]), atol=4.0)  # 4 Hz bins


def test_separable_batch_matches_the_model() -> None:
    g = torch.Generator().manual_seed(0)
    inputs, y = separable_batch(ParryCnn(3, channels=(8, 8)), 5, 3, g, frames=120)
    assert inputs["x"].shape == (5, 40, 120) and y.shape == (5,)
    model = VacnnBovw(3, img_size=64, vocabulary_size=16)
    inputs, y = separable_batch(model, 6, 3, g)
    assert inputs["x"].shape == (6, 1, 64, 64)
    assert torch.equal(inputs["bovw"].argmax(dim=1), y)
    assert torch.allclose(inputs["bovw"].sum(dim=1), torch.ones(6))
