"""Faithfulness metrics against hand-computed values and scikit-learn's ``auc``."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import auc

from recaudit.metrics import faithfulness as fm


def test_comprehensiveness_and_sufficiency_hand_values():
    assert fm.comprehensiveness(0.8, 0.3) == pytest.approx(0.5)
    assert fm.sufficiency(0.8, 0.7) == pytest.approx(0.1)
    np.testing.assert_allclose(fm.comprehensiveness(np.array([1.0, 0.5]), np.array([0.2, 0.5])),
                               [0.8, 0.0])


def test_aopc_hand_value_and_k_max():
    curve = [1.0, 0.4, 0.2, 0.2]
    # ERASER's bins k = 1..3 (no k = 0 term): (0.6 + 0.8 + 0.8) / 3
    assert fm.aopc(curve) == pytest.approx(2.2 / 3)
    # k_max=1: the k = 1 bin only
    assert fm.aopc(curve, k_max=1) == pytest.approx(0.6)
    assert fm.aopc(curve, k_max=99) == pytest.approx(2.2 / 3)
    assert fm.aopc([1.0, 0.4, 0.2]) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="at least one removal step"):
        fm.aopc(curve, k_max=0)


def test_aopc_sufficiency_hand_value():
    # full 1.0; only top-1 kept 0.9, top-2 kept 1.0 -> (0.1 + 0) / 2
    assert fm.aopc_sufficiency(1.0, [0.0, 0.9, 1.0]) == pytest.approx(0.05)
    assert fm.aopc_sufficiency(1.0, [0.0, 0.9, 1.0], k_max=1) == pytest.approx(0.1)


@pytest.mark.parametrize("curve", [[1.0, 0.0], [0.3, 0.9, 0.2, 0.5], [0.2] * 7])
def test_curve_auc_matches_sklearn(curve):
    x = np.linspace(0, 1, len(curve))
    assert fm.curve_auc(curve) == pytest.approx(auc(x, curve))
    assert fm.deletion_auc(curve) == fm.insertion_auc(curve) == fm.curve_auc(curve)


def test_curve_needs_two_points():
    with pytest.raises(ValueError, match="at least 2 points"):
        fm.aopc([1.0])


def test_masks_from_order():
    dm = fm.deletion_masks([2, 0, 1])
    assert dm.tolist() == [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]]
    im = fm.insertion_masks([2, 0, 1])
    assert im.tolist() == [[0, 0, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1]]


def test_attribution_order_descending_and_random_ties():
    assert fm.attribution_order([0.1, 0.5, -0.2]).tolist() == [1, 0, 2]
    # ties broken at random: a flat attribution gives many different orders
    seen = {tuple(fm.attribution_order(np.zeros(4), np.random.default_rng(s)))
            for s in range(30)}
    assert len(seen) > 5
    # ...but never at the expense of a larger value
    for s in range(10):
        assert fm.attribution_order([0, 1, 0, 0], np.random.default_rng(s))[0] == 1
    with pytest.raises(ValueError, match="NaN"):
        fm.attribution_order([0.1, np.nan])


def test_counter_pn_ps_fns():
    assert fm.probability_of_necessity([False, False, True, False]) == pytest.approx(0.75)
    assert fm.probability_of_sufficiency([True, False, True, True]) == pytest.approx(0.75)
    assert fm.fns(0.5, 1.0) == pytest.approx(2 * 0.5 / 1.5)
    assert fm.fns(0.0, 0.0) == 0.0
    assert np.isnan(fm.fns(float("nan"), 1.0))
    assert np.isnan(fm.probability_of_necessity([]))


def test_faithful_order_beats_reversed_order():
    # output = sum of kept feature weights; the true order removes the heaviest first
    w = np.array([0.05, 0.4, 0.1, 0.3])
    best, worst = fm.attribution_order(w), fm.attribution_order(-w)

    def curve(masks):
        return masks @ w

    dele_b, dele_w = curve(fm.deletion_masks(best)), curve(fm.deletion_masks(worst))
    ins_b = curve(fm.insertion_masks(best))
    assert fm.aopc(dele_b) > fm.aopc(dele_w)
    assert fm.deletion_auc(dele_b) < fm.deletion_auc(dele_w)
    assert fm.insertion_auc(ins_b) > fm.insertion_auc(curve(fm.insertion_masks(worst)))
    # hand value: removal curve 0.85, 0.45, 0.15, 0.05, 0.0 -> AOPC = mean(.4, .7, .8, .85)
    assert fm.aopc(dele_b) == pytest.approx(np.mean([0.4, 0.7, 0.8, 0.85]))
