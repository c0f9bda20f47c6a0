"""List-agreement metrics against hand-computed values and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from recaudit.metrics.agreement import jaccard_at_k, kendall_tau, rbo


def test_jaccard_by_hand():
    assert jaccard_at_k(["a", "b", "c"], ["b", "c", "d"]) == pytest.approx(2 / 4)
    assert jaccard_at_k(["a", "b", "c", "d"], ["d", "c", "x", "y"], k=2) == 0.0
    assert jaccard_at_k(["a", "b", "c", "d"], ["b", "a", "x"], k=2) == 1.0
    assert jaccard_at_k([], []) == 1.0
    assert jaccard_at_k(["a"], []) == 0.0


def test_rbo_even_lengths_hand_computed():
    # X_d = 0, 2, 2, 4 at depths 1..4 (eq. 30 of Webber et al. 2010)
    p = 0.9
    expected = (1 - p) / p * (0 / 1 * p + 2 / 2 * p**2 + 2 / 3 * p**3 + 4 / 4 * p**4) \
        + 4 / 4 * p**4
    assert rbo(["a", "b", "c", "d"], ["b", "a", "d", "c"], p=p) == pytest.approx(expected)
    assert expected == pytest.approx(0.8730, abs=1e-4)


def test_rbo_uneven_lengths_hand_computed():
    # S = [a, x] (s=2), L = [a, b, c] (l=3): X_1 = 1, X_2 = 1, X_3 = 1 (eq. 32)
    p = 0.9
    body = 1 / 1 * p + 1 / 2 * p**2 + 1 / 3 * p**3 + 1 * (3 - 2) / (2 * 3) * p**3
    expected = (1 - p) / p * body + ((1 - 1) / 3 + 1 / 2) * p**3
    assert rbo(["a", "x"], ["a", "b", "c"], p=p) == pytest.approx(expected)
    assert rbo(["a", "b", "c"], ["a", "x"], p=p) == pytest.approx(expected)  # symmetric


def test_rbo_small_p_by_hand():
    # p = 0.5, two swapped items: X_1 = 0, X_2 = 2 -> 1 * (0 + 1 * 0.25) + 1 * 0.25
    assert rbo(["a", "b"], ["b", "a"], p=0.5) == pytest.approx(0.5)


def test_rbo_properties():
    a = list("abcdefghij")
    assert rbo(a, a) == pytest.approx(1.0)
    assert rbo(a, list("klmnopqrst")) == 0.0
    assert rbo(a, a[:5]) == pytest.approx(1.0)  # a prefix extrapolates to agreement
    top_swap = ["b", "a", *a[2:]]
    bottom_swap = [*a[:8], "j", "i"]
    assert rbo(a, top_swap) < rbo(a, bottom_swap) < 1.0  # top-weighted
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = list(rng.permutation(list("abcdefghijklmno"))[:8])
        y = list(rng.permutation(list("abcdefghijklmno"))[:8])
        assert rbo(x, y) == pytest.approx(rbo(y, x))
        assert 0.0 <= rbo(x, y) <= 1.0
    assert rbo([], []) == 1.0 and rbo(["a"], []) == 0.0


def test_rbo_rejects_bad_input():
    with pytest.raises(ValueError, match="persistence"):
        rbo(["a"], ["a"], p=1.0)
    with pytest.raises(ValueError, match="duplicate"):
        rbo(["a", "a"], ["a"])


def test_kendall_intersection_matches_scipy():
    a = ["a", "b", "c", "d", "e", "x"]
    b = ["c", "a", "b", "e", "d", "y"]
    shared = [i for i in a if i in b]
    ra = [a.index(i) for i in shared]
    rb = [b.index(i) for i in shared]
    expected = stats.kendalltau(ra, rb).statistic
    assert kendall_tau(a, b, over="intersection") == pytest.approx(expected)
    assert kendall_tau(a, a[::-1], over="intersection") == pytest.approx(-1.0)


def test_kendall_union_by_hand():
    # union a, b, c, d; missing items tie at the bottom: ranks (0,1,2,3) vs (0,1,3,2):
    # 5 concordant pairs, 1 discordant (c, d), no ties -> (5 - 1) / 6
    assert kendall_tau(["a", "b", "c"], ["a", "b", "d"]) == pytest.approx(4 / 6)
    assert kendall_tau(list("abc"), list("abc")) == pytest.approx(1.0)


def test_kendall_undefined_and_errors():
    assert math.isnan(kendall_tau(["a", "b"], ["c", "a"], over="intersection"))
    with pytest.raises(ValueError, match="union"):
        kendall_tau(["a"], ["a"], over="both")
