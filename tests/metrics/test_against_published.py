"""recaudit's metrics recomputed from the published definitions they cite (issue 16).

Each reference below is written here, in the test, from the published definition:

- ERASER's AOPC (DeYoung et al. 2020; ``compute_aopc_scores`` in its ``metrics.py``): the mean
  over the bins of ``p(y|x) - p(y|x without the top-k)``; there is no 0 bin.
- FaiRLLM's released SERP* and PRAG* (Zhang et al. 2023; ``calc_metric_at_k``,
  ``calc_serp_ms`` and ``calc_prag`` in ``process.ipynb``): both lists cut to k, then
  K = ``len(y)``, the length of the cut neutral list.
- LiRA's TPR at low FPR (Carlini et al. 2022): ``tpr[np.where(fpr < t)[0][-1]]`` on
  scikit-learn's ROC, a strict ``<``; recaudit reads ``fpr <= t`` on the full sweep.
- The Gini index: RecBole's ``GiniIndex`` divides by n, recaudit by n - 1, and Elliot's
  ``Gini`` reports 1 - G (with n - 1).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from recaudit.metrics import faithfulness as fm
from recaudit.metrics import popularity as P
from recaudit.metrics import privacy as pm
from recaudit.metrics.similarity import SIMILARITIES, jaccard, prag, serp_normalized, serp_released
from recaudit.models import Ranking

SEEDS = range(5)


# ---------------------------------------------------------------- ERASER: AOPC
def eraser_aopc(full: float, at_bins: list[float]) -> float:
    """Mean over ERASER's bins of full - (output at that bin); no 0 bin."""
    return float(np.mean([full - b for b in at_bins]))


def test_aopc_is_erasers_mean_over_bins_hand_value():
    # curve[0] = full input; curve[1], curve[2] = top-1, top-2 removed: (0.6 + 0.8) / 2
    assert eraser_aopc(1.0, [0.4, 0.2]) == pytest.approx(0.7)
    assert fm.aopc([1.0, 0.4, 0.2]) == pytest.approx(0.7)  # was (0 + 0.6 + 0.8) / 3 = 0.467


@pytest.mark.parametrize("seed", SEEDS)
def test_aopc_and_aopc_sufficiency_match_eraser_on_random_curves(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        d = int(rng.integers(1, 13))
        deletion, insertion = rng.random(d + 1), rng.random(d + 1)
        L = int(rng.integers(1, d + 1))
        assert fm.aopc(deletion, L) == pytest.approx(eraser_aopc(deletion[0],
                                                                 list(deletion[1:L + 1])))
        assert fm.aopc(deletion) == pytest.approx(eraser_aopc(deletion[0], list(deletion[1:])))
        full = float(rng.random())
        assert fm.aopc_sufficiency(full, insertion, L) == pytest.approx(
            eraser_aopc(full, list(insertion[1:L + 1])))


# ---------------------------------------------------------------- FaiRLLM: SERP*, PRAG*
def fairllm_serp(x: list[str], y: list[str], k: int) -> float:
    """Released SERP*: cut to k; sum over 0-based i of x matching y of len(x) - i + 1,
    times 0.5 / ((K + 1) K) with K = len(y) (a repeated y item counts once per repeat)."""
    x, y = x[:k], y[:k]
    if not y:
        return 0.0
    total = sum(len(x) - i + 1 for i, a in enumerate(x) for b in y if a == b)
    return total * 0.5 / ((len(y) + 1) * len(y))


def fairllm_prag(x: list[str], y: list[str], k: int) -> float:
    """Released PRAG*: cut to k; over pairs i < j of x, count v1 = x[i] in y and either
    x[j] not in y or v1 before x[j] in y; a one-item x scores x == y."""
    x, y = x[:k], y[:k]
    if not x or not y:
        return 0.0
    if len(x) == 1:
        return float(x == y)
    where = {b: n for n, b in enumerate(y)}
    good = total = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            total += 1
            a, b = where.get(x[i], -1), where.get(x[j], -1)
            good += a >= 0 and (b < 0 or a < b)
    return good / total


def normalized_serp(x: list[str], y: list[str], k: int) -> float:
    """SERP* on [0, 1] (REFERENCE.md): 1-based ranks r of x matching y earn K - r + 1 (none
    below rank K), over K(K+1)/2, with FaiRLLM's K = len(y) after the cut."""
    x, y = x[:k], y[:k]
    K = len(y)
    if K == 0:
        return float(not x)
    return sum(K - r + 1 for r, a in enumerate(x[:K], 1) if a in y) / (K * (K + 1) / 2)


def released_identical(K: int) -> float:
    """FaiRLLM's released SERP* of two identical lists of length K."""
    return sum(K - i + 1 for i in range(K)) / (2 * K * (K + 1))


def test_identical_short_lists_hand_values():
    # K = len(reference) = 2, not k = 20: was (20 + 19) / (20 * 21 / 2) = 0.186
    assert serp_normalized(["a", "b"], ["a", "b"], k=20) == 1.0
    assert normalized_serp(["a", "b"], ["a", "b"], 20) == 1.0
    # the released scale: (3 + 2) / (2 * 2 * 3) = 5 / 12
    assert serp_released(["a", "b"], ["a", "b"], k=20) == pytest.approx(5 / 12)
    assert fairllm_serp(["a", "b"], ["a", "b"], 20) == pytest.approx(5 / 12)
    assert prag(["a", "b"], ["a", "b"], k=20) == 1.0
    assert jaccard(["a", "b"], ["a", "b"], k=20) == 1.0


@pytest.mark.parametrize("K", [1, 2, 3, 7, 19, 20])
def test_identical_lists_every_length_up_to_k(K):
    items = [f"i{n}" for n in range(K)]
    assert serp_normalized(items, items, k=20) == pytest.approx(1.0)
    assert serp_released(items, items, k=20) == pytest.approx(released_identical(K))
    assert serp_released(items, items, k=20) == pytest.approx(fairllm_serp(items, items, 20))
    assert prag(items, items, k=20) == 1.0
    # a longer ranked list is cut to the top K of R^a for the [0, 1] normalisation
    assert serp_normalized(items + ["x", "y"], items, k=20) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_serp_and_prag_match_fairllm_on_random_lists_of_any_length(seed):
    rng = np.random.default_rng(seed)
    pool = [f"i{n}" for n in range(30)]
    for _ in range(40):
        k = int(rng.integers(1, 21))
        # lists shorter or longer than k, drawn from a shared pool so they overlap
        x = list(rng.choice(pool, size=int(rng.integers(0, 25)), replace=False))
        y = list(rng.choice(pool, size=int(rng.integers(0, 25)), replace=False))
        assert serp_released(x, y, k) == pytest.approx(fairllm_serp(x, y, k))
        assert prag(x, y, k) == pytest.approx(fairllm_prag(x, y, k))
        assert serp_normalized(x, y, k) == pytest.approx(normalized_serp(x, y, k))
        assert 0.0 <= serp_normalized(x, y, k) <= 1.0
        # identical lists score 1 on [0, 1] whatever their length
        if y:
            assert serp_normalized(y, y, k) == pytest.approx(1.0)


def test_repeated_items_are_rejected_not_counted():
    # FaiRLLM's loop counts a repeated reference item once per repetition ...
    assert fairllm_serp(["a"], ["a", "a"], 20) == pytest.approx(2 * 2 * 0.5 / (3 * 2))
    # ... the question cannot arise in recaudit: a repeat is an error in either list
    for fn in SIMILARITIES.values():
        with pytest.raises(ValueError, match=r"reference list repeats item\(s\) \['a'\]"):
            fn(["a", "b"], ["a", "b", "a"])
        with pytest.raises(ValueError, match=r"ranked list repeats item\(s\) \['b'\]"):
            fn(["b", "b"], ["a", "b"])
    with pytest.raises(ValueError, match=r"Ranking repeats item\(s\) \['i2'\]"):
        Ranking(("i1", "i2", "i2"))


# ---------------------------------------------------------------- LiRA: TPR at low FPR
def lira_tpr_at_fpr(scores, labels, t: float) -> float:
    """LiRA's reading: scikit-learn's ROC, the TPR at the last point with FPR strictly < t."""
    fpr, tpr, _ = skm.roc_curve(labels, scores)
    return float(tpr[np.where(fpr < t)[0][-1]])


def inclusive_tpr_at_fpr(scores, labels, t: float) -> float:
    """The largest TPR over every operating point with FPR <= t (the full sweep)."""
    fpr, tpr, _ = skm.roc_curve(labels, scores, drop_intermediate=False)
    return float(tpr[fpr <= t].max())


def test_tpr_at_fpr_is_inclusive_where_lira_is_strict():
    # 100 non-members, 10 members: 5 members, then one non-member, then 5 more members on
    # top; the operating point (FPR 0.01, TPR 1.0) sits exactly at the 1% target
    scores = np.r_[np.arange(20.0, 15.0, -1), 14.5, np.arange(14.0, 9.0, -1),
                   np.linspace(0.0, 1.0, 99)]
    labels = np.r_[np.ones(5), 0, np.ones(5), np.zeros(99)].astype(int)
    assert lira_tpr_at_fpr(scores, labels, 0.01) == 0.5  # strict: only FPR 0 qualifies
    assert pm.tpr_at_fpr(scores, labels, 0.01) == 1.0  # recaudit's <=
    assert inclusive_tpr_at_fpr(scores, labels, 0.01) == 1.0
    assert pm.roc_summary(scores, labels, (0.01,))[1] == 1.0


@pytest.mark.parametrize("seed", SEEDS)
def test_tpr_at_fpr_matches_the_inclusive_reading_and_bounds_lira(seed):
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(150), np.zeros(200)].astype(int)
    # rounded scores: ties, and operating points landing exactly on 1/200 multiples
    scores = np.round(rng.normal(size=350) + 0.8 * labels, 1)
    for t in (0.0, 0.005, 0.01, 0.05, 0.1):
        ours = pm.tpr_at_fpr(scores, labels, t)
        assert ours == pytest.approx(inclusive_tpr_at_fpr(scores, labels, t))
        assert pm.roc_summary(scores, labels, (t,))[1] == pytest.approx(ours)
        if t > 0:
            assert ours >= lira_tpr_at_fpr(scores, labels, t)


# ---------------------------------------------------------------- Gini: n, n - 1, 1 - G
def recbole_gini(counts) -> float:
    """RecBole: recommended items' counts ascending at indices n - n_rec + 1..n, sum of
    (2i - n - 1) c_i over (total) and over n."""
    c = np.sort(np.asarray([x for x in counts if x > 0], dtype=float))
    n = len(counts)
    idx = np.arange(n - c.size + 1, n + 1)
    return float(np.sum((2 * idx - n - 1) * c) / c.sum() / n)


def elliot_gini(counts) -> float:
    """Elliot's reported Gini: the same sum over n - 1, reported as 1 - G."""
    c = sorted(x for x in counts if x > 0)
    n, free = len(counts), float(sum(c))
    g = sum((2 * (j + (n - len(c)) + 1) - n - 1) * (x / free) for j, x in enumerate(c))
    return 1.0 - g / (n - 1)


def test_gini_hand_values_against_recbole_and_elliot():
    one_item = [0, 0, 0, 5]
    assert P.gini(one_item) == 1.0  # n - 1: a single item with every slot
    assert recbole_gini(one_item) == pytest.approx(0.75)  # n: (n - 1) / n
    assert elliot_gini(one_item) == pytest.approx(0.0)  # 1 - G
    equal = [2, 2, 2, 2]
    assert P.gini(equal) == 0.0 and recbole_gini(equal) == pytest.approx(0.0)
    assert elliot_gini(equal) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_gini_is_recbole_times_n_over_n_minus_1_and_one_minus_elliot(seed):
    rng = np.random.default_rng(seed)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        counts = rng.poisson(rng.uniform(0.2, 5.0), size=n)
        if counts.sum() == 0:
            counts[0] = 1
        g = P.gini(counts)
        assert g == pytest.approx(recbole_gini(counts) * n / (n - 1))
        assert g == pytest.approx(1.0 - elliot_gini(counts))
