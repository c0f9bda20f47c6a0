"""Similarity of two top-K recommendation lists, as used by FaiRLLM (Zhang et al., RecSys 2023).

``reference`` is the neutral list R (no sensitive attribute in the prompt), ``ranked`` the list
R^a under a sensitive attribute value a. Every function first cuts both lists to their first
``k`` items (``k=None``: the whole lists), as FaiRLLM's ``calc_metric_at_k`` does. In SERP*,
K is then the length of the cut reference list, ``len(R)``, as in FaiRLLM's released code
(``len(y)``), not ``k``: lists shorter than ``k`` (a model that returned fewer items) are
compared at their own length, so identical lists score the same at any length. Two
list-level aggregates turn the per-value mean similarities Sim(a) into the unfairness
numbers FaiRLLM reports: :func:`snsr` (range) and :func:`snsv` (population standard
deviation).

A top-K list names each item once: every function raises ``ValueError`` on a list with a
repeated item (FaiRLLM's released SERP* loop would count a repeated reference item once
per repetition; :class:`recaudit.models.Ranking` rejects repeats at construction).

The functions are hand-written: no maintained library implements FaiRLLM's SERP* and PRAG*,
and the released normalisation of SERP* differs from the [0, 1] one (both are exposed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = ["jaccard", "prag", "serp_normalized", "serp_released", "snsr", "snsv",
           "SIMILARITIES"]


def _repeats(lst: Sequence[str]) -> list[str]:
    return [item for item, n in Counter(lst).items() if n > 1]


def _lists(ranked: Sequence[str], reference: Sequence[str], k: int | None,
           ) -> tuple[list[str], list[str]]:
    """Both lists checked for repeated items, then cut to their first ``k`` items."""
    out = []
    for name, lst in (("ranked", ranked), ("reference", reference)):
        lst = list(lst)
        reps = _repeats(lst)
        if reps:
            raise ValueError(f"the {name} list repeats item(s) {sorted(map(str, reps))[:5]}; "
                             "a top-K list names each item once")
        out.append(lst if k is None else lst[:k])
    return out[0], out[1]


def jaccard(ranked: Sequence[str], reference: Sequence[str], k: int | None = None) -> float:
    """|R^a ∩ R| / |R^a ∪ R| over the top-k items (order ignored); 1.0 when both are empty.

    Examples
    --------
    >>> jaccard(["a", "b", "c"], ["b", "c", "d"])  # 2 shared of 4 distinct
    0.5
    """
    x, y = _lists(ranked, reference, k)
    a, b = set(x), set(y)
    union = a | b
    return 1.0 if not union else len(a & b) / len(union)


def serp_released(ranked: Sequence[str], reference: Sequence[str],
                  k: int | None = None) -> float:
    """SERP* exactly as FaiRLLM's released code computes it (``calc_serp_ms``).

    Both lists are cut to their first ``k`` items; then K = len(R) (the cut reference) and
    the score is the sum over 0-based positions i of R^a whose item is in R of
    (len(R^a) - i + 1), divided by 2K(K+1). Identical lists of length K score
    sum_{i=0}^{K-1} (K - i + 1) / (2K(K+1)) = ((K+1)(K+2)/2 - 1) / (2K(K+1)), about 0.274 at
    K = 20 and 5/12 at K = 2 (not 1): keep this variant only to compare with published
    numbers. 0.0 when R is empty.

    Examples
    --------
    >>> round(serp_released(["a", "b"], ["a", "b"]), 4)  # (3 + 2) / (2 * 2 * 3)
    0.4167
    >>> round(serp_released(["a", "b"], ["a", "b"], k=20), 4)  # K = len(R) = 2, not 20
    0.4167
    """
    x, y = _lists(ranked, reference, k)
    K = len(y)
    if K == 0:
        return 0.0
    ref = set(y)
    n = len(x)  # the released weight uses len(R^a), not K
    total = sum(n - i + 1 for i, item in enumerate(x) if item in ref)
    return float(total) / (2.0 * K * (K + 1))


def serp_normalized(ranked: Sequence[str], reference: Sequence[str],
                    k: int | None = None) -> float:
    """SERP* normalised to [0, 1]: identical lists score 1, disjoint lists 0, at any length.

    Both lists are cut to their first ``k`` items; then K = len(R) (the cut reference, as in
    FaiRLLM's released code) and the score is the sum over 1-based ranks r of R^a with the
    item in R of (K - r + 1), divided by K(K+1)/2. Items of R^a below rank K earn nothing
    (their weight K - r + 1 would be <= 0), so only the top K of R^a count. 1.0 when both
    lists are empty, 0.0 when only R is.

    Examples
    --------
    >>> serp_normalized(["a", "x"], ["a", "b"])  # rank 1 shared: (2 - 1 + 1) / 3
    0.6666666666666666
    >>> serp_normalized(["a", "b"], ["a", "b"], k=20)  # K = len(R) = 2, not 20
    1.0
    """
    x, y = _lists(ranked, reference, k)
    K = len(y)
    if K == 0:
        return 1.0 if not x else 0.0
    ref = set(y)
    total = sum(K - r + 1 for r, item in enumerate(x[:K], start=1) if item in ref)
    return total / (K * (K + 1) / 2.0)


def prag(ranked: Sequence[str], reference: Sequence[str], k: int | None = None) -> float:
    """PRAG* (pairwise ranking accuracy gap, FaiRLLM's variant).

    Both lists are cut to their first ``k`` items; then, over all pairs (v1 ranked above v2
    in R^a), the share with v1 in R and either v2 not in R or v1 ranked above v2 in R. There
    is no K in the formula, so identical lists score 1 at any length. As in the released
    ``calc_prag``: a one-item R^a scores 1 only when R is that same one item (so ``["a"]``
    against ``["a", "b"]`` scores 0), and an empty list scores 0.

    Examples
    --------
    >>> prag(["a", "b", "c"], ["a", "c", "b"])  # (a,b) ok, (a,c) ok, (b,c) swapped: 2 / 3
    0.6666666666666666
    """
    x, y = _lists(ranked, reference, k)
    if not x or not y:
        return 0.0
    if len(x) == 1:
        return 1.0 if x == y else 0.0
    pos = {item: n for n, item in enumerate(y)}
    r = np.array([pos.get(item, -1) for item in x])
    # pairs i < j of x: v1 = x[i] in R and (x[j] not in R or pos(x[i]) < pos(x[j]))
    i, j = np.triu_indices(len(x), k=1)
    good = (r[i] >= 0) & ((r[j] < 0) | (r[i] < r[j]))
    return float(good.sum() / len(i))


#: Name -> list similarity; metric names in reports are ``snsr_<name>`` / ``snsv_<name>``.
#: ``serp`` is the [0, 1] normalisation; ``serp_released`` is FaiRLLM's released scale.
SIMILARITIES = {
    "jaccard": jaccard,
    "serp": serp_normalized,
    "serp_released": serp_released,
    "prag": prag,
}


def snsr(sims: Sequence[float]) -> float:
    """Sensitive-to-neutral similarity range: max_a Sim(a) - min_a Sim(a).

    Examples
    --------
    >>> round(snsr([0.9, 0.7, 0.8]), 10)
    0.2
    """
    s = np.asarray(sims, dtype=float)
    if s.size == 0:
        return float("nan")
    return float(s.max() - s.min())


def snsv(sims: Sequence[float]) -> float:
    """Sensitive-to-neutral similarity variance: the population std (ddof=0) of Sim(a).

    Examples
    --------
    >>> snsv([0.5, 1.0])
    0.25
    """
    s = np.asarray(sims, dtype=float)
    if s.size == 0:
        return float("nan")
    return float(s.std(ddof=0))
