"""Group fairness metrics against fairlearn, scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.metrics import dcg_score

from recaudit.metrics import fairness as fm
from recaudit.metrics.statistics import label_permutation_test


def test_utility_frame_hand_computed():
    mf = fm.utility_frame({"ndcg": [0.1, 0.5, 0.3, 0.9], "hr": [0, 1, 1, 1]},
                          ["a", "b", "a", "b"], name="gender")
    # group a: ndcg (0.1 + 0.3) / 2 = 0.2, hr 0.5; group b: ndcg 0.7, hr 1.0
    assert mf.by_group.loc["a", "ndcg"] == pytest.approx(0.2)
    assert mf.by_group.loc["b", "ndcg"] == pytest.approx(0.7)
    assert mf.by_group.loc["a", "hr"] == pytest.approx(0.5)
    assert mf.difference()["ndcg"] == pytest.approx(0.5)
    assert mf.ratio()["ndcg"] == pytest.approx(0.2 / 0.7)
    assert mf.difference()["hr"] == pytest.approx(0.5)
    assert list(mf.by_group.index.names) == ["gender"]


@pytest.mark.parametrize("seed", range(3))
def test_group_gap_matches_fairlearn(seed):
    rng = np.random.default_rng(seed)
    hits = rng.integers(0, 2, 90).astype(float)
    ndcg = rng.random(90) * hits
    groups = rng.choice(["young", "middle-aged", "senior"], 90)
    # HR by group with fairlearn's own selection_rate (share of 1s) as the reference
    ref = MetricFrame(metrics=selection_rate, y_true=hits, y_pred=hits,
                      sensitive_features=groups)
    assert fm.group_means(hits, groups) == pytest.approx(ref.by_group.to_dict())
    diff, ratio = fm.group_gap(hits, groups)
    assert diff == pytest.approx(ref.difference())
    assert ratio == pytest.approx(ref.ratio())
    mf = fm.utility_frame({"ndcg": ndcg, "hr": hits}, groups)
    assert mf.difference()["hr"] == pytest.approx(ref.difference())
    assert mf.difference()["ndcg"] == pytest.approx(fm.group_gap(ndcg, groups)[0])
    assert mf.ratio()["ndcg"] == pytest.approx(fm.group_gap(ndcg, groups)[1])


def test_utility_frame_rejects_misaligned_input():
    with pytest.raises(ValueError, match="one value per user"):
        fm.utility_frame({"ndcg": [0.1, 0.2]}, ["a", "b", "c"])


def test_position_discount_and_exposure_match_sklearn_dcg():
    assert fm.position_discount(3) == pytest.approx([1.0, 1 / np.log2(3), 0.5])
    lst = ["a", "b", "c", "d", "e"]
    groups = {"a": "major", "b": "indie", "c": "major", "d": "indie", "e": "indie"}
    expo = fm.exposure_by_group([lst], groups, ["indie", "major"])[0]
    # a group's exposure in one list is the DCG of the list with relevance = membership
    scores = np.arange(len(lst), 0, -1)[None, :]
    for j, g in enumerate(["indie", "major"]):
        rel = np.array([[groups[i] == g for i in lst]], dtype=float)
        assert expo[j] == pytest.approx(dcg_score(rel, scores))
    # by hand: major = 1 + 1/log2(4) = 1.5
    assert expo[1] == pytest.approx(1.5)
    assert fm.exposure_by_group([lst], groups, ["indie", "major"], k=1)[0].tolist() == [0, 1]
    with pytest.raises(KeyError, match="no provider group"):
        fm.exposure_by_group([["zzz"]], groups, ["indie", "major"])


def test_item_exposure_hand_computed():
    out = fm.item_exposure([["a", "b"], ["b", "a"], ["c"]])
    assert out["a"] == pytest.approx(1 + 1 / np.log2(3))
    assert out["b"] == pytest.approx(1 + 1 / np.log2(3))
    assert out["c"] == 1.0


def test_shares_disparate_exposure_min_max():
    share = fm.share_by_group(["a", "b", "c", "c"], {"a": "x", "b": "y", "c": "y"}, ["x", "y"])
    assert share.tolist() == [0.25, 0.75]
    de = fm.disparate_exposure([0.8, 0.2], [0.5, 0.5])
    assert de.tolist() == pytest.approx([1.6, 0.4])
    assert fm.min_max_ratio(de) == pytest.approx(0.25)
    assert np.isnan(fm.disparate_exposure([0.5], [0.0])[0])
    assert fm.min_max_ratio([np.nan, 2.0, 1.0]) == 0.5


def test_permutation_pvalue_counts():
    null = np.arange(100) / 100.0  # 0.00 .. 0.99
    # 20 null values >= 0.8: (20 + 1) / 101
    assert fm.permutation_pvalue(0.8, null) == pytest.approx(21 / 101)
    assert fm.permutation_pvalue(2.0, null) == pytest.approx(1 / 101)
    assert fm.permutation_pvalue(0.0, np.zeros(50)) == 1.0


def test_sequential_permutation_draws_more_only_when_needed():
    sizes = []

    def draw(n, rng):
        sizes.append(n)
        return rng.random(n)

    # observed 0.5: half the draws exceed it, stop after the first batch
    p = fm.sequential_permutation_pvalue(0.5, draw, n_permutations=100, seed=0)
    assert sizes == [100] and 0.35 < p < 0.65
    sizes.clear()
    # never reached: doubles up to the cap (50 x 100 = 5,000 draws), p = 1 / 5,001
    p = fm.sequential_permutation_pvalue(2.0, draw, n_permutations=100, seed=0)
    assert sum(sizes) == 5_000 and sizes[:3] == [100, 100, 200]
    assert p == pytest.approx(1 / 5_001)


def test_snsr_permutation_null_is_calibrated():
    # rows of exchangeable values: about 5% of tests reject at 0.05
    rng = np.random.default_rng(0)
    ps = [fm.snsr_permutation_test(rng.random((30, 3)), n_permutations=199, seed=s)
          for s in range(200)]
    assert 0.01 <= np.mean(np.array(ps) < 0.05) <= 0.10
    strong = np.column_stack([rng.random(40) * 0.2 + 0.8, rng.random(40) * 0.2 + 0.5])
    assert fm.snsr_permutation_test(strong, n_permutations=199) < 1e-3  # sequential draws
    assert fm.snsr_permutation_test(np.ones((40, 4)), n_permutations=99) == 1.0


def test_group_gap_permutation_agrees_with_label_permutation_test():
    rng = np.random.default_rng(1)
    v = rng.random(80)
    g = rng.choice(["f", "m"], 80)
    v[g == "f"] += 0.1
    ours = fm.group_gap_permutation_test(v, g, n_permutations=5000, seed=0)
    ref = label_permutation_test(lambda a, b: fm.group_gap(a, b)[0], v, g,
                                 n_permutations=5000, seed=1)
    assert ours == pytest.approx(ref, abs=0.04)  # Monte Carlo error of both (SE ~0.01)
    assert fm.group_gap_permutation_test(v, ["f"] * 80) == 1.0


def test_group_gap_bootstrap_matches_paired_bootstrap():
    from recaudit.metrics.statistics import paired_bootstrap_ci

    rng = np.random.default_rng(3)
    v = rng.random(90)
    g = rng.choice(["young", "middle-aged", "senior"], 90)
    (d_lo, d_hi), (r_lo, r_hi) = fm.group_gap_bootstrap_ci(v, g, n_resamples=2000, seed=0)
    ref_d = paired_bootstrap_ci(lambda a, b: fm.group_gap(a, b)[0], v, g, n_resamples=2000,
                                seed=1)
    ref_r = paired_bootstrap_ci(lambda a, b: fm.group_gap(a, b)[1], v, g, n_resamples=2000,
                                seed=1)
    assert (d_lo, d_hi) == pytest.approx(ref_d, abs=0.02)
    assert (r_lo, r_hi) == pytest.approx(ref_r, abs=0.03)
    assert d_lo <= fm.group_gap(v, g)[0] <= d_hi


def test_bootstrap_rows_matches_scipy_percentile():
    from scipy import stats

    rng = np.random.default_rng(2)
    col = rng.random(60)
    lo, hi = fm.bootstrap_rows(col[:, None], lambda c: c, n_resamples=4000, seed=0)
    ref = stats.bootstrap((col,), np.mean, n_resamples=4000, method="percentile",
                          rng=np.random.default_rng(1)).confidence_interval
    assert lo[0] == pytest.approx(ref.low, abs=0.01)
    assert hi[0] == pytest.approx(ref.high, abs=0.01)
    with pytest.raises(ValueError, match="matrix"):
        fm.bootstrap_rows(np.zeros((0, 2)), lambda c: c)
