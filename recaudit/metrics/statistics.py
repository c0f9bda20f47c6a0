"""Confidence intervals, significance tests and multiple-testing correction.

Bootstrap CIs use :func:`scipy.stats.bootstrap` (percentile method, resampling users).
Label-permutation tests shuffle group labels; :func:`holm` is Holm's step-down correction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

#: Most resampled values held at once by a bootstrap (32 MiB of float64): resamples are drawn
#: in blocks this size, so memory stays flat however many users there are. Results are the
#: same as drawing every resample at once (the same random stream, in the same order).
MAX_RESAMPLE_VALUES = 1 << 22


def bootstrap_ci(values: Sequence[float] | np.ndarray, statistic: Callable = np.mean, *,
                 n_resamples: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` over independent units (users).

    Examples
    --------
    >>> lo, hi = bootstrap_ci([0, 1, 1, 0, 1, 1, 1, 0], seed=0)
    >>> lo < 0.625 < hi
    True
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (float("nan"), float("nan"))
    if x.size == 1 or np.all(x == x[0]):
        v = float(statistic(x))
        return (v, v)
    res = stats.bootstrap((x,), statistic, n_resamples=n_resamples, confidence_level=confidence,
                          method="percentile", vectorized=False,
                          batch=max(1, min(n_resamples, MAX_RESAMPLE_VALUES // x.size)),
                          rng=np.random.default_rng(seed))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def paired_bootstrap_ci(statistic: Callable[..., float], *arrays: np.ndarray,
                        n_resamples: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> tuple[float, float]:
    """Bootstrap CI of ``statistic(*arrays)`` resampling the same rows of every array.

    Use when a statistic needs several aligned per-user arrays (a group gap needs values and
    labels; a ROC-AUC needs scores and labels).
    """
    arrays = tuple(np.asarray(a) for a in arrays)
    n = len(arrays[0])
    if n < 2:
        v = float(statistic(*arrays))
        return (v, v)
    rng = np.random.default_rng(seed)
    boot = np.empty(n_resamples)
    for b in range(n_resamples):
        idx = rng.integers(0, n, n)
        try:
            boot[b] = statistic(*(a[idx] for a in arrays))
        except ValueError:  # a resample without both classes, say
            boot[b] = np.nan
    boot = boot[~np.isnan(boot)]
    if boot.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1 - confidence) / 2
    return (float(np.quantile(boot, alpha)), float(np.quantile(boot, 1 - alpha)))


def label_permutation_test(statistic: Callable[[np.ndarray, np.ndarray], float],
                           values: np.ndarray, labels: np.ndarray, *,
                           n_permutations: int = 1000, seed: int = 0) -> float:
    """p-value of ``statistic(values, labels)`` against shuffled labels (one-sided: large is
    extreme; pass an absolute-valued statistic for a two-sided test).

    Uses the (b + 1) / (n + 1) estimate so p is never 0.
    """
    values = np.asarray(values)
    labels = np.asarray(labels)
    observed = statistic(values, labels)
    rng = np.random.default_rng(seed)
    exceed = 0
    for _ in range(n_permutations):
        if statistic(values, rng.permutation(labels)) >= observed - 1e-12:
            exceed += 1
    return (exceed + 1) / (n_permutations + 1)


def one_sample_test(values: Sequence[float], *, null: float = 0.0,
                    alternative: str = "greater") -> float:
    """p-value that the mean of ``values`` exceeds ``null`` (Wilcoxon signed-rank; exact
    0 differences dropped). Returns 1.0 when every value equals the null."""
    x = np.asarray(values, dtype=float) - null
    x = x[~np.isnan(x)]
    if x.size == 0 or np.all(x == 0):
        return 1.0
    return float(stats.wilcoxon(x, alternative=alternative, zero_method="wilcox").pvalue)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, (m - rank) * p[idx])
        adjusted[idx] = min(1.0, running)
    return adjusted
