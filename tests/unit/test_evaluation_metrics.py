"""Metrics against confusion matrices worked out by hand."""
import numpy as np
import pytest

from shared.errors import InvalidInput
from shared.evaluation.metrics import aggregate, compute_metrics, confusion_matrix, metrics_from_confusion

CLASSES = ("a", "b", "c")
# rows true, columns predicted
#        a  b  c
# a   [  3, 1, 0 ]   support 4
# b   [  1, 2, 1 ]   support 4
# c   [  0, 0, 2 ]   support 2
Y_TRUE = ["a"] * 4 + ["b"] * 4 + ["c"] * 2
Y_PRED = ["a", "a", "a", "b", "a", "b", "b", "c", "c", "c"]


def test_confusion_matrix_by_name_and_index():
    cm = confusion_matrix(Y_TRUE, Y_PRED, CLASSES)
    assert cm.tolist() == [[3, 1, 0], [1, 2, 1], [0, 0, 2]]
    idx = {c: i for i, c in enumerate(CLASSES)}
    assert (confusion_matrix([idx[y] for y in Y_TRUE], [idx[y] for y in Y_PRED], CLASSES) == cm).all()


def test_metrics_match_hand_computation():
    m = compute_metrics(Y_TRUE, Y_PRED, CLASSES)
    assert m.accuracy == pytest.approx(7 / 10)
    # recalls 3/4, 2/4, 2/2 -> UAR 0.75
    assert m.uar == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    # precisions 3/4, 2/3, 2/3; F1 a = 0.75, b = 2*(2/3*1/2)/(2/3+1/2) = 4/7, c = 2*(2/3)/(5/3) = 0.8
    assert m.per_class["a"].precision == pytest.approx(0.75)
    assert m.per_class["b"].precision == pytest.approx(2 / 3)
    assert m.per_class["b"].f1 == pytest.approx(4 / 7)
    assert m.per_class["c"].f1 == pytest.approx(0.8)
    assert m.macro_f1 == pytest.approx((0.75 + 4 / 7 + 0.8) / 3)
    assert (m.per_class["c"].support, m.per_class["c"].predicted) == (2, 3)
    assert m.n == 10


def test_class_absent_from_test_set_is_excluded_from_averages():
    # c never occurs but is predicted once:
    #        a  b  c
    # a   [  1, 0, 1 ]
    # b   [  1, 1, 0 ]
    # c   [  0, 0, 0 ]
    m = compute_metrics(["a", "a", "b", "b"], ["a", "c", "b", "a"], CLASSES)
    assert m.accuracy == pytest.approx(0.5)
    assert m.per_class["c"].recall is None and m.per_class["c"].f1 is None
    assert m.per_class["c"].precision == 0.0  # its one prediction was wrong
    assert m.uar == pytest.approx((0.5 + 0.5) / 2)
    # F1 a: p=1/2 r=1/2 -> 0.5; b: p=1 r=1/2 -> 2/3
    assert m.macro_f1 == pytest.approx((0.5 + 2 / 3) / 2)
    assert m.present_classes == ("a", "b")
    # a class neither present nor predicted has no precision at all
    m2 = compute_metrics(["a", "b"], ["a", "b"], CLASSES)
    assert m2.per_class["c"].precision is None and m2.uar == 1.0


def test_present_class_never_predicted_scores_zero():
    m = compute_metrics(["a", "b"], ["a", "a"], ("a", "b"))
    assert m.per_class["b"].precision == 0.0 and m.per_class["b"].f1 == 0.0
    assert m.uar == pytest.approx(0.5)
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.0) / 2)  # a: p=1/2 r=1 -> 2/3


def test_aggregate_mean_std_and_pooled():
    f1 = compute_metrics(Y_TRUE, Y_PRED, CLASSES)  # UAR 0.75
    f2 = compute_metrics(["a", "a", "b", "b"], ["a", "c", "b", "a"], CLASSES)  # UAR 0.5
    agg = aggregate([f1, f2])
    assert agg.summary["uar"].mean == pytest.approx(0.625)
    assert agg.summary["uar"].std == pytest.approx(0.25 / np.sqrt(2))  # sample std of {0.75, 0.5}
    assert agg.summary["accuracy"].mean == pytest.approx((0.7 + 0.5) / 2)
    assert agg.pooled.confusion.tolist() == [[4, 1, 1], [2, 3, 1], [0, 0, 2]]
    assert agg.pooled.accuracy == pytest.approx(9 / 14)
    assert agg.per_class_recall["c"].n == 1  # c only tested in fold 1
    assert aggregate([f1]).summary["uar"].std == 0.0
    assert str(agg.summary["uar"]) == "62.5 ± 17.7"


def test_roundtrip_and_errors():
    m = compute_metrics(Y_TRUE, Y_PRED, CLASSES)
    back = type(m).from_dict(m.to_dict())
    assert back.uar == m.uar and (back.confusion == m.confusion).all()
    with pytest.raises(InvalidInput, match="not one of the classes"):
        compute_metrics(["a"], ["z"], CLASSES)
    with pytest.raises(InvalidInput, match="3 labels but y_pred has 2"):
        compute_metrics(["a"] * 3, ["a"] * 2, CLASSES)
    with pytest.raises(InvalidInput, match="empty"):
        metrics_from_confusion(np.zeros((3, 3)), CLASSES)
