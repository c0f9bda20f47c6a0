"""Position-bias metrics (Hou et al., LLMRank, ECIR 2024): pure functions.

- :func:`position_gap`: max minus min over positions of the mean per-position value (e.g.
  NDCG@10 with the held-out item placed at each position);
- :func:`friedman_p`: the p-value that positions differ at all (Friedman test, users as
  blocks);
- :func:`pairwise_kendall_tau` and :func:`pairwise_top1_agreement`: agreement between the
  rankings of the same candidates presented in different orders;
- :func:`uniformity_tv`: total-variation distance of a histogram from uniform.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from scipy import stats


def position_gap(values: np.ndarray) -> float:
    """Max minus min of the column means of a (users x positions) array (NaNs ignored).

    Examples
    --------
    >>> position_gap(np.array([[1.0, 0.5, 0.0], [1.0, 0.5, 0.5]]))
    0.75
    """
    means = np.nanmean(np.asarray(values, dtype=float), axis=0)
    return float(np.nanmax(means) - np.nanmin(means))


def friedman_p(values: np.ndarray) -> float:
    """Friedman test p-value that positions differ (users are blocks, positions treatments).

    ``scipy.stats.friedmanchisquare`` over the columns, with its tie correction; 1.0 when
    every user has the same value at every position (nothing to rank). A rank test with an
    analytic p-value, so a strong effect stays significant after Holm correction across a
    large audit (a permutation p-value is floored at 1 / (n_permutations + 1)).

    Examples
    --------
    >>> x = np.tile([1.0, 0.5, 0.0], (20, 1))  # every user: earlier is better
    >>> friedman_p(x) < 1e-6
    True
    >>> friedman_p(np.ones((20, 3)))
    1.0
    """
    x = np.asarray(values, dtype=float)
    if x.ndim != 2 or x.shape[1] < 3 or x.shape[0] < 2:
        raise ValueError(f"values must be (users >= 2, positions >= 3), got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError("values contain NaN; drop the users with missing positions first")
    if np.all(x == x[:, :1]):
        return 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        p = stats.friedmanchisquare(*x.T).pvalue
    return 1.0 if np.isnan(p) else float(p)


def rank_vector(ranked: Sequence[str], items: Sequence[str]) -> np.ndarray:
    """0-based rank of each of ``items`` in ``ranked`` (missing items share the last rank)."""
    pos = {i: n for n, i in enumerate(ranked)}
    return np.array([pos.get(i, len(ranked)) for i in items], dtype=float)


def pairwise_kendall_tau(rankings: Sequence[Sequence[str]], items: Sequence[str]) -> float:
    """Mean Kendall tau-b (``scipy.stats.kendalltau``) over every pair of rankings of the
    same ``items`` (1 = identical orders).

    Examples
    --------
    >>> pairwise_kendall_tau([["a", "b", "c"], ["a", "b", "c"], ["c", "b", "a"]],
    ...                      ["a", "b", "c"])  # (1 - 1 - 1) / 3
    -0.3333333333333333
    """
    vecs = [rank_vector(r, items) for r in rankings]
    taus = []
    for a, b in combinations(vecs, 2):
        tau = stats.kendalltau(a, b).statistic
        taus.append(1.0 if np.isnan(tau) and np.array_equal(a, b) else tau)
    return float(np.nanmean(taus)) if taus else float("nan")


def pairwise_top1_agreement(rankings: Sequence[Sequence[str]]) -> float:
    """Share of pairs of rankings whose first item is the same.

    Examples
    --------
    >>> pairwise_top1_agreement([["a", "b"], ["a", "c"], ["b", "a"]])  # 1 of 3 pairs
    0.3333333333333333
    """
    tops = [r[0] if len(r) else None for r in rankings]
    pairs = list(combinations(tops, 2))
    if not pairs:
        return float("nan")
    return float(np.mean([a is not None and a == b for a, b in pairs]))


def uniformity_tv(counts: Sequence[float]) -> float:
    """Total-variation distance between a histogram and the uniform distribution.

    0 = perfectly uniform; 1 - 1/m when all mass sits in one of m bins.

    Examples
    --------
    >>> uniformity_tv([4, 0, 0, 0])  # 0.5 * (0.75 + 3 * 0.25)
    0.75
    """
    c = np.asarray(counts, dtype=float)
    if c.sum() <= 0:
        return float("nan")
    p = c / c.sum()
    return float(0.5 * np.abs(p - 1.0 / c.size).sum())
