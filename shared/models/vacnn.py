"""VACNN (Seo & Kim 2020) and its fine-tuning model fused with BOVW by Luong context attention.

VACNN on a 224x224x1 log-mel image:
  stem   3x3 conv s2 (32) + GroupNorm(8) + ReLU, 3x3 max pool s2        -> 32 x 56 x 56
  VA 1   2 conv blocks, 32 ch, then visual attention                     -> 32 x 56 x 56
  VA 2   2 conv blocks (first one stride 2), 96 ch, then attention       -> 96 x 28 x 28
  VA 3   2 conv blocks (first one stride 2), 288 ch, then attention      -> 288 x 14 x 14
  head   GroupNorm(8) + ReLU, global average pool, FC 256 + ReLU, classifier
A conv block is 3x3 conv + GroupNorm(8) + ReLU. Visual attention has a channel map Mc
(GAP and GMP through one shared MLP with reduction 4, summed, sigmoid) and a spatial map Ms
(an unbiased 7x7 conv over the channel-wise [mean; max], sigmoid). VACNN applies them
separately and sums, ``x*Mc + x*Ms``; the CBAM ablation applies them in sequence,
``y = x*Mc(x); y*Ms(y)``.

Every layer is convolutional up to the global pool, so smaller inputs (e.g. 64x64 in tests) run
the same architecture with smaller maps; the paper's setting is 224.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from shared.errors import SpecError
from shared.models.base import SerModel

STAGES: tuple[int, int, int] = (32, 96, 288)
GROUPS = 8


def conv_block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.GroupNorm(GROUPS, c_out), nn.ReLU(inplace=True)
    )


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return torch.sigmoid(logits)[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class VisualAttention(nn.Module):
    """Parallel (VACNN: x*Mc + x*Ms) or sequential (CBAM) channel + spatial attention."""

    def __init__(self, channels: int, cbam: bool = False, reduction: int = 4) -> None:
        super().__init__()
        self.cbam = cbam
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cbam:
            y = x * self.channel(x)
            return y * self.spatial(y)
        return x * self.channel(x) + x * self.spatial(x)


class VaBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, cbam: bool) -> None:
        super().__init__()
        self.convs = nn.Sequential(conv_block(c_in, c_out, stride), conv_block(c_out, c_out))
        self.attention = VisualAttention(c_out, cbam)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.convs(x))


class Vacnn(SerModel):
    """forward(image (B, in_chans, H, W)) -> logits; ``features`` gives the 288-channel map."""

    input_kind = "image"

    def __init__(
        self, num_classes: int, in_chans: int = 1, cbam: bool = False, dropout: float = 0.3, img_size: int = 224
    ) -> None:
        super().__init__()
        self.cbam = cbam
        self.in_chans, self.img_hw = in_chans, (img_size, img_size)  # img_size: nominal, any size runs
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, STAGES[0], 3, 2, 1, bias=False),
            nn.GroupNorm(GROUPS, STAGES[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        self.va1 = VaBlock(STAGES[0], STAGES[0], 1, cbam)
        self.va2 = VaBlock(STAGES[0], STAGES[1], 2, cbam)
        self.va3 = VaBlock(STAGES[1], STAGES[2], 2, cbam)
        self.head_norm = nn.GroupNorm(GROUPS, STAGES[2])
        self.fc = nn.Linear(STAGES[2], 256)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(256, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 288, H/16, W/16): 14x14 for the 224x224 input."""
        if x.ndim != 4:
            raise ValueError(f"VACNN expects (B, C, H, W), got {tuple(x.shape)}")
        return self.va3(self.va2(self.va1(self.stem(x))))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.head_norm(self.features(x)))
        return F.relu(self.fc(h.mean(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(x)))

    def freeze_until_first_va_block(self) -> list[str]:
        """Freeze the stem and VA block 1 for fine-tuning; returns the frozen parameter names."""
        frozen = []
        for prefix, module in (("stem", self.stem), ("va1", self.va1)):
            for name, p in module.named_parameters():
                p.requires_grad_(False)
                frozen.append(f"{prefix}.{name}")
        return frozen


class VacnnBovw(SerModel):
    """VACNN features fused with a BOVW histogram by Luong (multiplicative) context attention.

    Shapes, for the 224x224 input and a 128-word vocabulary (B = batch):
      h_s  = avgpool2x2(VACNN 288x14x14) -> 288x7x7 -> (B, 49, 288), the source states;
      h_t  = MLP(hist): LayerNorm(128) -> 49 (ReLU) -> 288 (ReLU) -> (B, 288), the target
             state. The 49 mirrors the 49 spatial positions (the paper's width); the 288 matches
             h_s so the two can be scored and concatenated. The LayerNorm is our addition: the
             paper does not say how histograms are scaled, and an L1-normalised 128-bin
             histogram (entries ~0.008) barely moves a default-initialised MLP; LayerNorm makes
             the model indifferent to counts vs L1 vs L2 normalisation;
      score_j = h_t^T W h_s_j with W (288x288), softmax over the 49 positions -> a (B, 49);
      c    = sum_j a_j h_s_j (B, 288);  av_t = tanh(W_c [c; h_t]) with W_c (288 x 576);
      out  = ReLU(tanh(O av_t) + h_s): O is a learned 288x288 output projection (Luong's
             attentional-output layer); its (B, 288) result is broadcast over the 49 positions
             as a context-dependent offset to every spatial feature -> (B, 49, 288);
      logits = Linear(dropout(flatten(out))) over 49*288.
    With smaller test inputs the number of positions is (H/32)*(W/32), fixed by ``img_size``.
    """

    input_kind = "image"
    uses_bovw = True

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 1,
        cbam: bool = False,
        vocabulary_size: int = 128,
        img_size: int = 224,
        target_hidden: int = 49,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if img_size % 32:
            raise SpecError(f"VacnnBovw img_size must be a multiple of 32, got {img_size}")
        dim = STAGES[2]
        self.vocabulary_size = vocabulary_size
        self.positions = (img_size // 32) ** 2
        self.in_chans, self.img_hw = in_chans, (img_size, img_size)
        self.backbone = Vacnn(num_classes, in_chans, cbam, img_size=img_size)
        self.pool = nn.AvgPool2d(2)
        self.bovw_mlp = nn.Sequential(
            nn.LayerNorm(vocabulary_size),  # our addition: see the class docstring
            nn.Linear(vocabulary_size, target_hidden), nn.ReLU(inplace=True), nn.Linear(target_hidden, dim),
            nn.ReLU(inplace=True),
        )
        self.score = nn.Linear(dim, dim, bias=False)  # W of score = h_t^T W h_s
        self.combine = nn.Linear(2 * dim, dim, bias=False)  # W_c
        self.output = nn.Linear(dim, dim, bias=False)  # O
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.positions * dim, num_classes)

    def freeze_until_first_va_block(self) -> list[str]:
        return [f"backbone.{n}" for n in self.backbone.freeze_until_first_va_block()]

    def attend(self, x: torch.Tensor, hist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused (B, positions, 288) map and the attention weights (B, positions)."""
        if hist.ndim != 2 or hist.shape[1] != self.vocabulary_size:
            raise ValueError(f"BOVW histogram must be (B, {self.vocabulary_size}), got {tuple(hist.shape)}")
        h_s = self.pool(self.backbone.features(x)).flatten(2).transpose(1, 2)
        if h_s.shape[1] != self.positions:
            raise ValueError(f"input gives {h_s.shape[1]} positions, model was built for {self.positions}")
        h_t = self.bovw_mlp(hist)
        scores = (h_s @ self.score(h_t)[:, :, None]).squeeze(2)  # h_t^T W h_s_j  (W applied as W^T h_t)
        weights = F.softmax(scores, dim=1)
        context = (weights[:, None, :] @ h_s).squeeze(1)
        av_t = torch.tanh(self.combine(torch.cat([context, h_t], dim=1)))
        fused = F.relu(torch.tanh(self.output(av_t))[:, None, :] + h_s)
        return fused, weights

    def embed(self, x: torch.Tensor, hist: torch.Tensor) -> torch.Tensor:
        return self.attend(x, hist)[0].flatten(1)

    def forward(self, x: torch.Tensor, hist: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(x, hist)))
