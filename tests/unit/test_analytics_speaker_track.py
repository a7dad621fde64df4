import numpy as np
import pytest

from shared.analytics.speaker_track import SpeakerTrack
from shared.errors import InvalidInput


def test_duration_weighted_running_mean_is_renormalised():
    track = SpeakerTrack()
    assert np.allclose(track.add(np.array([1.0, 0.0]), 1000), [1.0, 0.0])
    now = track.add(np.array([0.0, 1.0]), 3000)
    assert now == pytest.approx(np.array([1.0, 3.0]) / np.sqrt(10.0), abs=1e-6)
    assert track.speech_ms == 4000


def test_refuses_nonsense():
    track = SpeakerTrack()
    with pytest.raises(InvalidInput):
        track.current()
    with pytest.raises(InvalidInput):
        track.add(np.ones(3), 0)
    track.add(np.ones(3), 10)
    with pytest.raises(InvalidInput):
        track.add(np.ones(4), 10)
