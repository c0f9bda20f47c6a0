"""Tests of the difference between two arms (models, mitigations) on one metric.

- :func:`paired_bootstrap`: per-unit (user) paired differences, resampling units;
- :func:`ci_z_test`: a z-test with standard errors read off per-seed bootstrap CIs;
- :func:`seed_test`: the more conservative of Welch's t-test over seeds and :func:`ci_z_test`;
- :func:`holm_ignoring_nan`: Holm over the testable pairs of one metric.

``a`` and ``b`` of the seed tests are per-seed runs: a mapping with ``"value"``, ``"ci_low"``
and ``"ci_high"``, each one number per seed (a dict of arrays, or a DataFrame's columns).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from .statistics import holm

#: Per-seed runs of one arm on one metric: ``{"value": [...], "ci_low": [...],
#: "ci_high": [...]}``, one entry per seed.
Runs = Mapping[str, Any]

_Z95 = 1.959964


def paired_bootstrap(diff: Sequence[float] | np.ndarray, *, n_resamples: int, seed: int
                     ) -> tuple[float, float, float]:
    """(CI low, CI high, two-sided p) of the mean of paired differences, resampling units.

    p is the share of bootstrap means at least as far from the observed mean as the observed
    mean is from 0 (the bootstrap distribution shifted to the null; Efron & Tibshirani 1993,
    16.4), with the (b + 1) / (B + 1) estimate. Hand-written: scipy has no paired test of
    this form. Constant differences give a zero-width CI and p = 1 (all 0) or 0 (else); fewer
    than 2 units give p = NaN.
    """
    d = np.asarray(diff, dtype=float)
    mean = float(d.mean())
    if d.size < 2 or np.all(d == d[0]):
        return mean, mean, (1.0 if mean == 0 else 0.0) if d.size >= 2 else float("nan")
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, d.size, (n_resamples, d.size))].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    extreme = np.sum(np.abs(boot - mean) >= abs(mean) - 1e-15)
    return float(lo), float(hi), float((extreme + 1) / (n_resamples + 1))


def _values(runs: Runs) -> np.ndarray:
    return np.asarray(runs["value"], dtype=float)


def ci_z_test(a: Runs, b: Runs) -> tuple[str, float, float, float]:
    """(test, CI low, CI high, p) of mean(a) - mean(b), standard errors from the 95% CIs.

    Each seed's standard error is its CI width / (2 x 1.96); the mean over n seeds has
    ``sqrt(sum se^2) / n``. A missing CI bound: ``"untestable"`` and NaNs; both standard errors
    0: ``"exact"`` with p = 1 (equal means) or 0.
    """
    diff = float(_values(a).mean() - _values(b).mean())
    se = []
    for runs in (a, b):
        width = (np.asarray(runs["ci_high"], dtype=float)
                 - np.asarray(runs["ci_low"], dtype=float))
        if np.any(np.isnan(width)):
            return "untestable", float("nan"), float("nan"), float("nan")
        se.append(math.sqrt(np.sum((width / (2 * _Z95)) ** 2)) / len(width))
    s = math.hypot(*se)
    if s == 0:
        return "exact", diff, diff, (1.0 if diff == 0 else 0.0)
    p = float(2 * stats.norm.sf(abs(diff) / s))
    return "z_from_bootstrap_ci", diff - _Z95 * s, diff + _Z95 * s, p


def seed_test(a: Runs, b: Runs) -> tuple[str, float, float, float]:
    """(test, CI low, CI high, p) of mean(a) - mean(b) from per-seed runs.

    Welch's t-test over seeds when both arms have >= 2 seeds that vary, and
    :func:`ci_z_test`; the more conservative (larger p) is reported: seeds that re-sample the
    same users can vary less than the users do.
    """
    z = ci_z_test(a, b)
    va, vb = _values(a), _values(b)
    scale = 1e-9 * max(1.0, float(np.abs(np.concatenate([va, vb])).max()))
    if len(va) >= 2 and len(vb) >= 2 and max(va.std(ddof=1), vb.std(ddof=1)) > scale:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.ttest_ind(va, vb, equal_var=False)
            ci = res.confidence_interval()
        welch = ("welch_t_over_seeds", float(ci.low), float(ci.high), float(res.pvalue))
        if math.isnan(z[3]) or (not math.isnan(welch[3]) and welch[3] >= z[3]):
            return welch
    return z


def holm_ignoring_nan(p_values: Sequence[float]) -> np.ndarray:
    """Holm-adjusted p-values over the non-NaN entries; NaN (an untestable pair) stays NaN.

    Examples
    --------
    >>> holm_ignoring_nan([0.01, float("nan"), 0.04]).round(2).tolist()
    [0.02, nan, 0.04]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    out[ok] = holm(p[ok])
    return out
