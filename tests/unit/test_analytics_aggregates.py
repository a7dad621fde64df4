import pytest

from shared.analytics.aggregates import participant_summaries, quarter_bounds
from shared.analytics.timeline import ClassifiedSegment, build_timeline

LABELS = ("angry", "happy", "neutral", "sad")
ONE_HOT = {label: tuple(1.0 if other == label else 0.0 for other in LABELS) for label in LABELS}


def seg(channel, who, start, end, label):
    return ClassifiedSegment(channel, who, start, end, LABELS, ONE_HOT[label])


def test_quarter_bounds_cover_the_call():
    assert quarter_bounds(4000) == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 4000)]
    assert quarter_bounds(10) == [(0, 2), (2, 5), (5, 8), (8, 10)]


def test_shares_talk_time_and_quarters_by_duration():
    timeline = build_timeline([seg(1, "customer", 500, 1500, "angry"), seg(1, "customer", 2500, 3000, "happy")])
    [agent, customer] = participant_summaries(timeline, LABELS, 4000, [("agent", 0), ("customer", 1)])
    assert agent.talk_time_ms == 0 and agent.segments == 0 and all(s.share == 0 for s in agent.shares)
    assert customer.talk_time_ms == 1500 and customer.talk_share == pytest.approx(0.375)
    shares = {s.label: s for s in customer.shares}
    assert [s.label for s in customer.shares] == list(LABELS)
    assert shares["angry"].share == pytest.approx(2 / 3) and shares["angry"].duration_ms == 1000
    assert shares["happy"].share == pytest.approx(1 / 3) and shares["sad"].share == 0
    assert customer.mean_valence == pytest.approx((1000 * -0.6 + 500 * 0.8) / 1500)
    assert customer.mean_arousal == pytest.approx((1000 * 0.8 + 500 * 0.5) / 1500)
    q = customer.quarters
    assert [x.talk_time_ms for x in q] == [500, 500, 500, 0]
    # the angry segment crosses the Q1/Q2 boundary: half its time and one count in each
    assert {s.label: (s.share, s.segments) for s in q[0].shares}["angry"] == (1.0, 1)
    assert {s.label: (s.share, s.segments) for s in q[1].shares}["angry"] == (1.0, 1)
    assert {s.label: s.share for s in q[2].shares}["happy"] == 1.0
    assert q[3].mean_valence == 0.0 and sum(s.share for s in q[3].shares) == 0
    assert (q[1].start_ms, q[1].end_ms) == (1000, 2000)


def test_participants_found_in_the_timeline_are_added():
    timeline = build_timeline([seg(0, "speaker", 0, 100, "sad")])
    [summary] = participant_summaries(timeline, LABELS, 1000)
    assert summary.participant == "speaker" and summary.talk_share == pytest.approx(0.1)


def test_uncertain_segments_count_as_talk_but_not_in_shares_or_means():
    timeline = build_timeline([
        seg(1, "customer", 0, 1000, "angry"),
        ClassifiedSegment(1, "customer", 1000, 3000, LABELS, (0.2, 0.4, 0.3, 0.1), uncertain=True),
        seg(1, "customer", 3000, 4000, "sad"),
    ])
    assert [e.uncertain for e in timeline] == [False, True, False]
    [customer] = participant_summaries(timeline, LABELS, 4000)
    # talk time and segments keep everything; 2000 of the 4000 ms were uncertain and are left out
    assert (customer.talk_time_ms, customer.segments) == (4000, 3)
    assert (customer.uncertain_ms, customer.uncertain_segments) == (2000, 1)
    assert customer.talk_share == pytest.approx(1.0)
    shares = {s.label: s for s in customer.shares}
    # shares of the 2000 confident ms: angry 1000, sad 1000; the uncertain "happy" top label counts nowhere
    assert shares["angry"].share == pytest.approx(0.5) and shares["sad"].share == pytest.approx(0.5)
    assert (shares["happy"].share, shares["happy"].duration_ms, shares["happy"].segments) == (0.0, 0, 0)
    assert sum(s.share for s in customer.shares) == pytest.approx(1.0)
    assert customer.mean_valence == pytest.approx((-0.6 + -0.7) / 2)
    assert customer.mean_arousal == pytest.approx((0.8 + -0.4) / 2)
    q = customer.quarters
    assert [x.talk_time_ms for x in q] == [1000, 1000, 1000, 1000]
    assert [x.uncertain_ms for x in q] == [0, 1000, 1000, 0]
    # a quarter with only uncertain talk has no shares and neutral means
    assert sum(s.share for s in q[1].shares) == 0 and (q[1].mean_valence, q[1].mean_arousal) == (0.0, 0.0)
    assert {s.label: s.share for s in q[3].shares}["sad"] == 1.0


def test_a_participant_with_only_uncertain_talk_has_no_shares():
    timeline = build_timeline([ClassifiedSegment(0, "agent", 0, 500, LABELS, ONE_HOT["happy"], uncertain=True)])
    [agent] = participant_summaries(timeline, LABELS, 1000)
    assert (agent.talk_time_ms, agent.uncertain_ms, agent.uncertain_segments) == (500, 500, 1)
    assert all(s.share == 0 and s.duration_ms == 0 for s in agent.shares) and agent.mean_valence == 0.0
