"""load_pretrained: formats, prefixes, skipped keys, positional-embedding resizing, strictness."""
from __future__ import annotations

import pickle

import pytest
import torch
from safetensors.torch import save_file

from shared.errors import ConfigMismatch, InvalidInput, NotFound
from shared.models.cct import build_cct
from shared.models.pretrained import load_pretrained, read_state_dict, resize_pos_embed
from shared.models.speaker_cct import build_speaker_cct
from shared.models.vacnn import Vacnn, VacnnBovw


def _save(sd: dict[str, torch.Tensor], path) -> None:
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))


def test_positional_embedding_is_resized_over_the_token_grid(tmp_path) -> None:
    small = build_cct(3, "cct_tiny", img_size=64)  # 4x4 tokens
    ramp = torch.linspace(0, 1, 4)[None, :, None, None].expand(1, 4, 4, 128).reshape(1, 16, 128)
    with torch.no_grad():
        small.classifier.positional_emb.copy_(ramp)
    _save(small.state_dict(), tmp_path / "cct64.safetensors")

    big = build_cct(3, "cct_tiny", img_size=128)  # 8x8 tokens
    report = load_pretrained(big, tmp_path / "cct64.safetensors")
    assert report.resized == ("classifier.positional_emb",)
    assert report.skipped == () and report.missing == ()
    pos = big.classifier.positional_emb.detach().reshape(8, 8, 128)[:, :, 0]
    assert torch.all(pos[1:] >= pos[:-1] - 1e-6)  # the row ramp survives interpolation
    assert torch.allclose(pos[:, 0], pos[:, 7])  # constant along columns
    assert torch.equal(big.classifier.blocks[1].linear1.weight, small.classifier.blocks[1].linear1.weight)


def test_resize_keeps_leading_class_token() -> None:
    src = torch.randn(1, 1 + 9, 4)
    out = resize_pos_embed(src, (6, 6), n_extra=1)
    assert out.shape == (1, 37, 4)
    assert torch.equal(out[:, 0], src[:, 0])
    assert resize_pos_embed(torch.randn(1, 10, 4), (6, 6)) is None  # 10 tokens is no square


def test_sub_model_checkpoints_find_their_prefix(tmp_path) -> None:
    cct = build_cct(3, "cct_tiny", img_size=64)
    _save(cct.state_dict(), tmp_path / "cct.safetensors")
    spk = build_speaker_cct(5, "e2e", base="cct_tiny", img_size=64)
    report = load_pretrained(spk, tmp_path / "cct.safetensors")
    assert report.prefix == "cct."
    assert dict(report.skipped).keys() == {"classifier.fc.weight", "classifier.fc.bias"}  # 3 vs 5 classes
    assert set(report.missing) == {"cct.classifier.fc.weight", "cct.classifier.fc.bias",
                                   "speaker_proj.weight", "speaker_proj.bias"}
    assert torch.equal(spk.cct.tokenizer.conv_layers[1][0].weight, cct.tokenizer.conv_layers[1][0].weight)

    vacnn = Vacnn(7)
    torch.save({"state_dict": {f"module.{k}": v for k, v in vacnn.state_dict().items()}}, tmp_path / "vacnn.pt")
    fused = VacnnBovw(4, img_size=64)
    report = load_pretrained(fused, tmp_path / "vacnn.pt")
    assert report.prefix == "module.->backbone."
    assert torch.equal(fused.backbone.va3.convs[1][0].weight, vacnn.va3.convs[1][0].weight)


def test_input_channels_are_adapted(tmp_path) -> None:
    rgb = build_cct(3, "cct_tiny", img_size=64, in_chans=3)
    _save(rgb.state_dict(), tmp_path / "rgb.safetensors")
    grey = build_cct(3, "cct_tiny", img_size=64, in_chans=1)
    report = load_pretrained(grey, tmp_path / "rgb.safetensors")
    assert report.adapted == ("tokenizer.conv_layers.0.0.weight",)
    w = rgb.tokenizer.conv_layers[0][0].weight
    assert torch.allclose(grey.tokenizer.conv_layers[0][0].weight, w.sum(dim=1, keepdim=True))


def test_strict_refuses_partial_loads_and_leaves_the_model_alone(tmp_path) -> None:
    _save(build_cct(3, "cct_tiny", img_size=64).state_dict(), tmp_path / "a.safetensors")
    target = build_cct(5, "cct_tiny", img_size=64)
    before = target.tokenizer.conv_layers[0][0].weight.clone()
    with pytest.raises(ConfigMismatch, match="fc"):
        load_pretrained(target, tmp_path / "a.safetensors", strict=True)
    assert torch.equal(target.tokenizer.conv_layers[0][0].weight, before)
    same = build_cct(3, "cct_tiny", img_size=64)
    assert load_pretrained(same, tmp_path / "a.safetensors", strict=True).missing == ()


def test_missing_files_and_pickles_are_refused(tmp_path) -> None:
    with pytest.raises(NotFound):
        read_state_dict(tmp_path / "none.safetensors")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"state_dict": Evil()}, protocol=2))
    with pytest.raises(InvalidInput):
        read_state_dict(tmp_path / "evil.pt")
