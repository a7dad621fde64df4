"""wav2vec2 + Deep-WCCN: input preparation, local loading only, pretraining loss, learning."""
from __future__ import annotations

import pytest
import torch
from transformers import Wav2Vec2ForPreTraining, Wav2Vec2Model

from shared.errors import NotFound, SpecError
from shared.models.registry import count_parameters
from shared.models.sanity import accuracy, separable_batch, train_steps
from shared.models.wav2vec_wccn import (
    Wav2Vec2Wccn,
    crop_or_pad,
    normalise_waveform,
    prepare_waveform,
    statistics_pooling,
    tiny_config,
)


def test_crop_or_pad_and_normalise() -> None:
    wave = torch.arange(10.0)
    assert torch.equal(crop_or_pad(wave, 4), torch.tensor([3.0, 4.0, 5.0, 6.0]))  # centre crop
    assert torch.equal(crop_or_pad(wave, 12)[10:], torch.zeros(2))
    g = torch.Generator().manual_seed(0)
    random = crop_or_pad(wave, 4, random_crop=True, generator=g)
    assert torch.equal(random, torch.arange(random[0], random[0] + 4))
    x = 3.0 + 5.0 * torch.randn(2, 16000)
    n = normalise_waveform(x)
    assert torch.allclose(n.mean(dim=1), torch.zeros(2), atol=1e-5)
    assert torch.allclose(n.std(dim=1, unbiased=False), torch.ones(2), atol=1e-4)
    assert prepare_waveform(torch.randn(3, 50000)).shape == (3, 32000)  # 2 s at 16 kHz


def test_statistics_pooling() -> None:
    frames = torch.tensor([[[1.0, 0.0], [3.0, 0.0]]])
    pooled = statistics_pooling(frames, eps=0.0)
    assert torch.allclose(pooled, torch.tensor([[2.0, 0.0, 1.0, 0.0]]))


def test_xlsr53_shape_from_config_without_download() -> None:
    with torch.device("meta"):
        model = Wav2Vec2Wccn(4, encoder="xlsr53")
    cfg = model.encoder.config
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (1024, 24, 16)
    n = count_parameters(model)
    print(f"wav2vec2_wccn (XLSR-53 shape): {n:,} parameters")
    assert 310_000_000 < n < 320_000_000
    assert not model.has_pretraining_heads
    with pytest.raises(SpecError):
        Wav2Vec2Wccn(4, encoder="base-960h")


def test_head_order_and_no_wccn_parameters() -> None:
    model = Wav2Vec2Wccn(3, encoder="tiny", fc_dim=16)
    assert list(model.wccn.parameters()) == []
    assert model.fc.in_features == 2 * 32 and model.norm.normalized_shape == (16,)
    assert model.auxiliary_loss(torch.randn(2, 4000)) is None


def test_learns_sine_frequencies() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = Wav2Vec2Wccn(3, encoder="tiny", fc_dim=32, dropout=0.1)
    losses = train_steps(model, lambda _: separable_batch(model, 16, 3, g, seconds=0.25), steps=30, lr=3e-3)
    assert not torch.allclose(model.wccn.B, torch.eye(32))  # Deep-WCCN updated from the labels
    acc = accuracy(model, separable_batch(model, 96, 3, g, seconds=0.25))
    print(f"wav2vec2_wccn_tiny: loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {acc:.3f}")
    assert acc >= 0.9


def test_pretraining_loss_is_finite_and_trains_the_encoder() -> None:
    torch.manual_seed(0)
    model = Wav2Vec2Wccn(3, encoder="tiny", pretraining_heads=True, pretraining_loss_weight=0.5)
    assert model.has_pretraining_heads
    wave = torch.randn(4, 8000)
    loss = model.auxiliary_loss(wave)
    assert loss is not None and torch.isfinite(loss) and float(loss.detach()) > 0
    loss.backward()
    grad = model.encoder.encoder.layers[0].attention.q_proj.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    assert model(wave).shape == (4, 3)


def test_loads_only_from_a_local_path(tmp_path) -> None:
    torch.manual_seed(0)
    Wav2Vec2Model(tiny_config()).save_pretrained(tmp_path / "plain")
    heads = Wav2Vec2ForPreTraining(tiny_config())
    heads.save_pretrained(tmp_path / "heads")

    model = Wav2Vec2Wccn(3, pretrained_path=tmp_path / "plain")
    reference = Wav2Vec2Model.from_pretrained(str(tmp_path / "plain"), local_files_only=True)
    w = "encoder.layers.0.attention.k_proj.weight"
    assert torch.equal(model.encoder.state_dict()[w], reference.state_dict()[w])
    assert not any(p.requires_grad for p in model.encoder.feature_extractor.parameters())  # frozen CNN

    fallback = Wav2Vec2Wccn(3, pretrained_path=tmp_path / "plain", pretraining_heads=True)
    assert not fallback.has_pretraining_heads and fallback.auxiliary_loss(torch.randn(2, 4000)) is None

    with_heads = Wav2Vec2Wccn(3, pretrained_path=tmp_path / "heads", pretraining_heads=True)
    assert with_heads.has_pretraining_heads
    assert torch.equal(with_heads.pretraining.quantizer.codevectors, heads.quantizer.codevectors)

    with pytest.raises(NotFound):
        Wav2Vec2Wccn(3, pretrained_path=tmp_path / "missing")
