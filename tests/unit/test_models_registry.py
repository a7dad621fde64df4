"""Every registered architecture builds, runs and reports its size; names are checked."""
from __future__ import annotations

import pytest
import torch

from shared.errors import NotFound, SpecError
from shared.models.base import forward_batch
from shared.models.registry import ARCHITECTURES, architectures, build_model, count_macs, count_parameters, get_spec

# Overrides that keep each family's architecture but make a CPU forward pass take milliseconds.
QUICK = {
    "cct_14_7x2": {"img_size": 32},
    "speaker_cct_late": {"img_size": 32},
    "speaker_cct_e2e": {"img_size": 32},
    "speaker_cct_e2e_spk": {"img_size": 32},
    "cct_tiny": {"img_size": 64},
    "speaker_cct_late_tiny": {"img_size": 64},
    "speaker_cct_e2e_tiny": {"img_size": 64},
    "speaker_cct_e2e_spk_tiny": {"img_size": 64},
    "vacnn_bovw": {"img_size": 64},
    "vacnn_cbam_bovw": {"img_size": 64},
    "wav2vec2_wccn": {"encoder": "tiny"},
}


@pytest.mark.parametrize("name", sorted(architectures()))
def test_every_architecture_builds_and_runs(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 5, **QUICK.get(name, {}))
    if name in ("resnet50", "vacnn", "vacnn_cbam"):
        model.img_hw = (64, 64)  # fully convolutional up to global pooling: any size runs
    spec = get_spec(name)
    assert (model.input_kind, model.uses_speaker, model.uses_bovw, model.takes_labels) == (
        spec.input_kind, spec.uses_speaker, spec.uses_bovw, spec.takes_labels
    )
    inputs = model.example_inputs(2, seconds=0.25)
    model.eval()
    with torch.no_grad():
        logits = forward_batch(model, inputs["x"], speaker=inputs.get("speaker"), bovw=inputs.get("bovw"))
        feats = forward_batch(model, inputs["x"], speaker=inputs.get("speaker"), bovw=inputs.get("bovw"), embed=True)
    assert logits.shape == (2, 5)
    assert torch.isfinite(logits).all()
    assert feats.ndim == 2 and feats.shape[0] == 2


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(NotFound, match="cct_tiny"):
        build_model("cct_15_7x2", 4)


def test_bad_override_is_a_spec_error() -> None:
    with pytest.raises(SpecError):
        build_model("parry_cnn", 4, no_such_width=3)
    with pytest.raises(SpecError):
        build_model("cct_tiny", 4, depth_typo=3)
    with pytest.raises(SpecError):
        build_model("cct_tiny", 1)


def test_table_is_read_only_and_fresh() -> None:
    with pytest.raises(TypeError):
        ARCHITECTURES["x"] = ARCHITECTURES["cct_tiny"]  # type: ignore[index]
    fresh = architectures()
    fresh.pop("cct_tiny")
    assert "cct_tiny" in architectures() and "cct_tiny" in ARCHITECTURES
    papers = {"cct_14_7x2", "resnet50", "speaker_cct_late", "speaker_cct_e2e", "speaker_cct_e2e_spk", "vacnn",
              "vacnn_cbam", "vacnn_bovw", "parry_lstm", "parry_cnn", "parry_cnn_lstm", "wav2vec2_wccn"}
    assert papers <= set(ARCHITECTURES)


def test_count_parameters_trainable_only() -> None:
    model = build_model("vacnn", 4)
    total = count_parameters(model)
    model.freeze_until_first_va_block()
    frozen = sum(p.numel() for n, p in model.named_parameters() if n.startswith(("stem.", "va1.")))
    assert frozen > 0
    assert count_parameters(model, trainable_only=True) == total - frozen


def test_count_macs_matches_hand_count_for_an_lstm() -> None:
    model = build_model("parry_lstm", 3, hidden=16, layers=2)
    inputs = model.example_inputs(2, frames=120)
    # per frame and sample: layer 1 4*16*(40+16), layer 2 4*16*(16+16); then the FC 16*3 per sample
    expected = 2 * 120 * (4 * 16 * 56 + 4 * 16 * 32) + 2 * 16 * 3
    assert count_macs(model, inputs) == expected


def test_count_macs_conv_tokenizer() -> None:
    model = build_model("cct_2_3x2_32", 3)
    macs = count_macs(model, model.example_inputs(1))
    conv1 = 32 * 32 * 64 * 9  # 3x3, stride 1, 1 -> 64 channels at 32x32
    conv2 = 16 * 16 * 128 * 64 * 9
    assert conv1 + conv2 < macs < 2 * (conv1 + conv2)
