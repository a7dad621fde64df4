from collections import Counter

import pytest

from shared.errors import InvalidInput
from shared.training.balancing import augmentation_seed, oversample_plan, undersample

LABELS = ["a"] * 5 + ["b"] * 2 + ["c"] * 3  # a: 0-4, b: 5-6, c: 7-9


def test_undersample_cuts_every_class_to_the_minority_count():
    keep, log = undersample(LABELS, seed=0)
    assert len(keep) == 6 and keep == sorted(keep) and len(set(keep)) == 6
    assert Counter(LABELS[i] for i in keep) == {"a": 2, "b": 2, "c": 2}
    assert set(keep) >= {5, 6}  # the minority class is kept whole
    assert log.method == "undersample"
    assert log.before == {"a": 5, "b": 2, "c": 3} and log.after == {"a": 2, "b": 2, "c": 2}
    assert log.to_dict()["seed"] == 0


def test_undersample_is_seeded():
    labels = ["x"] * 50 + ["y"] * 10
    assert undersample(labels, 1)[0] == undersample(labels, 1)[0]
    assert undersample(labels, 1)[0] != undersample(labels, 2)[0]


def test_oversample_plan_copies_minorities_up_to_the_majority():
    plan, log = oversample_plan(LABELS, seed=0)
    assert len(plan) == 15 and plan == sorted(plan)
    assert [p for p in plan if p[1] == 0] == [(i, 0) for i in range(10)]  # every original once
    assert Counter(LABELS[i] for i, _ in plan) == {"a": 5, "b": 5, "c": 5}
    # b (2 items) needs 3 copies: one item gets copies 1 and 2, the other copy 1.
    b_copies = sorted(sorted(k for i, k in plan if i == j and k) for j in (5, 6))
    assert b_copies == [[1], [1, 2]]
    # c (3 items) needs 2 copies: two different items, copy 1 each.
    c_copies = [(i, k) for i, k in plan if LABELS[i] == "c" and k]
    assert len(c_copies) == 2 and {k for _, k in c_copies} == {1} and len({i for i, _ in c_copies}) == 2
    assert not [k for i, k in plan if LABELS[i] == "a" and k]
    assert log.before == {"a": 5, "b": 2, "c": 3} and log.after == {"a": 5, "b": 5, "c": 5}


def test_oversample_plan_is_seeded_and_copy_seeds_are_stable():
    labels = ["x"] * 20 + ["y"] * 3
    assert oversample_plan(labels, 4)[0] == oversample_plan(labels, 4)[0]
    assert augmentation_seed(0, 3, 1) == augmentation_seed(0, 3, 1)
    assert len({augmentation_seed(0, 3, 1), augmentation_seed(0, 3, 2), augmentation_seed(1, 3, 1)}) == 3


def test_balanced_input_is_left_alone_and_empty_input_refused():
    keep, _ = undersample(["a", "b", "a", "b"], 0)
    assert keep == [0, 1, 2, 3]
    assert oversample_plan(["a", "b"], 0)[0] == [(0, 0), (1, 0)]
    with pytest.raises(InvalidInput):
        undersample([], 0)
    with pytest.raises(InvalidInput):
        oversample_plan([], 0)
