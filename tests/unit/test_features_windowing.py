"""Fixed-length windowing policy: pad short clips with zeros, cut long ones with an end-aligned tail."""
from __future__ import annotations

import numpy as np
import pytest

from shared.errors import EmptyAudio, InvalidInput
from shared.features.windowing import WindowPolicy, pool_by_source, window_many


def test_short_clip_is_zero_padded_at_the_end_not_stretched():
    clip = np.arange(1, 4, dtype=np.float32)
    w = window_many([clip], WindowPolicy(length=5, stride=2))
    assert w.data.tolist() == [[1, 2, 3, 0, 0]]
    assert (w.source.tolist(), w.start.tolist(), w.valid.tolist()) == ([0], [0], [3])


def test_long_clip_gets_strided_windows_and_an_end_aligned_tail():
    clip = np.arange(11)
    policy = WindowPolicy(length=4, stride=3)
    assert policy.starts(11) == [0, 3, 6, 7]
    w = window_many([clip], policy)
    assert w.data[-1].tolist() == [7, 8, 9, 10]
    assert (w.valid == 4).all()
    covered = np.zeros(11, bool)
    for s in w.start:
        covered[s : s + 4] = True
    assert covered.all()


def test_exact_fit_adds_no_extra_window():
    assert WindowPolicy(length=4, stride=2).starts(8) == [0, 2, 4]
    assert WindowPolicy(length=4, stride=2).starts(4) == [0]


def test_windows_log_mels_along_frames_and_maps_back_to_sources():
    mels = [np.ones((3, 10)), 2 * np.ones((3, 4))]
    w = window_many(mels, WindowPolicy(length=6, stride=4))
    assert w.data.shape == (3, 3, 6)
    assert w.source.tolist() == [0, 0, 1]
    assert w.valid.tolist() == [6, 6, 4]
    per_window = w.data.reshape(len(w), -1).max(axis=1)
    pooled = pool_by_source(per_window, w.source, 2)
    assert pooled.tolist() == [1.0, 2.0]
    weighted = pool_by_source(np.array([0.0, 1.0, 5.0]), w.source, 2, weights=w.valid)
    assert weighted.tolist() == pytest.approx([0.5, 5.0])


def test_invalid_policies_and_inputs():
    with pytest.raises(InvalidInput):
        WindowPolicy(length=4, stride=5)
    with pytest.raises(InvalidInput):
        WindowPolicy(length=0, stride=1)
    with pytest.raises(EmptyAudio):
        window_many([np.zeros(0)], WindowPolicy(4, 2))
    with pytest.raises(InvalidInput, match="without any window"):
        pool_by_source(np.ones(2), np.array([0, 0]), 2)
