"""ONNX export of registry models: dynamic batch, side inputs, and agreement with torch within the tolerance."""
from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from shared.errors import ConfigMismatch, SpecError
from shared.features.image import ImageConfig
from shared.features.inputs import ModelInputConfig
from shared.models.base import forward_batch
from shared.models.registry import build_model
from shared.registry import ModelCard
from shared.registry.onnx_export import export_onnx, window_shape

LABELS = ("angry", "happy", "neutral", "sad")
IMAGE48 = ModelInputConfig(kind="image", image=ImageConfig(size=48, channels=1), window_s=1.0, stride_s=0.5)
PARRY = ModelInputConfig.from_dict({"kind": "logmel", "preset": "parry", "window_s": 1.0, "stride_s": 0.5})


def card_for(model, architecture: str, inputs: ModelInputConfig, **config) -> ModelCard:
    return ModelCard.describe(model, architecture=architecture, labels=LABELS, feature_config=inputs.to_dict(),
                              model_config=config, git_commit="test")


@pytest.mark.parametrize(("architecture", "config", "inputs", "shape"), [
    ("cct_tiny", {"in_chans": 1, "img_size": 48}, IMAGE48, (1, 48, 48)),
    ("parry_cnn_lstm", {}, PARRY, (40, 101)),
])
def test_export_matches_torch_at_another_batch_size(tmp_path, architecture, config, inputs, shape):
    torch.manual_seed(0)
    model = build_model(architecture, len(LABELS), **config).eval()
    card = card_for(model, architecture, inputs, **config)
    assert window_shape(card) == shape
    report = export_onnx(model, card, tmp_path / "m.onnx")
    assert report.validated and report.max_abs_diff <= report.tolerance == 1e-4
    assert report.inputs == {"x": ["batch", *shape]} and report.outputs["probs"] == ["batch", 4]
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["max_abs_diff"] == report.max_abs_diff and saved["opset"] == 17 and saved["labels"] == list(LABELS)

    x = np.random.default_rng(1).standard_normal((7, *shape)).astype(np.float32)  # batch 7: never seen at export
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    logits, probs = session.run(None, {"x": x})
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(logits, want, atol=1e-4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_speaker_model_gets_a_speaker_input(tmp_path):
    torch.manual_seed(0)
    config = {"base": "cct_2_3x2_32"}
    inputs = ModelInputConfig(kind="image", image=ImageConfig(size=32, channels=1), window_s=1.0, stride_s=0.5)
    model = build_model("speaker_cct_e2e", len(LABELS), **config).eval()
    report = export_onnx(model, card_for(model, "speaker_cct_e2e", inputs, **config), tmp_path / "s.onnx")
    assert report.inputs == {"x": ["batch", 1, 32, 32], "speaker": ["batch", model.speaker_dim]}
    assert report.validated and "speaker" in report.side_artifacts
    rng = np.random.default_rng(2)
    x, s = rng.standard_normal((3, 1, 32, 32)).astype(np.float32), rng.standard_normal((3, 128)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    [logits, _] = session.run(None, {"x": x, "speaker": s})
    with torch.inference_mode():
        want = forward_batch(model, torch.from_numpy(x), speaker=torch.from_numpy(s)).numpy()
    np.testing.assert_allclose(logits, want, atol=1e-4)
    s2 = s.copy()
    s2[0] *= -1
    assert not np.allclose(session.run(None, {"x": x, "speaker": s2})[0][0], logits[0]), "the speaker input is used"


def test_a_tolerance_below_the_real_difference_fails_and_says_so(tmp_path):
    torch.manual_seed(0)
    model = build_model("cct_tiny", len(LABELS), in_chans=1, img_size=48).eval()
    card = card_for(model, "cct_tiny", IMAGE48, in_chans=1, img_size=48)
    diff = export_onnx(model, card, tmp_path / "probe.onnx").max_abs_diff
    if diff == 0:
        pytest.skip("ONNX Runtime reproduced torch bit for bit")
    with pytest.raises(ConfigMismatch, match="differs from torch"):
        export_onnx(model, card, tmp_path / "m.onnx", tolerance=diff / 2)
    assert json.loads((tmp_path / "m.json").read_text())["validated"] is False
    for bad in ({"opset": 11}, {"tolerance": -1.0}):
        with pytest.raises(SpecError):
            export_onnx(model, card, tmp_path / "bad.onnx", **bad)


def test_utterance_model_exports_with_its_pool_statistics(tmp_path):
    import numpy as np

    from shared.features.inputs import ModelInputConfig
    from shared.models.registry import build_model
    from shared.registry.card import ModelCard
    from shared.registry.onnx_export import export_onnx

    model = build_model("utterance_mlp", 4)
    model.fit_normalizer(np.random.default_rng(0).normal(3.0, 2.0, size=(50, 265)))
    card = ModelCard.describe(model, architecture="utterance_mlp", labels=("angry", "happy", "sad", "neutral"),
                              feature_config=ModelInputConfig(kind="functionals").to_dict())
    report = export_onnx(model, card, tmp_path / "utt.onnx")
    assert report.validated and report.inputs == {"x": ["batch", 265], "speaker": ["batch", 64]}
