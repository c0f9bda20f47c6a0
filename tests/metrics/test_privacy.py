"""Privacy metrics against scikit-learn / scipy on the same scores, and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from recaudit.metrics import privacy as pm


def _scores(seed: int, n: int = 300, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.normal(0, 1, n) + 0.8 * y
    if ties:
        s = np.round(s, 1)
    return s, y


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_roc_curve_and_auc_match_sklearn(seed, ties):
    s, y = _scores(seed, ties=ties)
    fpr, tpr, thr = pm.roc_curve(s, y)
    ref_fpr, ref_tpr, ref_thr = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    np.testing.assert_allclose(thr, ref_thr)
    assert pm.auc(s, y) == pytest.approx(skm.roc_auc_score(y, s))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("target", [0.0, 0.001, 0.01, 0.1, 0.5])
def test_tpr_at_fpr_is_largest_tpr_with_fpr_at_most_target(seed, ties, target):
    s, y = _scores(seed, ties=ties)
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    expected = tpr[fpr <= target].max()
    assert pm.tpr_at_fpr(s, y, target) == pytest.approx(expected)


def test_tpr_at_fpr_by_hand():
    # members 0.9, 0.7, 0.2; non-members 0.8, 0.1: at FPR 0 only 0.9 is above every negative
    s, y = [0.9, 0.8, 0.7, 0.2, 0.1], [1, 0, 1, 1, 0]
    assert pm.tpr_at_fpr(s, y, 0.0) == pytest.approx(1 / 3)
    assert pm.tpr_at_fpr(s, y, 0.49) == pytest.approx(1 / 3)
    assert pm.tpr_at_fpr(s, y, 0.5) == pytest.approx(1.0)
    assert pm.auc(s, y) == pytest.approx(4 / 6)


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_roc_summary_matches_sklearn(seed, ties):
    s, y = _scores(seed, ties=ties)
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    got = pm.roc_summary(s, y, (0.01, 0.1))
    assert got[0] == pytest.approx(skm.roc_auc_score(y, s))
    assert got[1] == pytest.approx(tpr[fpr <= 0.01].max())
    assert got[2] == pytest.approx(tpr[fpr <= 0.1].max())


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_ovo_macro_auc_matches_sklearn(n_classes):
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 200)
    logits = rng.normal(0, 1, (200, n_classes))
    logits[np.arange(200), y] += 0.7
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    if n_classes == 2:
        ref = skm.roc_auc_score(y, proba[:, 1])
    else:
        ref = skm.roc_auc_score(y, proba, multi_class="ovo", average="macro")
    assert pm.ovo_macro_auc(y, proba) == pytest.approx(ref)


@pytest.mark.parametrize("seed", range(6))
def test_ovo_macro_auc_with_ties_and_many_classes_matches_sklearn(seed):
    # rounded probabilities and repeated rows (bootstrap resamples) give many tied scores;
    # 21 classes, as MovieLens occupations
    rng = np.random.default_rng(seed)
    n_classes = [3, 7, 21][seed % 3]
    y = np.r_[np.arange(n_classes), rng.integers(0, n_classes, 300)]
    proba = rng.dirichlet(np.ones(n_classes), y.size)
    if seed % 2:
        proba = np.round(proba, 1) + 1e-3
        proba /= proba.sum(1, keepdims=True)  # scikit-learn wants rows summing to 1
    proba[rng.integers(0, y.size, 100)] = proba[0]
    ref = skm.roc_auc_score(y, proba, multi_class="ovo", average="macro")
    assert pm.ovo_macro_auc(y, proba) == pytest.approx(ref, abs=1e-12)


def test_ovo_macro_auc_needs_every_class():
    with pytest.raises(ValueError, match="every class"):
        pm.ovo_macro_auc([0, 1, 1], np.full((3, 3), 1 / 3))


def test_auc_p_value_unpaired_is_mann_whitney():
    s, y = _scores(4, n=80)
    ref = stats.mannwhitneyu(s[y == 1], s[y == 0], alternative="greater").pvalue
    assert pm.auc_p_value(s, y) == pytest.approx(ref)
    u = stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert u / ((y == 1).sum() * (y == 0).sum()) == pytest.approx(pm.auc(s, y))


def test_auc_p_value_paired_is_wilcoxon_on_differences():
    rng = np.random.default_rng(5)
    mem, non = rng.normal(0.3, 1, 40), rng.normal(0, 1, 40)
    s = np.r_[mem, non]
    y = np.r_[np.ones(40), np.zeros(40)]
    pairs = np.r_[np.arange(40), np.arange(40)]
    ref = stats.wilcoxon(mem - non, alternative="greater").pvalue
    assert pm.auc_p_value(s, y, pairs=pairs) == pytest.approx(ref)


def test_auc_p_value_chance_is_not_significant():
    rng = np.random.default_rng(6)
    s, y = rng.normal(0, 1, 400), rng.integers(0, 2, 400)
    assert pm.auc_p_value(s, y) > 0.01


@pytest.mark.parametrize("bad, match", [
    (([0.1, 0.2], [1, 1]), "both"),
    (([0.1, 0.2], [1, 2]), "labels must be"),
    (([0.1, np.nan], [1, 0]), "NaN"),
    (([0.1, 0.2, 0.3], [1, 0]), "same length"),
])
def test_roc_input_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        pm.roc_curve(*bad)


def test_tpr_at_fpr_rejects_bad_target():
    with pytest.raises(ValueError, match="fpr"):
        pm.tpr_at_fpr([0.1, 0.2], [0, 1], 1.5)


def test_grouped_bootstrap_keeps_groups_together():
    # two groups whose examples are identical copies: resampling groups, the mean can only be
    # one of three values (both A, both B, one of each)
    values = np.r_[np.zeros(5), np.ones(5)]
    groups = np.r_[np.zeros(5), np.ones(5)]
    boot = pm.grouped_bootstrap(np.mean, values, groups=groups, n_resamples=200, seed=0)
    assert set(np.round(boot, 6)) <= {0.0, 0.5, 1.0}
    lo, hi = pm.grouped_bootstrap_ci(np.mean, values, groups=groups, n_resamples=200, seed=0)
    assert lo == 0.0 and hi == 1.0


def test_grouped_bootstrap_ci_covers_auc():
    s, y = _scores(7, n=200)
    lo, hi = pm.grouped_bootstrap_ci(pm.auc, s, y, n_resamples=300, seed=1)
    assert lo < pm.auc(s, y) < hi
    assert hi - lo < 0.25


def test_logit_confidence():
    p = np.array([0.1, 0.5, 0.9])
    got = pm.logit_confidence(-np.log(p))
    np.testing.assert_allclose(got, np.log(p / (1 - p)), atol=1e-10)
    assert np.isfinite(pm.logit_confidence([0.0])).all()
    assert np.all(np.diff(pm.logit_confidence([0.1, 1.0, 5.0])) < 0)


def test_canary_exposure_by_hand():
    ref = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]  # |R| = 8 with the canary
    # rank 1 (lowest NLL): log2(8) - log2(1) = 3 bits; rank 8: 0 bits; rank 4: 1 bit
    got = pm.canary_exposure([0.5, 9.0, 3.5], ref)
    np.testing.assert_allclose(got, [3.0, 0.0, 1.0])
    # a tie counts half: one reference equal -> rank 1.5
    assert pm.canary_exposure(1.0, ref)[0] == pytest.approx(3 - np.log2(1.5))


def test_canary_exposure_extrapolated_space():
    ref = np.arange(1, 100, dtype=float)  # 99 references
    # lowest NLL: rank 1 in a space of 2**20 -> 20 bits; half the references below -> ~1 bit
    assert pm.canary_exposure(0.0, ref, space_size=2**20)[0] == pytest.approx(20.0)
    mid = pm.canary_exposure(50.0, ref, space_size=2**20)[0]
    assert mid == pytest.approx(20 - np.log2(1 + (2**20 - 1) * 49.5 / 99))
    with pytest.raises(ValueError, match="space_size"):
        pm.canary_exposure(0.0, ref, space_size=10)
    with pytest.raises(ValueError, match="reference"):
        pm.canary_exposure(0.0, [])


def test_unseen_canaries_have_low_exposure_on_average():
    rng = np.random.default_rng(8)
    ref = rng.normal(10, 1, 500)
    unseen = pm.canary_exposure(rng.normal(10, 1, 2000), ref)
    assert unseen.mean() == pytest.approx(1 / np.log(2), abs=0.1)
