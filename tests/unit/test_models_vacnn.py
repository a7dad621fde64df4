"""VACNN: the paper's shapes, parallel vs CBAM attention, freezing, and BOVW context attention."""
from __future__ import annotations

import pytest
import torch

from shared.models.sanity import accuracy, separable_batch, train_steps
from shared.models.vacnn import Vacnn, VacnnBovw, VisualAttention


def test_stage_shapes_at_224() -> None:
    model = Vacnn(num_classes=7).eval()
    x = torch.randn(2, 1, 224, 224)
    with torch.no_grad():
        stem = model.stem(x)
        v1 = model.va1(stem)
        v2 = model.va2(v1)
        v3 = model.va3(v2)
        logits = model(x)
    assert stem.shape == (2, 32, 56, 56)
    assert v1.shape == (2, 32, 56, 56)
    assert v2.shape == (2, 96, 28, 28)
    assert v3.shape == (2, 288, 14, 14)
    assert model.embed(x).shape == (2, 256)
    assert logits.shape == (2, 7)
    groups = {m.num_groups for m in model.modules() if isinstance(m, torch.nn.GroupNorm)}
    assert groups == {8}


def test_attention_is_summed_in_vacnn_and_sequential_in_cbam() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 32, 9, 9)
    att = VisualAttention(32, cbam=False)
    mc, ms = att.channel(x), att.spatial(x)
    assert mc.shape == (2, 32, 1, 1) and ms.shape == (2, 1, 9, 9)
    assert torch.allclose(att(x), x * mc + x * ms, atol=1e-6)
    assert att.spatial.conv.bias is None and att.spatial.conv.kernel_size == (7, 7)
    assert att.channel.mlp[0].out_features == 8  # reduction 4
    att.cbam = True
    y = x * att.channel(x)
    assert torch.allclose(att(x), y * att.spatial(y), atol=1e-6)


def test_freeze_until_first_va_block() -> None:
    model = VacnnBovw(num_classes=4, img_size=64)
    frozen = model.freeze_until_first_va_block()
    assert frozen and all(n.startswith(("backbone.stem.", "backbone.va1.")) for n in frozen)
    for name, p in model.named_parameters():
        assert p.requires_grad == (not name.startswith(("backbone.stem.", "backbone.va1."))), name
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(0)
    train_steps(model, lambda _: separable_batch(model, 4, 4, g), steps=2)
    after = dict(model.named_parameters())
    assert torch.equal(before["backbone.va1.convs.0.0.weight"], after["backbone.va1.convs.0.0.weight"])
    assert not torch.equal(before["backbone.va2.convs.0.0.weight"], after["backbone.va2.convs.0.0.weight"])


def test_bovw_context_attention_shapes_at_224() -> None:
    model = VacnnBovw(num_classes=7, vocabulary_size=128).eval()
    assert model.positions == 49
    x, hist = torch.randn(2, 1, 224, 224), torch.rand(2, 128)
    with torch.no_grad():
        fused, weights = model.attend(x, hist)
        logits = model(x, hist)
    assert fused.shape == (2, 49, 288)
    assert weights.shape == (2, 49)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2))
    assert (fused >= 0).all()  # ReLU after tanh(O av_t) + h_s
    assert logits.shape == (2, 7)
    with pytest.raises(ValueError, match="histogram"):
        model(x, torch.rand(2, 64))


def test_vacnn_learns_band_task() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = Vacnn(num_classes=3, img_size=64)
    train_steps(model, lambda _: separable_batch(model, 8, 3, g), steps=20)
    acc = accuracy(model, separable_batch(model, 64, 3, g))
    print(f"vacnn@64 accuracy {acc:.3f}")
    assert acc >= 0.9


@pytest.mark.parametrize("cbam", [False, True])
def test_bovw_fusion_learns_from_the_histogram_alone(cbam: bool) -> None:
    """Images are pure noise; only the BOVW histogram carries the class."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = VacnnBovw(num_classes=3, img_size=64, vocabulary_size=16, cbam=cbam)
    model.freeze_until_first_va_block()

    def batch(_: int = 0, n: int = 8):
        inputs, y = separable_batch(model, n, 3, g)
        inputs["x"] = torch.randn_like(inputs["x"])
        return inputs, y

    train_steps(model, batch, steps=15)
    acc = accuracy(model, batch(n=64))
    print(f"vacnn_bovw cbam={cbam} accuracy {acc:.3f}")
    assert acc >= 0.9
