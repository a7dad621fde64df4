"""Offline augmentation of every training clip: seeded copies, same labels, telephone band-limit."""
from __future__ import annotations

import numpy as np

from shared.corpora.items import CorpusItem, Manifest
from shared.experiments.features import augmented_copies
from shared.features.augment import AugmentConfig


def _manifest(n: int) -> Manifest:
    return Manifest(tuple(CorpusItem(path=f"/x/{i}.wav", corpus="c", language="en", speaker=f"s{i % 2}", gender=None,
                                     label_original="a", label="angry") for i in range(n)))


def _band_energy(x: np.ndarray, lo: float, hi: float, sr: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


def test_copies_are_seeded_labelled_and_telephone_band_limited():
    rng = np.random.default_rng(0)
    clips = [rng.standard_normal(16000).astype(np.float32) * 0.1 for _ in range(3)]
    config = AugmentConfig(p=0.0, telephone_p=1.0)
    manifest, out = augmented_copies(_manifest(3), clips, 1, seed=7, augment=config)
    assert len(manifest) == len(out) == 6 and [i.label for i in manifest] == ["angry"] * 6
    assert out[0] is clips[0]
    # a copy is its own group (another call channel): its statistics never mix with the clean clips'
    assert [i.speaker for i in manifest] == ["s0", "s1", "s0", "s0+aug1", "s1+aug1", "s0+aug1"]
    original, phone = out[0], out[3]
    assert _band_energy(phone, 4500, 8000) < 0.01 * _band_energy(original, 4500, 8000)
    _, again = augmented_copies(_manifest(3), clips, 1, seed=7, augment=config)
    np.testing.assert_array_equal(again[3], phone)


def test_zero_copies_is_identity():
    clips = [np.zeros(100, np.float32)]
    manifest = _manifest(1)
    assert augmented_copies(manifest, clips, 0, seed=0, augment=AugmentConfig()) == (manifest, clips)
