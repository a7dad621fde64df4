"""ResNet50 baseline: torchvision architecture, 1-channel input, local ImageNet-style weights."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torchvision.models import resnet50

from shared.models.registry import count_parameters
from shared.models.resnet import ResNet50, build_resnet50
from shared.models.sanity import band_energy, train_steps


def test_architecture_is_torchvisions_with_one_input_channel() -> None:
    model = ResNet50(num_classes=4, in_chans=1)
    reference = resnet50(weights=None, num_classes=4)
    ours, theirs = model.state_dict(), reference.state_dict()
    assert set(ours) == set(theirs)
    assert model.conv1.weight.shape == (64, 1, 7, 7)
    assert count_parameters(model) == count_parameters(reference) - 64 * 2 * 49
    model.eval()
    x = torch.randn(2, 1, 64, 64)
    assert model(x).shape == (2, 4)
    assert model.embed(x).shape == (2, 2048)


def test_local_imagenet_weights_fold_rgb_filters_and_skip_fc(tmp_path) -> None:
    torch.manual_seed(0)
    reference = resnet50(weights=None)  # stands in for a local ImageNet checkpoint (1000 classes)
    path = tmp_path / "resnet50.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    model = build_resnet50(num_classes=4, in_chans=1, weights_path=path)
    assert torch.allclose(model.conv1.weight, reference.conv1.weight.sum(dim=1, keepdim=True))
    assert torch.equal(model.layer4[2].conv3.weight, reference.layer4[2].conv3.weight)
    assert model.fc.weight.shape == (4, 2048)


@pytest.mark.slow
def test_resnet50_loss_drops_on_band_task() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = ResNet50(num_classes=3)

    def batch(_: int):
        y = torch.randint(0, 3, (12,), generator=g)
        return {"x": band_energy((1, 32, 32), y, 3, g)}, y

    losses = train_steps(model, batch, steps=15, lr=1e-3)
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    print(f"resnet50@32: loss {first:.3f} -> {last:.3f}")
    assert last < 0.6 * first
