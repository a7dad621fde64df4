"""Compact Convolutional Transformer (Hassani et al. 2021, "Escaping the Big Data Paradigm").

A convolutional tokenizer turns the image into a short token sequence, a transformer encoder
mixes it, and sequence (attention) pooling replaces the class token. Module and parameter names
follow the reference implementation (``tokenizer.conv_layers.*``, ``classifier.blocks.*``,
``classifier.positional_emb`` ...) so that a locally provided ImageNet CCT checkpoint loads
key-for-key through ``shared.models.pretrained.load_pretrained``.

The pieces (``Tokenizer``, ``TransformerEncoderLayer``, ``TransformerClassifier``) are public
because the Speaker CCT variants are built from them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from shared.errors import SpecError
from shared.models.base import SerModel

Positional = Literal["learnable", "sine", "none"]


@dataclass(frozen=True)
class CctConfig:
    """Shape of a CCT. ``img_size`` is (H, W) or one int for a square input."""

    img_size: int | tuple[int, int] = 224
    in_chans: int = 1
    embed_dim: int = 384
    depth: int = 14
    num_heads: int = 6
    mlp_ratio: float = 3.0
    kernel_size: int = 7
    n_conv_layers: int = 2
    conv_channels: int = 64
    conv_stride: int | None = None  # None: the reference rule max(1, k // 2 - 1)
    conv_padding: int | None = None  # None: max(1, k // 2)
    pool_kernel: int = 3
    pool_stride: int = 2
    pool_padding: int = 1
    positional: Positional = "learnable"
    dropout: float = 0.0
    attn_dropout: float = 0.1
    drop_path: float = 0.1

    @property
    def hw(self) -> tuple[int, int]:
        return (self.img_size, self.img_size) if isinstance(self.img_size, int) else tuple(self.img_size)

    @property
    def stride(self) -> int:
        return self.conv_stride if self.conv_stride is not None else max(1, self.kernel_size // 2 - 1)

    @property
    def padding(self) -> int:
        return self.conv_padding if self.conv_padding is not None else max(1, self.kernel_size // 2)

    def validate(self) -> None:
        if self.in_chans not in (1, 3):
            raise SpecError(f"CCT in_chans must be 1 or 3, got {self.in_chans}")
        if self.embed_dim % self.num_heads:
            raise SpecError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.positional not in ("learnable", "sine", "none"):
            raise SpecError(f"positional must be learnable, sine or none, got {self.positional!r}")
        if min(token_grid(self)) < 1:
            raise SpecError(f"img_size {self.img_size} is too small for this tokenizer")


CCT_CONFIGS: Mapping[str, CctConfig] = MappingProxyType({
    # The paper's ImageNet-scale model, used by Speaker VGG CCT on 224x224 log-mel images.
    "cct_14_7x2": CctConfig(),
    # The paper's CIFAR-scale compact model (32x32 inputs).
    "cct_2_3x2_32": CctConfig(
        img_size=32, embed_dim=128, depth=2, num_heads=2, mlp_ratio=1.0, kernel_size=3, n_conv_layers=2
    ),
    # 224x224 inputs with a strong-stride 7x7 tokenizer (14x14 tokens), small enough for 2 CPU cores.
    "cct_tiny": CctConfig(
        embed_dim=128, depth=2, num_heads=2, mlp_ratio=2.0, conv_channels=32, kernel_size=7, n_conv_layers=2
    ),
})


def token_grid(cfg: CctConfig) -> tuple[int, int]:
    """Token grid (h, w) after the tokenizer, computed from the conv/pool arithmetic."""

    def conv(n: int) -> int:
        return (n + 2 * cfg.padding - cfg.kernel_size) // cfg.stride + 1

    def pool(n: int) -> int:
        return (n + 2 * cfg.pool_padding - cfg.pool_kernel) // cfg.pool_stride + 1

    h, w = cfg.hw
    for _ in range(cfg.n_conv_layers):
        h, w = pool(conv(h)), pool(conv(w))
    return h, w


def sinusoidal_embedding(n_tokens: int, dim: int) -> torch.Tensor:
    """Fixed (1, n_tokens, dim) sine/cosine table, as in "Attention is all you need"."""
    pos = torch.arange(n_tokens, dtype=torch.float32)[:, None]
    i = torch.arange(dim, dtype=torch.float32)[None, :]
    angle = pos / torch.pow(10000.0, 2 * torch.div(i, 2, rounding_mode="floor") / dim)
    table = torch.where(i.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table[None]


class Tokenizer(nn.Module):
    """n x (conv kxk, no bias -> ReLU -> max pool), then flatten to (B, tokens, dim)."""

    def __init__(self, cfg: CctConfig) -> None:
        super().__init__()
        chans = [cfg.in_chans] + [cfg.conv_channels] * (cfg.n_conv_layers - 1) + [cfg.embed_dim]
        self.conv_layers = nn.Sequential(
            *[
                nn.Sequential(
                    nn.Conv2d(chans[i], chans[i + 1], cfg.kernel_size, cfg.stride, cfg.padding, bias=False),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d(cfg.pool_kernel, cfg.pool_stride, cfg.pool_padding),
                )
                for i in range(cfg.n_conv_layers)
            ]
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_layers(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, attn_dropout: float, proj_dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.attn_dropout = attn_dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        p = self.attn_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, c)))


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class TransformerEncoderLayer(nn.Module):
    """The reference CCT block: pre-norm attention; the stream is normalised before the MLP."""

    def __init__(
        self, dim: int, num_heads: int, mlp_dim: int, dropout: float, attn_dropout: float, drop_path: float
    ) -> None:
        super().__init__()
        self.pre_norm = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, num_heads, attn_dropout, dropout)
        self.linear1 = nn.Linear(dim, mlp_dim)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.linear2 = nn.Linear(mlp_dim, dim)
        self.dropout2 = nn.Dropout(dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.self_attn(self.pre_norm(x)))
        x = self.norm1(x)
        y = self.linear2(self.dropout1(F.gelu(self.linear1(x))))
        return x + self.drop_path(self.dropout2(y))


class TransformerClassifier(nn.Module):
    """Positional embedding, encoder blocks, final norm, sequence pooling and the linear head."""

    def __init__(self, cfg: CctConfig, num_classes: int) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.token_grid = token_grid(cfg)
        n_tokens = self.token_grid[0] * self.token_grid[1]
        self.attention_pool = nn.Linear(dim, 1)
        if cfg.positional == "learnable":
            self.positional_emb: nn.Parameter | None = nn.Parameter(torch.zeros(1, n_tokens, dim))
            nn.init.trunc_normal_(self.positional_emb, std=0.2)
        elif cfg.positional == "sine":
            self.positional_emb = nn.Parameter(sinusoidal_embedding(n_tokens, dim), requires_grad=False)
        else:
            self.positional_emb = None
        self.dropout = nn.Dropout(cfg.dropout)
        rates = [cfg.drop_path * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(
            TransformerEncoderLayer(dim, cfg.num_heads, int(dim * cfg.mlp_ratio), cfg.dropout, cfg.attn_dropout, r)
            for r in rates
        )
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes)
        self.apply(_init_weights)

    def add_position(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.positional_emb is not None:
            tokens = tokens + self.positional_emb
        return self.dropout(tokens)

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            seq = block(seq)
        return self.norm(seq)

    def pool(self, seq: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.attention_pool(seq), dim=1)  # (B, N, 1)
        return (weights.transpose(1, 2) @ seq).squeeze(1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.encode(self.add_position(tokens))))


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


class Cct(SerModel):
    """A CCT classifying (B, in_chans, H, W) images."""

    input_kind = "image"

    def __init__(self, cfg: CctConfig, num_classes: int) -> None:
        super().__init__()
        cfg.validate()
        self.config = cfg
        self.in_chans, self.img_hw = cfg.in_chans, cfg.hw
        self.tokenizer = Tokenizer(cfg)
        self.classifier = TransformerClassifier(cfg, num_classes)

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config.in_chans or tuple(x.shape[2:]) != self.config.hw:
            raise ValueError(
                f"CCT expects (B, {self.config.in_chans}, {self.config.hw[0]}, {self.config.hw[1]}), "
                f"got {tuple(x.shape)}"
            )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Sequence-pooled features (B, embed_dim), the input of the linear head."""
        self._check(x)
        c = self.classifier
        return c.pool(c.encode(c.add_position(self.tokenizer(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.fc(self.embed(x))


def cct_config(preset: str, **overrides: object) -> CctConfig:
    """A named preset with field overrides (e.g. ``img_size=64, in_chans=3``)."""
    if preset not in CCT_CONFIGS:
        raise SpecError(f"unknown CCT preset {preset!r}; known: {sorted(CCT_CONFIGS)}")
    try:
        return replace(CCT_CONFIGS[preset], **overrides)
    except TypeError as exc:
        raise SpecError(f"bad CCT override for {preset!r}: {exc}") from exc


def build_cct(num_classes: int, preset: str = "cct_14_7x2", **overrides: object) -> Cct:
    return Cct(cct_config(preset, **overrides), num_classes)

