"""forward_batch feeds every model what it declares and refuses what is missing."""
from __future__ import annotations

import pytest
import torch

from shared.errors import InvalidInput
from shared.models.base import forward_batch
from shared.models.speaker_cct import build_speaker_cct
from shared.models.vacnn import VacnnBovw
from shared.models.wav2vec_wccn import Wav2Vec2Wccn


def test_missing_side_inputs_are_refused() -> None:
    spk = build_speaker_cct(3, "e2e", base="cct_tiny", img_size=64)
    with pytest.raises(InvalidInput, match="speaker"):
        forward_batch(spk, torch.randn(1, 1, 64, 64))
    with pytest.raises(InvalidInput, match="BOVW"):
        forward_batch(VacnnBovw(3, img_size=64), torch.randn(1, 1, 64, 64))


def test_labels_reach_models_that_take_them() -> None:
    model = Wav2Vec2Wccn(3, encoder="tiny", fc_dim=8).train()
    wave = torch.randn(6, 4000)
    forward_batch(model, wave, speaker=torch.randn(6, 4))  # unused side inputs are ignored
    assert torch.equal(model.wccn.B, torch.eye(8))  # no labels: statistics untouched
    forward_batch(model, wave, labels=torch.tensor([0, 1, 2, 0, 1, 2]))
    assert not torch.equal(model.wccn.B, torch.eye(8))


def test_example_inputs_shapes() -> None:
    spk = build_speaker_cct(3, "late", base="cct_tiny", img_size=64, speaker_dim=24)
    inputs = spk.example_inputs(2)
    assert inputs["x"].shape == (2, 1, 64, 64) and inputs["speaker"].shape == (2, 24)
    assert Wav2Vec2Wccn(3, encoder="tiny").example_inputs(1, seconds=0.5)["x"].shape == (1, 8000)
