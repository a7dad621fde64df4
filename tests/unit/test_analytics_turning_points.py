import pytest

from shared.analytics.timeline import ClassifiedSegment, build_timeline
from shared.analytics.turning_points import TurnRule, negative_turns, smoothed_scores
from shared.errors import InvalidInput

LABELS = ("angry", "happy", "neutral", "sad")
ONE_HOT = {label: tuple(1.0 if other == label else 0.0 for other in LABELS) for label in LABELS}
# valences: angry -0.6, happy 0.8, neutral 0, sad -0.7
SEQUENCE = ["neutral", "happy", "angry", "angry", "neutral", "happy", "sad"]


def timeline_of(labels, probs=None):
    segs = [ClassifiedSegment(1, "customer", 1000 * i, 1000 * i + 1000, LABELS, probs[i] if probs else ONE_HOT[name])
            for i, name in enumerate(labels)]
    return build_timeline(segs)


def test_smoothing_over_two_segments():
    scores = smoothed_scores(timeline_of(SEQUENCE), TurnRule(window=2))
    assert scores == pytest.approx([0.0, 0.4, 0.1, -0.6, -0.3, 0.4, 0.05])


def test_one_turn_with_default_smoothing():
    [turn] = negative_turns(timeline_of(SEQUENCE), TurnRule(window=2))
    assert (turn.at_ms, turn.timeline_index, turn.from_label, turn.to_label) == (3000, 3, "angry", "angry")
    assert turn.valence_before == pytest.approx(0.1) and turn.valence_after == pytest.approx(-0.6)


def test_without_smoothing_each_recovery_allows_a_new_turn():
    turns = negative_turns(timeline_of(SEQUENCE), TurnRule(window=1))
    assert [(t.timeline_index, t.from_label, t.to_label) for t in turns] == [(2, "happy", "angry"), (6, "happy", "sad")]


def test_hysteresis_suppresses_wobble():
    # expected valences 0.2, -0.05, 0.05, -0.05 from mixtures of happy/sad/neutral
    probs = [(0, 0.25, 0.75, 0), (0, 0, 1 - 0.05 / 0.7, 0.05 / 0.7), (0, 0.0625, 0.9375, 0),
             (0, 0, 1 - 0.05 / 0.7, 0.05 / 0.7)]
    timeline = timeline_of(["x"] * 4, probs)
    assert [e.valence for e in timeline] == pytest.approx([0.2, -0.05, 0.05, -0.05])
    assert len(negative_turns(timeline, TurnRule(window=1, hysteresis=0.1))) == 1
    assert len(negative_turns(timeline, TurnRule(window=1, hysteresis=0.0))) == 2


def test_starting_negative_is_not_a_turn():
    assert negative_turns(timeline_of(["angry", "sad", "angry"]), TurnRule(window=1)) == []


def test_negative_labels_score_is_one_minus_twice_p_negative():
    timeline = timeline_of(["x", "y"], [(0.3, 0.1, 0.4, 0.2), (0.4, 0.1, 0.3, 0.2)])
    rule = TurnRule(window=1, negative_labels=("angry", "sad"))
    assert smoothed_scores(timeline, rule) == pytest.approx([0.0, -0.2])
    [turn] = negative_turns(timeline, rule)
    assert turn.timeline_index == 1
    with pytest.raises(InvalidInput):
        negative_turns(timeline, TurnRule(negative_labels=("contempt",)))
