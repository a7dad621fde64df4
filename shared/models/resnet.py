"""ResNet50 baseline of the Speaker VGG CCT paper: torchvision's architecture, never downloaded.

The class subclasses torchvision's ``ResNet`` so its parameter names are torchvision's, and a
local ImageNet state dict loads key-for-key. With ``in_chans=1`` the first conv takes one
channel; ``load_pretrained`` folds 3-channel ImageNet filters into it by summing them.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from shared.errors import SpecError
from shared.models.base import SerModel
from shared.models.pretrained import load_pretrained


class ResNet50(ResNet, SerModel):
    """forward(image (B, in_chans, H, W)) -> logits; any H, W >= 32 (global pooling)."""

    input_kind = "image"

    def __init__(self, num_classes: int, in_chans: int = 1) -> None:
        if in_chans not in (1, 3):
            raise SpecError(f"ResNet50 in_chans must be 1 or 3, got {in_chans}")
        super().__init__(Bottleneck, [3, 4, 6, 3], num_classes=num_classes)
        if in_chans != 3:
            self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.in_chans = in_chans
        self.img_hw = (224, 224)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled 2048-d features, the input of ``fc``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.fc(self.embed(x))


def build_resnet50(num_classes: int, in_chans: int = 1, weights_path: str | Path | None = None) -> ResNet50:
    """ResNet50 from scratch, or initialised from a local ImageNet checkpoint (the fc is skipped
    when its class count differs)."""
    model = ResNet50(num_classes, in_chans)
    if weights_path is not None:
        load_pretrained(model, weights_path)
    return model
