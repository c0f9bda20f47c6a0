"""metrics.pairwise: the tests of a difference between two arms, by hand and against scipy."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recaudit.metrics.pairwise import ci_z_test, holm_ignoring_nan, paired_bootstrap, seed_test
from recaudit.metrics.statistics import holm

Z = 1.959964


def test_paired_bootstrap_degenerate_cases():
    assert paired_bootstrap(np.zeros(5), n_resamples=100, seed=0) == (0.0, 0.0, 1.0)
    assert paired_bootstrap(np.full(5, 0.5), n_resamples=100, seed=0) == (0.5, 0.5, 0.0)
    lo, hi, p = paired_bootstrap([0.3], n_resamples=100, seed=0)
    assert lo == hi == 0.3 and math.isnan(p)


def test_paired_bootstrap_p_by_hand():
    # d = [1, -1]: mean 0, every bootstrap mean is at least 0 from it: p = (B + 1) / (B + 1)
    assert paired_bootstrap([1.0, -1.0], n_resamples=99, seed=0)[2] == 1.0
    # d = [1, 3]: mean 2, bootstrap means 1, 2 or 3 are never 2 away from it: p = 1 / (B + 1);
    # P(mean = 1) = P(mean = 3) = 1/4, so the 2.5% and 97.5% quantiles are 1 and 3
    lo, hi, p = paired_bootstrap([1.0, 3.0], n_resamples=999, seed=0)
    assert p == 1 / 1000 and (lo, hi) == (1.0, 3.0)


def test_paired_bootstrap_is_seeded():
    d = np.random.default_rng(5).normal(0.2, 1.0, 50)
    assert paired_bootstrap(d, n_resamples=200, seed=1) == paired_bootstrap(
        d, n_resamples=200, seed=1)
    assert paired_bootstrap(d, n_resamples=200, seed=1) != paired_bootstrap(
        d, n_resamples=200, seed=2)


def test_ci_z_test_by_hand():
    a = {"value": [1.0], "ci_low": [0.8], "ci_high": [1.2]}
    b = {"value": [0.5], "ci_low": [0.3], "ci_high": [0.7]}
    se = 0.4 / (2 * Z)  # one seed each: the CI width over 2 x 1.96
    s = math.hypot(se, se)
    test, lo, hi, p = ci_z_test(a, b)
    assert test == "z_from_bootstrap_ci"
    assert p == pytest.approx(2 * stats.norm.sf(0.5 / s), rel=1e-12)
    assert (lo, hi) == pytest.approx((0.5 - Z * s, 0.5 + Z * s))
    # two seeds: the mean's standard error is sqrt(se1^2 + se2^2) / 2
    two = {"value": [1.0, 1.0], "ci_low": [0.8, 0.9], "ci_high": [1.2, 1.1]}
    se_two = math.sqrt((0.4 / (2 * Z)) ** 2 + (0.2 / (2 * Z)) ** 2) / 2
    p_two = ci_z_test(two, b)[3]
    assert p_two == pytest.approx(2 * stats.norm.sf(0.5 / math.hypot(se_two, se)), rel=1e-12)


def test_ci_z_test_untestable_and_exact():
    a = {"value": [1.0], "ci_low": [None], "ci_high": [None]}
    b = {"value": [0.5], "ci_low": [0.3], "ci_high": [0.7]}
    test, lo, hi, p = ci_z_test(a, b)
    assert test == "untestable" and math.isnan(lo) and math.isnan(hi) and math.isnan(p)
    point = {"value": [0.5], "ci_low": [0.5], "ci_high": [0.5]}
    assert ci_z_test(point, point) == ("exact", 0.0, 0.0, 1.0)
    assert ci_z_test({"value": [0.7], "ci_low": [0.7], "ci_high": [0.7]}, point)[3] == 0.0


def test_seed_test_welch_matches_scipy_and_takes_the_larger_p():
    a = {"value": np.array([1.0, 1.2, 1.1, 1.3]), "ci_low": np.array([0.99, 1.19, 1.09, 1.29]),
         "ci_high": np.array([1.01, 1.21, 1.11, 1.31])}
    b = {"value": np.array([0.5, 0.9, 0.6, 0.7]), "ci_low": np.array([0.49, 0.89, 0.59, 0.69]),
         "ci_high": np.array([0.51, 0.91, 0.61, 0.71])}
    test, lo, hi, p = seed_test(a, b)
    ref = stats.ttest_ind(a["value"], b["value"], equal_var=False)
    ci = ref.confidence_interval()
    assert test == "welch_t_over_seeds" and p == pytest.approx(ref.pvalue, rel=1e-12)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-12)
    # the users' CIs are far wider than the seeds' spread: the z-test is more conservative
    wide = {**a, "ci_low": a["value"] - 2.0, "ci_high": a["value"] + 2.0}
    assert seed_test(wide, b)[0] == "z_from_bootstrap_ci"
    assert seed_test(wide, b)[3] == ci_z_test(wide, b)[3] > ref.pvalue
    # a DataFrame's columns work the same as a dict of arrays
    assert seed_test(pd.DataFrame(a), pd.DataFrame(b)) == (test, lo, hi, p)


def test_seed_test_with_one_seed_is_the_z_test():
    a = {"value": [1.0], "ci_low": [0.8], "ci_high": [1.2]}
    b = {"value": [0.5], "ci_low": [0.3], "ci_high": [0.7]}
    assert seed_test(a, b) == ci_z_test(a, b)


def test_holm_ignoring_nan_by_hand():
    # testable p 0.01, 0.04, 0.03 -> 0.03, 0.06, 0.06 (see holm); NaN stays NaN
    out = holm_ignoring_nan([0.01, float("nan"), 0.04, 0.03, float("nan")])
    assert out[[0, 2, 3]].tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(out[[1, 4]]).all()
    assert out[[0, 2, 3]].tolist() == holm([0.01, 0.04, 0.03]).tolist()
    assert holm_ignoring_nan([]).size == 0
    assert np.isnan(holm_ignoring_nan([float("nan")])).all()
