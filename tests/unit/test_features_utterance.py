import numpy as np
import pytest

from shared.errors import SpecError
from shared.features.cache import FeatureCache
from shared.features.utterance import UtteranceConfig, UtteranceFrontEnd, group_moments, vad_trim, with_group_stats
from tests.contract.voices import voice


def test_group_rows_carry_each_groups_statistics_over_all_of_its_rows():
    raw = np.array([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0]])
    rows = with_group_stats(raw, group_moments(raw, ["a", "a", "b"]))
    assert rows.shape == (3, 7)
    np.testing.assert_allclose(rows[0], [1, 0, 2, 1, 1, 1, 2])  # raw, mean (2, 1), variance (1, 1), count 2
    np.testing.assert_allclose(rows[1][2:], rows[0][2:])
    np.testing.assert_allclose(rows[2], [10, 10, 10, 10, 0, 0, 1])
    alone = with_group_stats(raw, group_moments(raw, None))  # no groups: each row is its own speaker
    assert list(alone[:, -1]) == [1, 1, 1]


def test_config_is_validated_and_hashed_stably():
    assert UtteranceConfig().hash() == UtteranceConfig.from_dict({"feature_set": "egemaps", "trim": "vad_call"}).hash()
    assert len({UtteranceConfig(trim=t).hash() for t in ("vad_call", "vad", "none")}) == 3
    with pytest.raises(SpecError):
        UtteranceConfig(feature_set="mfcc")
    with pytest.raises(SpecError):
        UtteranceConfig.from_dict({"feature_set": "egemaps", "window": 3})


class FakeVad:
    def segments(self, clip, sr, config):
        return [(500, 900), (1200, 1500)]


def test_vad_trim_keeps_first_to_last_speech():
    x = np.arange(32000, dtype=np.float32)
    y = vad_trim(x, FakeVad())
    assert y[0] == 8000 and len(y) == 16000  # 500 ms .. 1500 ms


def test_call_context_trim_maps_spans_back_into_the_clip():
    """With 0.5 s of silence around the clip (as on a call channel), the VAD's spans shift by 0.5 s and are
    clamped to the clip."""
    x = np.arange(32000, dtype=np.float32)
    seen = []

    class Recording(FakeVad):
        def segments(self, clip, sr, config):
            seen.append(len(clip))
            return [(300, 900), (1200, 2400)]  # in the padded signal: 0.3 s is before the clip starts

    y = vad_trim(x, Recording(), context_s=0.5)
    assert seen == [32000 + 16000]
    assert y[0] == 0 and len(y) == (2400 - 500) * 16  # start clamped to the clip, end shifted back by 0.5 s


def test_functionals_are_computed_once_per_audio_content(tmp_path):
    front = UtteranceFrontEnd(UtteranceConfig(trim="none"), FeatureCache(tmp_path))
    clips = [voice(1.0, f0=120, seed=1), voice(1.0, f0=220, seed=2)]
    first = front(clips)
    again = front([clips[1], clips[0]])
    assert first.shape == (2, 88) and np.isfinite(first).all()
    np.testing.assert_array_equal(again, first[::-1])
    assert front.cache.hits == 2 and front.cache.misses == 2
    assert not np.allclose(first[0], first[1])


def test_whisper_encoder_pools_the_clips_own_frames_into_one_vector():
    from shared.features.whisper import DIM, WhisperEncoder

    encoder = WhisperEncoder()
    short, long = voice(0.8, f0=140, seed=3), voice(2.4, f0=140, seed=3)
    vectors = encoder([short, long])
    assert vectors.shape == (2, DIM) and np.isfinite(vectors).all()
    assert encoder.log_mel(long).shape == (80, 240)  # 10 ms frames at the clip's own length, no 30 s padding
    assert not np.allclose(vectors[0], vectors[1])
    config = UtteranceConfig(encoder="whisper-tiny.en", trim="none")
    assert config.dim == 88 + DIM and config.hash() != UtteranceConfig(trim="none").hash()
    rows = UtteranceFrontEnd(config)([short])
    np.testing.assert_allclose(rows[0, 88:], vectors[0], rtol=1e-4, atol=1e-5)


def test_parallel_workers_give_the_same_rows_and_keep_errors_per_clip():
    from shared.errors import SerError

    clips = [voice(0.8, f0=100 + 30 * k, seed=k) for k in range(5)]
    one = UtteranceFrontEnd(UtteranceConfig(trim="none"))(clips)
    front = UtteranceFrontEnd(UtteranceConfig(trim="none"), workers=3)
    np.testing.assert_array_equal(front(clips), one)
    mixed = front.each([clips[0], np.zeros(0, np.float32), clips[1]])
    assert isinstance(mixed[1], SerError) and not isinstance(mixed[0], SerError)
    np.testing.assert_array_equal(mixed[2], one[1])


def test_worker_threads_keep_their_extractors_from_chunk_to_chunk(monkeypatch):
    """A call is featurised 64 segments at a time: the front end's threads must live across those
    chunks, or each chunk builds (and, natively, leaks) new openSMILE instances."""
    import shared.features.egemaps as egemaps

    built = []
    real_init = egemaps.FunctionalsExtractor.__init__

    def counting_init(self, *args, **kwargs):
        built.append(1)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(egemaps.FunctionalsExtractor, "__init__", counting_init)
    clips = [voice(0.5, f0=110 + 20 * k, seed=k) for k in range(4)]
    front = UtteranceFrontEnd(UtteranceConfig(trim="none"), workers=2)
    rows = [front(clips) for _ in range(4)]
    assert len(built) <= 1 + 2  # the constructing thread's, then one per worker thread, once
    for again in rows[1:]:
        np.testing.assert_array_equal(again, rows[0])
