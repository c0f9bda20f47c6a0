"""metrics.utility: NDCG@K / HR@K per user against hand-computed values; the summary."""

import math

import numpy as np
import pytest

from recaudit.metrics.statistics import bootstrap_ci
from recaudit.metrics.utility import summarize, utility_per_user


def test_utility_per_user_by_hand():
    rankings = [["a", "b", "c"], ["x", "y", "z"], ["a", "b", "c"], ["b", "a", "c"]]
    held_out = [{"b"}, {"a"}, {"c"}, {"a", "b"}]
    u = utility_per_user(rankings, held_out, k=2)
    assert list(u) == ["ndcg_at_2", "hr_at_2"]
    # b at rank 2: (1 / log2 3) / 1; nothing relevant; c is beyond k = 2; both in the top 2
    assert u["ndcg_at_2"].tolist() == pytest.approx([1 / math.log2(3), 0.0, 0.0, 1.0])
    assert u["hr_at_2"].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert utility_per_user(rankings, held_out, k=3)["hr_at_3"].tolist() == [1.0, 0.0, 1.0, 1.0]


def test_utility_per_user_of_no_users_is_empty():
    u = utility_per_user([], [], k=10)
    assert u["ndcg_at_10"].size == 0 and u["hr_at_10"].size == 0


def test_summarize_is_the_mean_and_its_bootstrap_ci():
    vals = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.5, 0.25, 1.0])
    out = summarize({"hr_at_10": vals, "flat": np.full(4, 0.5)}, n_resamples=300, seed=3)
    mean, lo, hi = out["hr_at_10"]
    assert mean == pytest.approx(0.59375)  # 4.75 / 8
    assert (lo, hi) == bootstrap_ci(vals, n_resamples=300, seed=3)
    assert lo < mean < hi
    assert out["flat"] == (0.5, 0.5, 0.5)  # constant values: a zero-width CI
