"""wav2vec 2.0 encoder + statistics pooling + Deep-WCCN head, for leave-one-language-out SER.

The encoder is a transformers ``Wav2Vec2Model``: loaded from a LOCAL checkpoint when a path is
given (XLSR-53 or any wav2vec2; nothing is ever downloaded), otherwise built from a config and
trained from scratch (``xlsr53_config()`` for the paper's shape, ``tiny_config()`` for CPU
tests). Head: mean+std over time -> FC -> ReLU -> dropout -> DeepWccn -> LayerNorm -> Linear.

Optional self-supervised term: when the model holds wav2vec2 pretraining heads (a local
``Wav2Vec2ForPreTraining`` checkpoint that contains the quantizer, or ``pretraining_heads=True``
when building from a config), ``auxiliary_loss(wave)`` returns the weighted contrastive +
diversity loss, to be added to the cross-entropy; otherwise it returns None and training
uses cross-entropy alone.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining, Wav2Vec2Model
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

from shared.errors import NotFound, SpecError
from shared.models.base import SerModel
from shared.models.wccn import DeepWccn

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
CROP_SECONDS = 2.0


def normalise_waveform(wave: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Zero mean, unit variance per waveform over the last axis (idempotent)."""
    wave = wave - wave.mean(dim=-1, keepdim=True)
    return wave / torch.sqrt(wave.var(dim=-1, keepdim=True, unbiased=False) + eps)


def crop_or_pad(
    wave: torch.Tensor, length: int, *, random_crop: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Fix the last axis to ``length`` samples: crop (centre, or random for training) or zero-pad
    at the end."""
    n = wave.shape[-1]
    if n < length:
        return F.pad(wave, (0, length - n))
    if n == length:
        return wave
    start = (
        int(torch.randint(0, n - length + 1, (1,), generator=generator)) if random_crop else (n - length) // 2
    )
    return wave[..., start : start + length]


def prepare_waveform(
    wave: torch.Tensor,
    *,
    seconds: float = CROP_SECONDS,
    sample_rate: int = SAMPLE_RATE,
    random_crop: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The data pipeline's input step for this model: 2 s crop or pad, then per-waveform
    mean/variance normalisation (padding zeros are included in the statistics)."""
    return normalise_waveform(
        crop_or_pad(wave, int(round(seconds * sample_rate)), random_crop=random_crop, generator=generator)
    )


def xlsr53_config() -> Wav2Vec2Config:
    """The XLSR-53 (large, stable layer norm) architecture, about 315M encoder parameters."""
    return Wav2Vec2Config(
        hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
        feat_extract_norm="layer", feat_extract_activation="gelu", conv_bias=True,
        conv_dim=(512,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, do_stable_layer_norm=True,
        hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.0, feat_proj_dropout=0.1,
        layerdrop=0.1, mask_time_prob=0.05, num_codevectors_per_group=320, num_codevector_groups=2,
        codevector_dim=768, proj_codevector_dim=768, num_negatives=100, diversity_loss_weight=0.1,
    )


def tiny_config() -> Wav2Vec2Config:
    """A few-hundred-thousand-parameter wav2vec2 for CPU tests (total conv stride 40)."""
    return Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        feat_extract_norm="layer", conv_bias=True, conv_dim=(32, 32, 32), conv_stride=(5, 4, 2),
        conv_kernel=(10, 8, 4), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        do_stable_layer_norm=True, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        feat_proj_dropout=0.0, layerdrop=0.0, mask_time_prob=0.05, mask_time_length=4,
        num_codevectors_per_group=16, num_codevector_groups=2, codevector_dim=32, proj_codevector_dim=32,
        num_negatives=10, diversity_loss_weight=0.1,
    )


ENCODER_CONFIGS = {"xlsr53": xlsr53_config, "tiny": tiny_config}


def statistics_pooling(frames: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(B, T, H) -> (B, 2H): mean and standard deviation over time."""
    mean = frames.mean(dim=1)
    std = torch.sqrt(frames.var(dim=1, unbiased=False) + eps)
    return torch.cat([mean, std], dim=1)


def wav2vec2_pretraining_loss(
    model: Wav2Vec2ForPreTraining, wave: torch.Tensor, *, mask_prob: float = 0.65, mask_length: int | None = None
) -> torch.Tensor:
    """Contrastive + diversity_loss_weight * diversity loss of wav2vec 2.0, averaged per masked
    frame (transformers sums it), on a fresh random time mask and fresh negatives."""
    cfg = model.config
    frames = int(model._get_feat_extract_output_lengths(torch.tensor(wave.shape[-1])))
    mask_length = mask_length or min(cfg.mask_time_length, max(1, frames // 4))
    mask = _compute_mask_indices((wave.shape[0], frames), mask_prob, mask_length, min_masks=2)
    negatives = _sample_negative_indices((wave.shape[0], frames), cfg.num_negatives, mask_time_indices=mask)
    out = model(
        wave,
        mask_time_indices=torch.as_tensor(mask, device=wave.device),
        sampled_negative_indices=torch.as_tensor(negatives, device=wave.device),
    )
    return out.loss / max(int(mask.sum()), 1)


class Wav2Vec2Wccn(SerModel):
    """forward(wave (B, T) at 16 kHz, labels (B,) while training) -> logits (B, num_classes)."""

    input_kind = "waveform"
    takes_labels = True

    def __init__(
        self,
        num_classes: int,
        *,
        encoder: str = "xlsr53",
        pretrained_path: str | Path | None = None,
        pretraining_heads: bool = False,
        pretraining_loss_weight: float = 0.1,
        freeze_feature_encoder: bool | None = None,
        fc_dim: int = 256,
        dropout: float = 0.3,
        wccn_alpha: float = 0.1,
        wccn_beta: float = 0.1,
        wccn_eps: float = 1e-4,
    ) -> None:
        super().__init__()
        self.pretraining_loss_weight = pretraining_loss_weight
        self.pretraining: Wav2Vec2ForPreTraining | None = None
        self.wav2vec2: Wav2Vec2Model | None = None
        if pretrained_path is not None:
            self._load_local(Path(pretrained_path), pretraining_heads)
        else:
            if encoder not in ENCODER_CONFIGS:
                raise SpecError(f"unknown wav2vec2 encoder config {encoder!r}; known: {sorted(ENCODER_CONFIGS)}")
            cfg = ENCODER_CONFIGS[encoder]()
            if pretraining_heads:
                self.pretraining = Wav2Vec2ForPreTraining(cfg)
            else:
                self.wav2vec2 = Wav2Vec2Model(cfg)
        if freeze_feature_encoder if freeze_feature_encoder is not None else pretrained_path is not None:
            self.encoder.feature_extractor._freeze_parameters()
        hidden = self.encoder.config.hidden_size
        self.fc = nn.Linear(2 * hidden, fc_dim)
        self.dropout = nn.Dropout(dropout)
        self.wccn = DeepWccn(fc_dim, num_classes, alpha=wccn_alpha, beta=wccn_beta, eps=wccn_eps)
        self.norm = nn.LayerNorm(fc_dim)
        self.classifier = nn.Linear(fc_dim, num_classes)

    def _load_local(self, path: Path, pretraining_heads: bool) -> None:
        if not path.exists():
            raise NotFound(f"wav2vec2 checkpoint not found at {path}")
        if pretraining_heads:
            model, info = Wav2Vec2ForPreTraining.from_pretrained(
                str(path), local_files_only=True, output_loading_info=True
            )
            lacking = [k for k in info.get("missing_keys", []) if not k.startswith("wav2vec2.")]
            if not lacking:
                self.pretraining = model
                return
            log.warning("checkpoint %s has no pretraining heads (%d keys missing); CE loss only", path, len(lacking))
            self.wav2vec2 = model.wav2vec2
            return
        self.wav2vec2 = Wav2Vec2Model.from_pretrained(str(path), local_files_only=True)

    @property
    def encoder(self) -> Wav2Vec2Model:
        return self.pretraining.wav2vec2 if self.pretraining is not None else self.wav2vec2

    @property
    def has_pretraining_heads(self) -> bool:
        return self.pretraining is not None

    def pooled(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.ndim != 2:
            raise ValueError(f"Wav2Vec2Wccn expects (B, T) waveforms, got {tuple(wave.shape)}")
        return statistics_pooling(self.encoder(normalise_waveform(wave)).last_hidden_state)

    def embed(self, wave: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """LayerNorm(Deep-WCCN(FC)) features, the classifier's input (B, fc_dim)."""
        h = self.dropout(F.relu(self.fc(self.pooled(wave))))
        return self.norm(self.wccn(h, labels))

    def forward(self, wave: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(self.embed(wave, labels))

    def auxiliary_loss(self, wave: torch.Tensor) -> torch.Tensor | None:
        """Weighted wav2vec2 pretraining loss, or None without pretraining heads or weight 0."""
        if self.pretraining is None or self.pretraining_loss_weight <= 0:
            return None
        return self.pretraining_loss_weight * wav2vec2_pretraining_loss(self.pretraining, normalise_waveform(wave))
