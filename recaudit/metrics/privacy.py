"""Privacy metrics: membership-inference ROC sweeps and canary exposure.

ROC curves and AUC come from scikit-learn (``sklearn.metrics.roc_curve`` /
``roc_auc_score``); the functions here fix the conventions an attack evaluation needs:
higher score = "member", label 1 = member, TPR at a low FPR read without interpolation at
FPR ``<=`` the target (LiRA's reference code uses a strict ``<``; see :func:`tpr_at_fpr`),
and bootstrap CIs that resample *users* (a user contributes several examples, so examples
are not independent).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats
from sklearn import metrics as skm


def _check(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels).astype(int)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-d and the same length; got shapes "
                         f"{s.shape} and {y.shape}")
    if np.isnan(s).any():
        raise ValueError(f"{int(np.isnan(s).sum())} attack score(s) are NaN")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError(f"labels must be 0 (non-member) or 1 (member); got {np.unique(y)}")
    if len(np.unique(y)) < 2:
        raise ValueError("a ROC needs both members (1) and non-members (0) among the labels")
    return s, y


def roc_curve(scores: Sequence[float], labels: Sequence[int]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full ROC sweep of a membership attack: ``(fpr, tpr, thresholds)``.

    Every distinct score is a threshold (``drop_intermediate=False``), so low-FPR points are
    kept. Higher score means "member"; label 1 means member.

    Examples
    --------
    >>> fpr, tpr, _ = roc_curve([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    s, y = _check(scores, labels)
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thr


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """ROC-AUC of a membership attack (0.5 = chance), ``sklearn.metrics.roc_auc_score``.

    Examples
    --------
    >>> auc([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0])
    0.75
    """
    s, y = _check(scores, labels)
    return float(skm.roc_auc_score(y, s))


def tpr_at_fpr(scores: Sequence[float], labels: Sequence[int], fpr: float = 0.01) -> float:
    """True-positive rate at a false-positive rate of at most ``fpr``.

    Not interpolated: the largest TPR over the ROC's operating points (every distinct score
    a threshold, see :func:`roc_curve`) whose FPR is ``<= fpr``. This is the inclusive
    reading, as in ml_privacy_meter, without an under-count from dropped intermediate ROC
    points. It differs from the LiRA reference code (Carlini et al. 2022), which takes
    ``tpr[np.where(fpr < t)[0][-1]]``, a strict ``<``: when an operating point sits exactly
    at FPR = ``fpr`` (e.g. ``fpr = 0.01`` with 100 non-members), LiRA's value can be lower
    than this one. With ``n`` non-members the smallest non-zero FPR is ``1/n``; below it
    this is the TPR at zero false positives.

    Examples
    --------
    >>> tpr_at_fpr([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], fpr=0.0)
    0.5
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    f, t, _ = roc_curve(scores, labels)
    return float(t[f <= fpr + 1e-12].max())


def roc_summary(scores: Sequence[float], labels: Sequence[int],
                fprs: Sequence[float] = (0.01, 0.001)) -> np.ndarray:
    """``[auc, tpr_at_fpr(f) for f in fprs]`` from one numpy ROC sweep (no input checks).

    The TPR is read at FPR ``<= f``, as in :func:`tpr_at_fpr` (not LiRA's strict ``<``).

    The same numbers as :func:`auc` and :func:`tpr_at_fpr`, about 20 times faster: used
    inside bootstrap loops, where scikit-learn's input validation dominates the run time
    (hand-written for that reason; tested against scikit-learn).
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels).astype(int)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("a ROC needs both members and non-members")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), y.size - 1]  # last index of each score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    out = [float(np.trapezoid(tpr, fpr))]
    out += [float(tpr[fpr <= f + 1e-12].max()) for f in fprs]
    return np.array(out)


def ovo_macro_auc(labels: Sequence[int], proba: np.ndarray) -> float:
    """ROC-AUC of class probabilities: binary, or one-vs-one macro (Hand and Till 2001).

    Same value as ``sklearn.metrics.roc_auc_score(labels, proba, multi_class="ovo",
    average="macro")`` (``proba[:, 1]`` for two classes), ties counting one half.
    Hand-written because it runs inside bootstrap and permutation loops: the pairwise AUCs
    come from one sort per column and cumulative class counts (:func:`_pairwise_u`), about
    15 times faster than one ROC sweep per pair for 21 classes and 400 users, where
    scikit-learn's per-pair validation would dominate an audit. ``labels`` are class indices
    ``0..C-1`` (columns of ``proba``); every class must be present.

    Examples
    --------
    >>> ovo_macro_auc([0, 1, 1, 0], np.array([[.8, .2], [.3, .7], [.6, .4], [.5, .5]]))
    0.75
    """
    y = np.asarray(labels).astype(int)
    p = np.asarray(proba, dtype=float)
    n_cls = p.shape[1]
    if len(np.unique(y)) < n_cls:
        raise ValueError(f"every class must be present; got {sorted(set(y.tolist()))} of "
                         f"{n_cls}")
    if n_cls == 2:
        return float(roc_summary(p[:, 1], y, ())[0])
    counts = np.bincount(y, minlength=n_cls).astype(float)
    u = np.zeros((n_cls, n_cls))
    # columns in chunks, so that the (rows, columns, classes) arrays stay within ~4M entries
    step = max(1, 4_000_000 // max(1, y.size * n_cls))
    for start in range(0, n_cls, step):
        cols = np.arange(start, min(n_cls, start + step))
        u[cols] = _pairwise_u(p[:, cols], y, cols, n_cls)
    a = u / (counts[:, None] * counts[None, :])  # a[i, j] = A(i|j) of Hand and Till
    return float(a[~np.eye(n_cls, dtype=bool)].mean())  # = mean over pairs of (A(i|j)+A(j|i))/2


def _pairwise_u(scores: np.ndarray, y: np.ndarray, cols: np.ndarray, n_cls: int) -> np.ndarray:
    """Mann-Whitney U of column ``cols[c]``'s score, its class against each other class.

    ``out[c, j]`` = sum over examples of class ``cols[c]`` of (number of class-``j`` examples
    with a lower score in that column + half the number with an equal one): one sort per
    column and cumulative class counts, instead of one ROC sweep per pair of classes.
    """
    n = y.size
    order = np.argsort(scores, axis=0, kind="mergesort")  # (n, m) ascending per column
    s = np.take_along_axis(scores, order, axis=0)
    onehot = np.eye(n_cls)[y[order]]  # (n, m, C): class of the k-th lowest, per column
    cum = np.cumsum(onehot, axis=0)  # examples of each class with rank <= k
    rank = np.arange(n)[:, None]
    starts = np.ones(s.shape, dtype=bool)
    starts[1:] = s[1:] != s[:-1]
    ends = np.ones(s.shape, dtype=bool)
    ends[:-1] = starts[1:]
    first = np.maximum.accumulate(np.where(starts, rank, 0), axis=0)  # first rank of the tie
    last = np.minimum.accumulate(np.where(ends, rank, n - 1)[::-1], axis=0)[::-1]
    # only the examples of the column's own class count: each example once, in its column
    col, k = np.nonzero((y[order] == cols[None, :]).T)  # column-major: grouped by column
    at_most = cum[last[k, col], col]  # (n, C): class counts with a score <= this one
    below = np.where((first[k, col] > 0)[:, None], cum[np.maximum(first[k, col] - 1, 0), col],
                     0.0)
    bounds = np.r_[0, np.flatnonzero(np.diff(col)) + 1]
    return np.add.reduceat(below + at_most, bounds, axis=0) / 2


def auc_p_value(scores: Sequence[float], labels: Sequence[int], *,
                pairs: Sequence[int] | None = None) -> float:
    """One-sided p-value for "the attack does better than chance" (AUC > 0.5).

    Unpaired examples: Mann-Whitney U (``scipy.stats.mannwhitneyu``, members greater), whose
    U statistic is ``AUC * n_members * n_non_members``. Paired design (``pairs`` gives a
    pair id per example, each pair one member and one non-member of the same user): the
    Wilcoxon signed-rank test on member minus non-member score, valid when a user's two
    examples are correlated.
    """
    s, y = _check(scores, labels)
    if pairs is None:
        res = stats.mannwhitneyu(s[y == 1], s[y == 0], alternative="greater")
        return float(res.pvalue)
    pairs = np.asarray(pairs)
    mem = dict(zip(pairs[y == 1], s[y == 1]))
    non = dict(zip(pairs[y == 0], s[y == 0]))
    common = sorted(set(mem) & set(non))
    d = np.array([mem[p] - non[p] for p in common])
    if d.size == 0 or np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(d, alternative="greater", zero_method="wilcox").pvalue)


def grouped_bootstrap(statistic: Callable[..., float | np.ndarray], *arrays: np.ndarray,
                      groups: Sequence | None = None, n_resamples: int = 1000,
                      seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of ``statistic(*arrays)`` resampling *groups* (users).

    Every example of a drawn user comes along, so a user's correlated examples stay together.
    Resamples where the statistic is undefined (``ValueError``, e.g. one class only) are
    dropped. Returns an array of shape ``(n_ok,)`` or ``(n_ok, m)`` for a statistic that
    returns ``m`` numbers. Hand-written because ``scipy.stats.bootstrap`` has no cluster
    resampling.
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    groups = np.arange(n) if groups is None else np.asarray(groups)
    uniq, inv = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inv == g) for g in range(len(uniq))]
    same_size = len({len(m) for m in members}) == 1
    table = np.array(members) if same_size else None
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_resamples):
        draw = rng.integers(0, len(uniq), len(uniq))
        idx = table[draw].ravel() if same_size else np.concatenate([members[g] for g in draw])
        try:
            out.append(np.asarray(statistic(*(a[idx] for a in arrays)), dtype=float))
        except ValueError:
            continue
    return np.array(out)


def grouped_bootstrap_ci(statistic: Callable[..., float], *arrays: np.ndarray,
                         groups: Sequence | None = None, n_resamples: int = 1000,
                         confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of a scalar ``statistic(*arrays)`` resampling groups (users).

    See :func:`grouped_bootstrap`. A single group gives a zero-width interval.

    Examples
    --------
    >>> s, y, g = [0.9, 0.1, 0.8, 0.3, 0.7, 0.2], [1, 0, 1, 0, 1, 0], [0, 0, 1, 1, 2, 2]
    >>> grouped_bootstrap_ci(auc, s, y, groups=g, n_resamples=50)
    (1.0, 1.0)
    """
    groups_arr = np.arange(len(arrays[0])) if groups is None else np.asarray(groups)
    if len(np.unique(groups_arr)) < 2:
        v = float(statistic(*arrays))
        return (v, v)
    boot = grouped_bootstrap(statistic, *arrays, groups=groups_arr, n_resamples=n_resamples,
                             seed=seed)
    if boot.size == 0:
        return (float("nan"), float("nan"))
    a = (1 - confidence) / 2
    return (float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a)))


def logit_confidence(nll: Sequence[float] | np.ndarray) -> np.ndarray:
    """LiRA's per-example statistic: ``log p - log(1 - p)`` with ``p = exp(-nll)``.

    Computed stably as ``-nll - log(-expm1(-nll))``; ``nll == 0`` maps to a large finite
    value.

    Examples
    --------
    >>> float(logit_confidence([np.log(2)])[0])  # p = 0.5
    0.0
    """
    x = np.maximum(np.asarray(nll, dtype=float), 1e-12)
    return -x - np.log(-np.expm1(-x))


def canary_exposure(canary_nll: Sequence[float] | float, reference_nll: Sequence[float], *,
                    space_size: float | None = None) -> np.ndarray:
    """Exposure of each canary (Carlini et al., "The Secret Sharer", 2019), in bits.

    ``exposure = log2(|R|) - log2(rank)``, where ``rank`` is the canary's rank (1 = most
    likely) by negative log-likelihood among the candidate sequences ``R``.

    The rank is estimated by sampling: ``reference_nll`` holds the model's NLL of random
    sequences drawn like the canary (never inserted into training). Without ``space_size``
    the candidates are those references plus the canary, ``|R| = n_ref + 1`` and ``rank = 1 +
    #{references with lower NLL}`` (ties count half), so exposure lies in ``[0,
    log2(n_ref + 1)]``. With ``space_size`` (the size of the whole canary space), the rank is
    extrapolated as ``1 + (space_size - 1) * share of references with lower NLL`` (Carlini
    et al.'s sampling estimate). A canary the model has not seen has exposure near
    ``1 / ln 2 ~= 1.44`` bits on average; a memorised one approaches the maximum.

    Examples
    --------
    >>> canary_exposure([0.5, 9.0], [1.0, 2.0, 3.0]).round(3).tolist()
    [2.0, 0.0]
    """
    c = np.atleast_1d(np.asarray(canary_nll, dtype=float))
    r = np.sort(np.asarray(reference_nll, dtype=float))
    if r.size == 0:
        raise ValueError("canary_exposure needs at least one reference sequence NLL")
    below = np.searchsorted(r, c, side="left")
    ties = np.searchsorted(r, c, side="right") - below
    lower = below + 0.5 * ties
    if space_size is None:
        size = r.size + 1.0
        rank = 1.0 + lower
    else:
        if space_size < r.size + 1:
            raise ValueError(f"space_size={space_size} is smaller than the number of "
                             f"candidates ({r.size + 1})")
        size = float(space_size)
        rank = 1.0 + (size - 1.0) * lower / r.size
    return np.log2(size) - np.log2(rank)
