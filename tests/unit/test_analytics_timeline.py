import pytest

from shared.analytics.timeline import ClassifiedSegment, build_timeline, valence_arousal_of
from shared.errors import InvalidInput

LABELS = ("angry", "happy", "neutral", "sad")


def test_entry_has_top_label_and_expected_valence_arousal():
    [entry] = build_timeline([ClassifiedSegment(1, "customer", 100, 900, LABELS, (0.5, 0.2, 0.2, 0.1))])
    assert entry.top_label == "angry" and entry.top_prob == pytest.approx(0.5)
    # valence 0.5*-0.6 + 0.2*0.8 + 0.1*-0.7; arousal 0.5*0.8 + 0.2*0.5 + 0.1*-0.4
    assert entry.valence == pytest.approx(-0.21)
    assert entry.arousal == pytest.approx(0.46)
    assert entry.duration_ms == 800


def test_timeline_sorted_by_start_then_channel_and_indexed():
    segs = [ClassifiedSegment(1, "customer", 500, 900, LABELS, (0, 1, 0, 0)),
            ClassifiedSegment(0, "agent", 0, 400, LABELS, (0, 0, 1, 0)),
            ClassifiedSegment(0, "agent", 500, 700, LABELS, (0, 0, 0, 1))]
    timeline = build_timeline(segs)
    assert [(e.index, e.channel, e.start_ms) for e in timeline] == [(0, 0, 0), (1, 0, 500), (2, 1, 500)]


def test_bad_segments_are_refused():
    with pytest.raises(InvalidInput):
        ClassifiedSegment(0, "agent", 500, 500, LABELS, (1, 0, 0, 0))
    with pytest.raises(InvalidInput):
        ClassifiedSegment(0, "agent", 0, 500, LABELS, (1, 0))


def test_labels_without_coordinates_are_left_out_of_valence():
    assert valence_arousal_of(("angry", "other"), (0.25, 0.75)) == pytest.approx((-0.6, 0.8))
    assert valence_arousal_of(("other", "unknown"), (0.5, 0.5)) == (0.0, 0.0)
