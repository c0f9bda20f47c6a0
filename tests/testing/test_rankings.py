"""assert_rankings_close: equal up to float near-ties, exact everywhere else."""

from __future__ import annotations

import numpy as np
import pytest

from recaudit.models import Ranking
from recaudit.testing import assert_rankings_close, ranking_difference


def _ranking(scores, names="abcdefghij"):
    order = np.argsort(-np.asarray(scores), kind="stable")
    return Ranking(tuple(names[i] for i in order), tuple(np.asarray(scores)[order]))


def test_last_bit_noise_that_swaps_a_near_tie_is_accepted():
    scores = np.array([0.9, 0.5, 0.5 + 3e-8, 0.1], dtype=np.float32)
    noisy = scores.copy()
    noisy[1], noisy[2] = noisy[2], noisy[1] - 1e-8  # another kernel: the tie goes the other way
    a, b = _ranking(scores), _ranking(noisy)
    assert a.items != b.items  # the swap really happened
    assert ranking_difference(a, b) is None
    assert_rankings_close([a], [b])


def test_a_swap_of_well_separated_items_is_reported_with_positions():
    a = Ranking(("a", "b", "c"), (0.9, 0.6, 0.1))
    b = Ranking(("b", "a", "c"), (0.9, 0.6, 0.1))
    why = ranking_difference(a, b)
    assert why is not None and "positions 0-0" in why
    with pytest.raises(AssertionError, match=r"ranking 0: items at positions 0-0"):
        assert_rankings_close([a], [b])


def test_scores_beyond_the_tolerance_are_reported():
    a = Ranking(("a", "b"), (0.9, 0.5))
    b = Ranking(("a", "b"), (0.9, 0.5 + 2e-5))
    assert "position 1" in ranking_difference(a, b)
    assert ranking_difference(a, b, atol=1e-4) is None


def test_the_item_cut_off_at_k_may_be_a_near_tie_of_the_last_kept():
    full = np.array([0.9, 0.7, 0.3, 0.3 + 1e-8])
    a = _ranking(full)              # keeps d (0.3 + 1e-8) at position 2
    a = Ranking(a.items[:3], a.scores[:3])
    b = Ranking(("a", "b", "c"), (0.9, 0.7, 0.3))  # another kernel kept c
    assert a.items[2] == "d" and ranking_difference(a, b) is None
    # but a different item at a position that is no tie is a difference
    c = Ranking(("a", "d", "c"), (0.9, 0.7, 0.3))
    assert ranking_difference(c, b) is not None


def test_rankings_without_scores_are_compared_exactly():
    assert ranking_difference(Ranking(("a", "b")), Ranking(("a", "b"))) is None
    assert "no scores" in ranking_difference(Ranking(("a", "b")), Ranking(("b", "a")))
    with pytest.raises(AssertionError, match="3 items != 2 items"):
        assert_rankings_close([Ranking(("a", "b", "c"))], [Ranking(("a", "b"))])
    with pytest.raises(AssertionError, match="2 rankings != 1 rankings"):
        assert_rankings_close([Ranking(("a",))] * 2, [Ranking(("a",))])
