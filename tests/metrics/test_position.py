"""Position-bias metrics against hand-computed values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from recaudit.metrics import position as PM


def test_position_gap():
    x = np.array([[1.0, 0.5, 0.0], [0.0, 0.5, 0.5]])
    # column means 0.5, 0.5, 0.25 -> 0.5 - 0.25
    assert PM.position_gap(x) == pytest.approx(0.25)


def test_friedman_p_matches_scipy_and_handles_ties():
    rng = np.random.default_rng(0)
    x = rng.random((40, 5))
    x[:, 0] += 0.3
    assert PM.friedman_p(x) == pytest.approx(stats.friedmanchisquare(*x.T).pvalue)
    assert PM.friedman_p(x) < 0.01
    assert PM.friedman_p(np.full((10, 4), 0.3)) == 1.0
    with pytest.raises(ValueError, match="positions >= 3"):
        PM.friedman_p(x[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        PM.friedman_p(np.where(x > 0.9, np.nan, x))


def test_friedman_p_null_is_not_significant_most_of_the_time():
    rng = np.random.default_rng(1)
    ps = [PM.friedman_p(rng.random((50, 5))) for _ in range(40)]
    assert np.mean(np.array(ps) < 0.05) <= 0.15


def test_rank_vector():
    np.testing.assert_array_equal(PM.rank_vector(["b", "a"], ["a", "b", "c"]), [1, 0, 2])


def test_pairwise_kendall_tau_matches_scipy():
    items = ["a", "b", "c", "d"]
    r1, r2, r3 = ["a", "b", "c", "d"], ["b", "a", "c", "d"], ["d", "c", "b", "a"]
    # r1 vs r2: one discordant pair of 6 -> (5 - 1) / 6; r1 vs r3: -1; r2 vs r3: (1 - 5) / 6
    expected = (4 / 6 - 1 - 4 / 6) / 3
    assert PM.pairwise_kendall_tau([r1, r2, r3], items) == pytest.approx(expected)
    tau = stats.kendalltau(PM.rank_vector(r1, items), PM.rank_vector(r2, items)).statistic
    assert PM.pairwise_kendall_tau([r1, r2], items) == pytest.approx(tau)
    assert PM.pairwise_kendall_tau([r1, r1], items) == pytest.approx(1.0)


def test_pairwise_top1_agreement():
    assert PM.pairwise_top1_agreement([["a"], ["a"], ["a"]]) == 1.0
    # pairs: (a, b) no, (a, a) yes, (b, a) no
    assert PM.pairwise_top1_agreement([["a"], ["b"], ["a"]]) == pytest.approx(1 / 3)
    assert np.isnan(PM.pairwise_top1_agreement([["a"]]))


def test_uniformity_tv():
    assert PM.uniformity_tv([5, 5, 5, 5]) == 0.0
    # p = (0.5, 0.5, 0, 0): 0.5 * (0.25 + 0.25 + 0.25 + 0.25)
    assert PM.uniformity_tv([3, 3, 0, 0]) == pytest.approx(0.5)
    assert np.isnan(PM.uniformity_tv([0, 0]))
