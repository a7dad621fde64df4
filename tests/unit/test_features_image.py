"""Log-mel -> image: shape, determinism, orientation, scaling, uint8 for KAZE."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.errors import InvalidInput, SpecError
from shared.features.image import IMAGENET_MEAN, IMAGENET_STD, ImageConfig, images_from_batch, to_image, to_image_uint8


def _logmel(frames: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(-40, 10, size=(128, frames)).astype(np.float32)
    x[:10] += 30  # loud low bands
    return x


def test_shape_and_range():
    img = to_image(_logmel())
    assert img.shape == (3, 224, 224) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() <= 1 and img.max() > 0.5
    assert np.array_equal(img[0], img[2])
    assert to_image(_logmel(), ImageConfig(channels=1)).shape == (1, 224, 224)


def test_fixed_scaling_maps_hand_computed_values():
    """-20 dB on the fixed -80..40 dB scale is (−20 + 80) / 120 = 0.5; values outside clip to 0 and 1."""
    fixed = ImageConfig(channels=1, scaling="fixed", size=32)
    assert np.allclose(to_image(np.full((64, 100), -20.0, np.float32), fixed), 0.5, atol=1e-6)
    assert np.allclose(to_image(np.full((64, 100), -200.0, np.float32), fixed), 0.0)
    assert np.allclose(to_image(np.full((64, 100), 99.0, np.float32), fixed), 1.0)
    ramp = np.tile(np.linspace(-80.0, 40.0, 300, dtype=np.float32), (64, 1))
    row = to_image(ramp, fixed)[0, 10]
    assert np.all(np.diff(row) > 0) and row[0] < 0.05 and row[-1] > 0.95


def test_a_clip_gets_the_same_image_alone_or_in_a_batch():
    """Cached images must not depend on which clips shared the batch (minmax is per clip)."""
    a, b = _logmel(300, seed=1), _logmel(300, seed=2) + 25.0
    batch = images_from_batch(torch.as_tensor(np.stack([a, b])), ImageConfig()).numpy()
    assert np.allclose(batch[0], to_image(a), atol=1e-6) and np.allclose(batch[1], to_image(b), atol=1e-6)


def test_low_frequencies_at_the_bottom():
    img = to_image(_logmel(), ImageConfig(channels=1))[0]
    assert img[-20:].mean() > img[:20].mean() + 0.2
    flipped = to_image(_logmel(), ImageConfig(channels=1, low_freq_bottom=False))[0]
    assert flipped[:20].mean() > flipped[-20:].mean() + 0.2


def test_imagenet_normalisation():
    plain = to_image(_logmel())
    norm = to_image(_logmel(), ImageConfig(imagenet_norm=True))
    for c in range(3):
        np.testing.assert_allclose(norm[c], (plain[c] - IMAGENET_MEAN[c]) / IMAGENET_STD[c], atol=1e-5)
    with pytest.raises(SpecError):
        ImageConfig(channels=1, imagenet_norm=True)


def test_constant_input_is_zero_and_fixed_scaling_clips():
    assert not to_image(np.full((128, 50), -20.0)).any()
    fixed = ImageConfig(channels=1, scaling="fixed", db_min=-80, db_max=40)
    img = to_image(np.full((128, 50), 100.0), fixed)
    assert np.allclose(img, 1.0)
    img = to_image(np.full((128, 50), -20.0), fixed)
    assert np.allclose(img, 0.5)


def test_uint8_for_kaze():
    u = to_image_uint8(_logmel())
    assert u.shape == (224, 224) and u.dtype == np.uint8 and u.max() > 128


def test_batch_and_config_hash():
    batch = torch.from_numpy(np.stack([_logmel(seed=1), _logmel(seed=2)]))
    out = images_from_batch(batch)
    assert out.shape == (2, 3, 224, 224)
    np.testing.assert_allclose(out[1].numpy(), to_image(_logmel(seed=2)), atol=1e-6)
    assert ImageConfig().hash() != ImageConfig(channels=1).hash()
    assert ImageConfig.from_dict(ImageConfig().to_dict()) == ImageConfig()


def test_rejects_bad_input():
    with pytest.raises(InvalidInput):
        to_image(np.zeros(10))
    with pytest.raises(InvalidInput):
        to_image(np.full((4, 4), np.nan))
