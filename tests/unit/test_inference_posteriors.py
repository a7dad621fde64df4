import numpy as np

from services.inference.servicer import posteriors

LABELS = ("angry", "happy", "neutral", "sad")


def test_uncertain_is_top_prob_below_the_threshold():
    probs = np.array([0.1, 0.5, 0.3, 0.1])
    assert not posteriors(LABELS, probs).uncertain  # no threshold: never uncertain
    assert posteriors(LABELS, probs, 0.6).uncertain
    assert not posteriors(LABELS, probs, 0.5).uncertain  # at the threshold: confident
    answer = posteriors(LABELS, probs, 0.6)
    assert answer.top_label == "happy" and answer.top_prob == np.float32(0.5)  # the label is still reported
