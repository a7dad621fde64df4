"""Speaker CCT fusions: all three use both the image and the speaker embedding."""
from __future__ import annotations

import pytest
import torch

from shared.models.cct import Cct, build_cct
from shared.models.sanity import accuracy, band_energy, train_steps
from shared.models.speaker_cct import FUSIONS, SpeakerCct, build_speaker_cct


def _batch(model: SpeakerCct, n: int, g: torch.Generator):
    """4 classes = (energy band: low/high) x (sign of speaker coordinate 0): needs both inputs."""
    y = torch.randint(0, 4, (n,), generator=g)
    x = band_energy((1, 48, 48), y // 2, 2, g)
    spk = 0.5 * torch.randn(n, model.speaker_dim, generator=g)
    spk[:, 0] += torch.where(y % 2 == 1, 2.0, -2.0)
    return {"x": x, "speaker": spk}, y


@pytest.mark.parametrize("fusion", FUSIONS)
def test_fusion_learns_a_task_that_needs_image_and_speaker(fusion: str) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = build_speaker_cct(4, fusion, base="cct_tiny", img_size=48)
    losses = train_steps(model, lambda _: _batch(model, 16, g), steps=45, lr=3e-3)
    acc = accuracy(model, _batch(model, 128, g))
    print(f"speaker_cct_{fusion}: loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {acc:.3f}")
    assert acc >= 0.9  # image alone or speaker alone caps at 0.5


@pytest.mark.parametrize("fusion", FUSIONS)
def test_speaker_changes_the_output_and_shapes(fusion: str) -> None:
    torch.manual_seed(0)
    model = build_speaker_cct(3, fusion, base="cct_tiny", img_size=64, speaker_dim=32).eval()
    x = torch.randn(2, 1, 64, 64)
    a = model(x, torch.randn(2, 32))
    b = model(x, torch.randn(2, 32))
    assert a.shape == (2, 3)
    assert not torch.allclose(a, b)
    assert model.embed(x, torch.randn(2, 32)).shape == (2, 128)
    with pytest.raises(ValueError, match="speaker embedding"):
        model(x, torch.randn(2, 16))


def test_variants_reuse_the_cct_modules() -> None:
    late = build_speaker_cct(3, "late", base="cct_tiny", img_size=64)
    e2e = build_speaker_cct(3, "e2e", base="cct_tiny", img_size=64)
    assert isinstance(late.cct, Cct) and isinstance(e2e.cct, Cct)
    assert e2e.fusion_block is None and late.fusion_block.self_attn.num_heads == 1
    plain = build_cct(3, "cct_tiny", img_size=64)
    cct_keys = {f"cct.{k}" for k in plain.state_dict()}
    assert cct_keys <= set(e2e.state_dict())
    assert set(e2e.state_dict()) - cct_keys == {"speaker_proj.weight", "speaker_proj.bias"}
