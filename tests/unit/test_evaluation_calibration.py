"""Temperature scaling, ECE and the uncertain threshold against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    plot_reliability,
    reliability,
    scale,
    uncertain_threshold,
)


def test_ece_by_hand():
    # two bins of width 0.5: the upper holds top probabilities 0.6 (right) and 0.9 (wrong): mean confidence
    # 0.75, accuracy 0.5; the lower holds 0.4 (right): ECE = 2/3 * |0.5 - 0.75| + 1/3 * |1 - 0.4| = 0.3667
    probs = np.array([[0.6, 0.2, 0.2], [0.05, 0.9, 0.05], [0.4, 0.3, 0.3]])
    labels = np.array([0, 0, 0])
    rel = reliability(probs, labels, bins=2)
    assert rel.counts.tolist() == [1, 2]
    np.testing.assert_allclose(rel.confidence, [0.4, 0.75])
    np.testing.assert_allclose(rel.accuracy, [1.0, 0.5])
    assert rel.ece == pytest.approx(2 / 3 * 0.25 + 1 / 3 * 0.6)
    assert expected_calibration_error(probs, labels, bins=2) == pytest.approx(rel.ece)


def test_temperature_recovers_a_known_overconfidence():
    rng = np.random.default_rng(0)
    n, c = 4000, 4
    logits = rng.normal(0, 1.5, (n, c))
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(c, p=p) for p in true_p])
    overconfident = scale(true_p, 0.5)  # logits doubled
    t = fit_temperature(overconfident, labels)
    assert t == pytest.approx(2.0, rel=0.1)
    assert expected_calibration_error(scale(overconfident, t), labels) < expected_calibration_error(overconfident, labels)
    assert expected_calibration_error(scale(overconfident, t), labels) < 0.03


def test_scale_is_dividing_the_logits():
    logits = np.array([[2.0, 0.0, -1.0]])
    p = np.exp(logits) / np.exp(logits).sum()
    want = np.exp(logits / 1.7) / np.exp(logits / 1.7).sum()
    np.testing.assert_allclose(scale(p, 1.7), want, rtol=1e-9)


def test_uncertain_threshold_keeps_the_asked_coverage():
    probs = np.array([[p, 1 - p] for p in np.linspace(0.5, 1.0, 11)])
    t = uncertain_threshold(probs, coverage=0.8)
    assert np.mean(probs.max(1) >= t) == pytest.approx(9 / 11)
    assert uncertain_threshold(probs, coverage=1.0) == 0.0
    with pytest.raises(InvalidInput):
        uncertain_threshold(probs, coverage=0)


def test_bad_shapes_are_refused_and_the_plot_is_written(tmp_path):
    with pytest.raises(InvalidInput):
        reliability(np.ones((3, 2)) / 2, np.array([0, 1]))
    with pytest.raises(InvalidInput):
        reliability(np.ones((2, 2)) / 2, np.array([0, 2]))
    path = plot_reliability(reliability(np.array([[0.7, 0.3], [0.2, 0.8]]), np.array([0, 0])), tmp_path / "r.png")
    assert path.stat().st_size > 1000
