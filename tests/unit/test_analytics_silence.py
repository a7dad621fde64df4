import pytest

from shared.analytics.silence import silence_summary


def test_gaps_overlap_and_long_silences():
    s = silence_summary([(1000, 3000), (2500, 4000), (7000, 8000)], 10000, min_silence_ms=2000)
    assert s.total_ms == 6000 and s.share == pytest.approx(0.6) and s.longest_ms == 3000
    assert s.long_silences == ((4000, 7000), (8000, 10000))
    assert s.overlap_ms == 500


def test_overlap_counts_time_with_two_or_more_speakers_once():
    s = silence_summary([(0, 10), (0, 10), (5, 10)], 10)
    assert s.overlap_ms == 10 and s.total_ms == 0 and s.long_silences == ()


def test_no_speech_is_all_silence_and_spans_are_clipped():
    assert silence_summary([], 5000).total_ms == 5000
    s = silence_summary([(-100, 1000), (4500, 6000)], 5000, min_silence_ms=1000)
    assert s.total_ms == 3500 and s.long_silences == ((1000, 4500),)
