"""Popularity metrics against hand-computed values on a five-item world.

Catalog a..e. Train: u1 {a, b}, u2 {a, c}, u3 {a, b, d}  ->  phi = a 3, b 2, c 1, d 1, e 0
(7 train pairs). Short head: a (3), b (cum 5 < 0.8 * 7 = 5.6), c (cum 6 >= 5.6; c before d by
id) -> head {a, b, c}, tail {d, e}.
Lists: u1 [c, d], u2 [b, e], u3 [c, e]. Relevant (test): u1 {d, e}, u2 {b}, u3 {c}.
"""

from __future__ import annotations

import numpy as np
import pytest

from recaudit.metrics import popularity as P

CATALOG = ["a", "b", "c", "d", "e"]
TRAIN = [["a", "b"], ["a", "c"], ["a", "b", "d"]]
LISTS = [["c", "d"], ["b", "e"], ["c", "e"]]
RELEVANT = [["d", "e"], ["b"], ["c"]]


@pytest.fixture
def pop():
    users = [u for u, items in zip(["u1", "u2", "u3"], TRAIN) for _ in items]
    items = [i for items in TRAIN for i in items]
    return P.item_popularity(users + ["u1"], items + ["a"], CATALOG)  # a repeat counts once


def test_item_popularity_counts_distinct_users(pop):
    assert pop.to_dict() == {"a": 3, "b": 2, "c": 1, "d": 1, "e": 0}


def test_short_head_covers_80_percent(pop):
    head, tail = P.short_head_split(pop)
    assert head == {"a", "b", "c"}
    assert tail == {"d", "e"}
    head, tail = P.short_head_split(pop, share=0.5)  # 0.5 * 7 = 3.5: a (3), b (5)
    assert head == {"a", "b"} and tail == {"c", "d", "e"}


def test_short_head_errors_and_degenerate():
    with pytest.raises(ValueError, match="share"):
        P.short_head_split({"a": 1}, share=0)
    with pytest.raises(ValueError, match=">= 0"):
        P.short_head_split({"a": -1})
    assert P.short_head_split({"a": 0, "b": 0}) == (frozenset(), frozenset({"a", "b"}))


def test_arp_aplt_aclt(pop):
    # ARP: u1 (1 + 1) / 2 = 1, u2 (2 + 0) / 2 = 1, u3 (1 + 0) / 2 = 0.5 -> 2.5 / 3
    assert P.arp(LISTS, pop) == pytest.approx(2.5 / 3)
    tail = {"d", "e"}
    # one tail item in each list of two
    assert P.aplt(LISTS, tail) == pytest.approx(0.5)
    assert P.aclt(LISTS, tail) == pytest.approx(1.0)
    np.testing.assert_allclose(P.user_tail_count(LISTS, tail), [1, 1, 1])


def test_pop_rsp(pop):
    head, tail = {"a", "b", "c"}, {"d", "e"}
    # head: recommended 1 + 1 + 1 = 3; available |head \ train|: {c}, {b}, {c} -> 3; P = 1
    # tail: recommended 1 + 1 + 1 = 3; available {d, e}, {d, e}, {e} -> 5; P = 0.6
    # std([1, 0.6]) / mean = 0.2 / 0.8
    assert P.pop_rsp(LISTS, head, tail, TRAIN) == pytest.approx(0.25)


def test_pop_reo(pop):
    head, tail = {"a", "b", "c"}, {"d", "e"}
    # head: hits u2 {b}, u3 {c} = 2; relevant head items not in train: {b}, {c} -> 2; P = 1
    # tail: hits u1 {d} = 1; relevant tail items: u1 {d, e} -> 2; P = 0.5
    # std([1, 0.5]) / mean = 0.25 / 0.75
    assert P.pop_reo(LISTS, head, tail, TRAIN, RELEVANT) == pytest.approx(1 / 3)


def test_rsp_extremes():
    assert P.rsp_from_counts(2, 4, 1, 2) == 0.0  # equal rates
    assert P.rsp_from_counts(3, 3, 0, 5) == pytest.approx(1.0)  # tail never recommended
    assert np.isnan(P.rsp_from_counts(1, 0, 1, 1))


def test_gini_and_coverage():
    counts = P.recommendation_counts(LISTS, CATALOG)
    np.testing.assert_array_equal(counts, [0, 1, 2, 1, 2])
    # sorted [0, 1, 1, 2, 2], n = 5, sum 6: sum (2j - 6) x_j = 0 - 2 + 0 + 4 + 8 = 10
    # G = 10 / ((5 - 1) * 6)
    assert P.gini(counts) == pytest.approx(10 / 24)
    assert P.item_coverage(LISTS, CATALOG) == pytest.approx(4 / 5)


def _gini_mean_difference(x):
    """Independent formula: sum_ij |x_i - x_j| / (2 n^2 mean), rescaled by n / (n - 1)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    g = np.abs(x[:, None] - x[None, :]).sum() / (2 * n * n * x.mean())
    return g * n / (n - 1)


@pytest.mark.parametrize("seed", range(5))
def test_gini_matches_mean_difference_formula(seed):
    rng = np.random.default_rng(seed)
    x = rng.poisson(rng.uniform(0, 5), size=int(rng.integers(2, 60)))
    x[0] += 1  # at least one recommendation
    assert P.gini(x) == pytest.approx(_gini_mean_difference(x))


def test_gini_bounds():
    assert P.gini([3, 3, 3]) == 0.0
    assert P.gini([0, 0, 7]) == pytest.approx(1.0)
    assert P.gini([0, 0, 0]) == 0.0


def test_popularity_lift(pop):
    # u1: rec (1 + 1) / 2 = 1 over history (3 + 2) / 2 = 2.5 -> 0.4
    # u2: rec 1 over (3 + 1) / 2 = 2 -> 0.5; u3: rec 0.5 over (3 + 2 + 1) / 3 = 2 -> 0.25
    np.testing.assert_allclose(P.user_popularity_lift(LISTS, TRAIN, pop), [0.4, 0.5, 0.25])
    assert P.popularity_lift(LISTS, TRAIN, pop) == pytest.approx(1.15 / 3)


def test_empty_lists_are_nan_not_errors(pop):
    assert np.isnan(P.user_average_popularity([[]], pop)[0])
    assert np.isnan(P.user_tail_share([[]], {"d"})[0])
    assert np.isnan(P.user_popularity_lift([["a"]], [["e"]], pop)[0])  # history popularity 0
