import numpy as np
import pytest

from shared.features.moments import Moments


def test_moments_of_disjoint_sets_add_up_to_the_moments_of_their_union():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3.0, 2.0, (7, 4)), rng.normal(-1.0, 0.5, (5, 4))
    both = Moments.of(a) + Moments.of(b)
    whole = np.concatenate([a, b])
    assert both.n == 12
    assert both.mean == pytest.approx(whole.mean(axis=0))
    assert both.var == pytest.approx(whole.var(axis=0))


def test_hand_computed_mean_and_population_variance():
    m = Moments.of(np.array([[1.0, 10.0], [3.0, 10.0]]))
    assert list(m.mean) == [2.0, 10.0]
    assert list(m.var) == [1.0, 0.0]  # population variance; a constant column is 0, never negative
    assert Moments.zeros(2).n == 0 and list((Moments.zeros(2) + m).mean) == [2.0, 10.0]
