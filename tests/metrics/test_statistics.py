import numpy as np
import pytest
from scipy import stats

from recaudit.metrics.statistics import (
    bootstrap_ci,
    holm,
    label_permutation_test,
    one_sample_test,
    paired_bootstrap_ci,
)


def test_holm_matches_hand_computation():
    # sorted p: 0.01 (x3) -> 0.03; 0.03 (x2) -> 0.06; 0.04 (x1) -> max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]).tolist() == pytest.approx([1.0, 1.0])  # 0.5*2; max(1.0, 0.9)
    assert holm([]).size == 0


def test_bootstrap_ci_covers_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = rng.normal(1.0, 1.0, 30)
    large = rng.normal(1.0, 1.0, 3000)
    lo_s, hi_s = bootstrap_ci(small, seed=1)
    lo_l, hi_l = bootstrap_ci(large, seed=1)
    assert lo_s < small.mean() < hi_s
    assert lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5


def test_bootstrap_ci_degenerate_and_reproducible():
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert np.isnan(bootstrap_ci([])[0])
    x = np.arange(20.0)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)


def test_paired_bootstrap_of_difference_in_means():
    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(0, 1, 200), rng.normal(1, 1, 200)]
    labels = np.r_[np.zeros(200), np.ones(200)]

    def gap(v, g):
        return v[g == 1].mean() - v[g == 0].mean()

    lo, hi = paired_bootstrap_ci(gap, values, labels, n_resamples=500, seed=0)
    assert lo < gap(values, labels) < hi
    assert lo > 0.6 and hi < 1.4


def test_label_permutation_test_detects_and_does_not_invent_effects():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 100)

    def gap(v, g):
        return abs(v[g == 1].mean() - v[g == 0].mean())

    shifted = rng.normal(0, 1, 200) + 0.8 * labels
    null = rng.normal(0, 1, 200)
    assert label_permutation_test(gap, shifted, labels, n_permutations=300, seed=0) < 0.01
    assert label_permutation_test(gap, null, labels, n_permutations=300, seed=0) > 0.05


def test_one_sample_test_agrees_with_scipy():
    x = np.array([0.3, 0.1, 0.5, -0.1, 0.4, 0.2, 0.6, 0.05])
    assert one_sample_test(x) == pytest.approx(stats.wilcoxon(x, alternative="greater").pvalue)
    assert one_sample_test(np.zeros(5)) == 1.0
