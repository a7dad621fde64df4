"""Channel split, mixdown and call roles."""
from __future__ import annotations

import numpy as np
import pytest

from shared.audio.channels import MIXED_ROLE, channel_role, mixdown, roles_for, split_channels
from shared.audio.types import Audio


def stereo() -> Audio:
    x = np.stack([np.linspace(-1, 1, 100), np.full(100, 0.5)]).astype(np.float32)
    return Audio(samples=x, sample_rate=8000, source_format="wav/pcm_16")


def test_split_channels_keeps_each_channel_separate():
    a = stereo()
    left, right = split_channels(a)
    assert left.shape == right.shape == (100,)
    np.testing.assert_array_equal(left, a.samples[0])
    np.testing.assert_array_equal(right, np.full(100, 0.5, dtype=np.float32))


def test_mixdown_is_the_mean_and_keeps_rate_and_format():
    m = mixdown(stereo())
    assert m.samples.shape == (1, 100) and m.sample_rate == 8000 and m.source_format == "wav/pcm_16"
    np.testing.assert_allclose(m.samples[0], (np.linspace(-1, 1, 100) + 0.5) / 2, atol=1e-7)
    mono = Audio(samples=np.ones((1, 10), np.float32), sample_rate=16000)
    assert mixdown(mono) is mono


def test_channel_roles_default_and_configured():
    assert channel_role(0) == "agent" and channel_role(1) == "customer"
    assert channel_role(0, ("customer", "agent")) == "customer"
    assert channel_role(2) == "channel2"
    with pytest.raises(ValueError):
        channel_role(-1)
    assert roles_for(2) == ("agent", "customer")
    assert roles_for(1) == (MIXED_ROLE,)
    assert roles_for(3, ("a", "b")) == ("a", "b", "channel2")
