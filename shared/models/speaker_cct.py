"""Speaker VGG CCT: a CCT on log-mel images fused with a speaker embedding, three ways.

The speaker embedding arrives already PCA-projected (fitted on training speakers only) to
``speaker_dim`` (by default the CCT width d); a linear layer maps it to a speaker token.

- ``late``: the CCT runs alone; its pooled vector (emotion token) and the speaker token form a
  2-token sequence for a 1-layer, 1-head transformer block; classify from the emotion token.
- ``e2e``: the speaker token is prepended to the image tokens (after their positional
  embedding; the projection bias acts as the speaker token's position) and the whole sequence
  is encoded and sequence-pooled.
- ``e2e_spk``: as ``e2e`` but classify from the speaker token's encoder output.

Everything reuses ``shared.models.cct`` modules, so a CCT checkpoint loads into ``self.cct``.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from shared.errors import SpecError
from shared.models.base import SerModel
from shared.models.cct import Cct, CctConfig, TransformerEncoderLayer, cct_config

Fusion = Literal["late", "e2e", "e2e_spk"]
FUSIONS: tuple[Fusion, ...] = ("late", "e2e", "e2e_spk")


class SpeakerCct(SerModel):
    """forward(image (B, C, H, W), speaker (B, speaker_dim)) -> logits (B, num_classes)."""

    input_kind = "image"
    uses_speaker = True

    def __init__(self, cfg: CctConfig, num_classes: int, fusion: Fusion, speaker_dim: int | None = None) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise SpecError(f"unknown speaker fusion {fusion!r}; known: {list(FUSIONS)}")
        self.fusion = fusion
        self.cct = Cct(cfg, num_classes)
        self.in_chans, self.img_hw = cfg.in_chans, cfg.hw
        dim = cfg.embed_dim
        self.speaker_dim = speaker_dim or dim
        self.speaker_proj = nn.Linear(self.speaker_dim, dim)
        if fusion == "late":
            self.fusion_block: nn.Module | None = TransformerEncoderLayer(
                dim, num_heads=1, mlp_dim=int(dim * cfg.mlp_ratio), dropout=cfg.dropout,
                attn_dropout=cfg.attn_dropout, drop_path=0.0,
            )
            self.fusion_norm: nn.Module | None = nn.LayerNorm(dim)
        else:
            self.fusion_block = None
            self.fusion_norm = None

    def embed(self, x: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
        """The vector the head classifies (B, d)."""
        if speaker.ndim != 2 or speaker.shape[1] != self.speaker_dim:
            raise ValueError(f"speaker embedding must be (B, {self.speaker_dim}), got {tuple(speaker.shape)}")
        spk = self.speaker_proj(speaker)[:, None, :]
        c = self.cct.classifier
        if self.fusion == "late":
            emotion = self.cct.embed(x)[:, None, :]
            pair = self.fusion_norm(self.fusion_block(torch.cat([emotion, spk], dim=1)))
            return pair[:, 0]
        self.cct._check(x)
        seq = c.encode(torch.cat([spk, c.add_position(self.cct.tokenizer(x))], dim=1))
        return c.pool(seq) if self.fusion == "e2e" else seq[:, 0]

    def forward(self, x: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
        return self.cct.classifier.fc(self.embed(x, speaker))


def build_speaker_cct(
    num_classes: int,
    fusion: Fusion,
    base: str = "cct_14_7x2",
    speaker_dim: int | None = None,
    **cct_overrides: object,
) -> SpeakerCct:
    return SpeakerCct(cct_config(base, **cct_overrides), num_classes, fusion, speaker_dim)
