"""CCT: tokenizer arithmetic, the paper's size, positional options, and that it learns."""
from __future__ import annotations

import pytest
import torch

from shared.errors import SpecError
from shared.models.cct import CCT_CONFIGS, Cct, build_cct, cct_config, token_grid
from shared.models.registry import count_macs, count_parameters
from shared.models.sanity import accuracy, separable_batch, train_steps


def test_token_grids_follow_conv_and_pool_arithmetic() -> None:
    assert token_grid(CCT_CONFIGS["cct_14_7x2"]) == (14, 14)  # 224 -s2-> 112 -pool-> 56 -s2-> 28 -pool-> 14
    assert token_grid(CCT_CONFIGS["cct_2_3x2_32"]) == (8, 8)
    assert token_grid(CCT_CONFIGS["cct_tiny"]) == (14, 14)
    assert token_grid(cct_config("cct_tiny", img_size=(128, 256))) == (8, 16)


def test_cct_14_7x2_has_the_papers_size() -> None:
    with torch.device("meta"):
        model = build_cct(4, "cct_14_7x2")
    n = count_parameters(model)
    print(f"cct_14_7x2 parameters: {n:,}")
    assert 20_000_000 <= n <= 24_000_000
    assert len(model.classifier.blocks) == 14
    assert model.classifier.positional_emb.shape == (1, 196, 384)


@pytest.mark.slow
def test_cct_14_7x2_macs_near_papers_5_gmacs() -> None:
    model = build_cct(4, "cct_14_7x2")
    macs = count_macs(model, model.example_inputs(1))
    print(f"cct_14_7x2 MACs: {macs / 1e9:.2f} G")
    assert 4.5e9 < macs < 5.6e9


def test_in_chans_3_and_embed_shape() -> None:
    model = build_cct(3, "cct_tiny", img_size=64, in_chans=3).eval()
    x = torch.randn(2, 3, 64, 64)
    assert model.embed(x).shape == (2, 128)
    assert model(x).shape == (2, 3)
    with pytest.raises(ValueError, match="expects"):
        model(torch.randn(2, 1, 64, 64))


def test_sine_positions_are_fixed_and_none_has_none() -> None:
    sine = build_cct(2, "cct_tiny", img_size=64, positional="sine")
    assert not sine.classifier.positional_emb.requires_grad
    assert torch.allclose(sine.classifier.positional_emb[0, 0, :4], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert build_cct(2, "cct_tiny", img_size=64, positional="none").classifier.positional_emb is None


def test_invalid_configs_are_refused() -> None:
    with pytest.raises(SpecError):
        build_cct(2, "cct_tiny", in_chans=2)
    with pytest.raises(SpecError):
        build_cct(2, "cct_tiny", num_heads=3)
    with pytest.raises(SpecError):
        build_cct(2, "no_such_preset")


def test_sequence_pooling_weights_sum_to_one() -> None:
    model = build_cct(2, "cct_tiny", img_size=64).eval()
    seq = torch.randn(3, 16, 128)
    weights = torch.softmax(model.classifier.attention_pool(seq), dim=1)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3, 1))
    expected = (weights * seq).sum(dim=1)
    assert torch.allclose(model.classifier.pool(seq), expected, atol=1e-6)


def test_compact_cct_learns_band_task() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model: Cct = build_cct(3, "cct_tiny", img_size=48)
    losses = train_steps(model, lambda _: separable_batch(model, 16, 3, g), steps=30, lr=3e-3)
    acc = accuracy(model, separable_batch(model, 96, 3, g))
    print(f"cct_tiny@48: loss {losses[0]:.3f} -> {losses[-1]:.3f}, accuracy {acc:.3f}")
    assert acc >= 0.9
