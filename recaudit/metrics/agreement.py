"""Agreement between two ranked lists: Jaccard@k, rank-biased overlap, Kendall's tau.

Pure functions over item-id sequences (best first, no duplicates). They measure how much a
recommendation list changes under a perturbation: 1 means identical lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import stats


def _check_unique(ranked: Sequence, name: str) -> None:
    if len(set(ranked)) != len(ranked):
        dup = sorted({str(x) for x in ranked if list(ranked).count(x) > 1})[:5]
        raise ValueError(f"{name} has duplicate item(s) {dup}; ranked lists must not repeat "
                         "items")


def jaccard_at_k(a: Sequence[str], b: Sequence[str], k: int | None = None) -> float:
    """|A ∩ B| / |A ∪ B| over the top ``k`` of each list (all of it when ``k`` is None).

    Two empty lists agree perfectly (1.0).

    Examples
    --------
    >>> jaccard_at_k(["a", "b", "c"], ["b", "c", "d"])
    0.5
    >>> jaccard_at_k(["a", "b", "c"], ["c", "x", "a"], k=2)
    0.0
    """
    a_set = set(a[:k] if k is not None else a)
    b_set = set(b[:k] if k is not None else b)
    union = a_set | b_set
    if not union:
        return 1.0
    return len(a_set & b_set) / len(union)


def rbo(a: Sequence[str], b: Sequence[str], p: float = 0.9, k: int | None = None) -> float:
    """Extrapolated rank-biased overlap RBO_ext (Webber, Moffat and Zobel, TOIS 2010).

    With ``X_d`` the overlap of the two prefixes of depth ``d`` and the shorter list ``S``
    (length s) and longer ``L`` (length l), eq. (32) of the paper::

        RBO_ext = (1-p)/p * ( sum_{d=1..l} X_d/d p^d
                              + sum_{d=s+1..l} X_s (d-s)/(s d) p^d )
                  + ((X_l - X_s)/l + X_s/s) p^l

    which for equal lengths (s = l = k) is eq. (30): ``X_k/k p^k + (1-p)/p sum X_d/d p^d``.
    For d > s, ``X_d`` counts the overlap of all of S with the depth-d prefix of L. It is 1
    for identical lists and 0 for disjoint ones; ``p`` is the persistence (the expected
    depth a user looks is 1/(1-p): 10 for p = 0.9). Hand-written because neither scipy nor
    scikit-learn has RBO.

    Examples
    --------
    >>> rbo(["a", "b", "c"], ["a", "b", "c"])
    1.0
    >>> round(rbo(["a", "b"], ["b", "a"], p=0.5), 4)
    0.5
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"rbo persistence p must be in (0, 1), got {p}")
    if k is not None:
        a, b = a[:k], b[:k]
    a, b = list(a), list(b)
    _check_unique(a, "first list")
    _check_unique(b, "second list")
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    s, l_ = len(short), len(long_)
    seen_s: set = set()
    seen_l: set = set()
    overlap = 0
    x = np.zeros(l_ + 1)  # x[d] = X_d
    for d in range(1, l_ + 1):
        item_l = long_[d - 1]
        if d <= s:
            item_s = short[d - 1]
            if item_s == item_l:
                overlap += 1
            else:
                overlap += (item_s in seen_l) + (item_l in seen_s)
            seen_s.add(item_s)
        else:
            overlap += item_l in seen_s
        seen_l.add(item_l)
        x[d] = overlap
    d = np.arange(1, l_ + 1)
    weights = p ** d
    total = float(np.sum(x[1:] / d * weights))
    x_s, x_l = x[s], x[l_]
    if l_ > s:
        dd = np.arange(s + 1, l_ + 1)
        total += float(np.sum(x_s * (dd - s) / (s * dd) * p ** dd))
    value = (1 - p) / p * total + ((x_l - x_s) / l_ + x_s / s) * p ** l_
    return float(min(1.0, max(0.0, value)))


def kendall_tau(a: Sequence[str], b: Sequence[str], *,
                over: Literal["union", "intersection"] = "union",
                k: int | None = None) -> float:
    """Kendall's tau-b between the rankings two top-k lists give their items.

    ``over="intersection"``: only items in both lists, ranked by their position in each
    (undefined, NaN, with fewer than 2 shared items). ``over="union"``: every item in either
    list; an item missing from a list is tied at the bottom of it (rank = its length), the
    "top-k with ties" convention of Fagin, Kumar and Sivakumar (2003). The coefficient is
    :func:`scipy.stats.kendalltau` (tau-b, which handles those ties).

    Examples
    --------
    >>> kendall_tau(["a", "b", "c"], ["a", "b", "c"])
    1.0
    >>> kendall_tau(["a", "b", "c"], ["c", "b", "a"], over="intersection")
    -1.0
    """
    if k is not None:
        a, b = a[:k], b[:k]
    a, b = list(a), list(b)
    _check_unique(a, "first list")
    _check_unique(b, "second list")
    pos_a = {x: n for n, x in enumerate(a)}
    pos_b = {x: n for n, x in enumerate(b)}
    if over == "intersection":
        items = [x for x in a if x in pos_b]
    elif over == "union":
        items = a + [x for x in b if x not in pos_a]
    else:
        raise ValueError(f"kendall_tau 'over' must be 'union' or 'intersection', got {over!r}")
    if len(items) < 2:
        return float("nan")
    ra = [pos_a.get(x, len(a)) for x in items]
    rb = [pos_b.get(x, len(b)) for x in items]
    if len(set(ra)) < 2 or len(set(rb)) < 2:
        return float("nan")
    return float(stats.kendalltau(ra, rb).statistic)
