import pytest

from shared.analytics.call import AnalyticsOptions, summarize_call
from shared.analytics.timeline import ClassifiedSegment
from shared.analytics.turning_points import TurnRule

LABELS = ("angry", "happy", "neutral", "sad")
ONE_HOT = {label: tuple(1.0 if other == label else 0.0 for other in LABELS) for label in LABELS}


def seg(channel, start, end, label):
    return ClassifiedSegment(channel, ("agent", "customer")[channel], start, end, LABELS, ONE_HOT[label])


SEGMENTS = [seg(1, 3000, 4000, "neutral"), seg(0, 0, 2000, "happy"), seg(1, 5000, 6000, "angry"),
            seg(0, 6500, 7000, "sad"), seg(0, 7000, 7500, "happy"), seg(0, 7500, 8000, "angry")]


def test_summary_of_a_small_call():
    call = summarize_call(SEGMENTS, LABELS, 10000, [("agent", 0), ("customer", 1)],
                          AnalyticsOptions(TurnRule(window=1), min_silence_ms=2000))
    assert [e.index for e in call.timeline] == list(range(6))
    assert [e.start_ms for e in call.timeline] == [0, 3000, 5000, 6500, 7000, 7500]
    agent, customer = call.participants
    assert (agent.talk_time_ms, customer.talk_time_ms) == (3500, 2000)
    # only the customer is watched by default, even though the agent turns negative at 6500 and 7500
    assert agent.negative_turns == ()
    [turn] = customer.negative_turns
    assert (turn.at_ms, turn.timeline_index, turn.from_label, turn.to_label) == (5000, 2, "neutral", "angry")
    assert call.silence.total_ms == 10000 - 5500
    assert call.silence.long_silences == ((8000, 10000),)


def test_watch_everyone():
    call = summarize_call(SEGMENTS, LABELS, 10000, [("agent", 0), ("customer", 1)],
                          AnalyticsOptions(TurnRule(window=1), watch_participant="*"))
    assert [t.at_ms for t in call.participants[0].negative_turns] == [6500, 7500]
    assert call.duration_ms == 10000


def test_duration_grows_to_cover_the_last_segment():
    call = summarize_call([seg(0, 0, 1200, "sad")], LABELS, 1000)
    assert call.duration_ms == 1200 and call.participants[0].talk_share == pytest.approx(1.0)


def test_uncertain_segments_make_no_negative_turn():
    def customer(start, label, uncertain):
        return ClassifiedSegment(1, "customer", start, start + 1000, LABELS, ONE_HOT[label], uncertain=uncertain)

    def turns(uncertain):
        segments = [customer(0, "happy", False), customer(1000, "angry", uncertain),
                    customer(2000, "angry", uncertain), customer(3000, "happy", False)]
        [summary] = summarize_call(segments, LABELS, 4000).participants
        return summary.negative_turns

    [turn] = turns(uncertain=False)  # two confident angry segments: a turn once the smoothed score drops
    assert (turn.at_ms, turn.to_label) == (2000, "angry")
    assert turns(uncertain=True) == ()  # the same two, uncertain: no evidence of a turn
