"""Popularity-bias metrics (Elliot, RecBole; Abdollahpouri et al.): pure functions.

Item popularity ``phi(i)`` is the number of distinct training users of ``i``. The short head
is the smallest set of most popular items whose popularity sums to at least ``share`` (80%)
of all training (user, item) pairs, as in Elliot's ``Popularity.get_short_head``; the long
tail is every other catalog item (never-seen items included).

A recommendation list is a sequence of item ids; lists are treated as sets where the
published definition does (PopRSP, PopREO), so a repeated id counts once. Per-user helpers
(``user_*``) return one value per list so callers can bootstrap over users; the aggregate
functions are their published means or ratios.

Written by hand (arrays in, numbers out) because no maintained library exposes these
definitions as functions over plain lists; each is checked against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

Lists = Sequence[Sequence[str]]


def item_popularity(user_ids: Iterable[str], item_ids: Iterable[str],
                    catalog: Sequence[str] | None = None) -> pd.Series:
    """phi(i): distinct users per item, over aligned (user, item) training pairs.

    Parameters
    ----------
    user_ids, item_ids : iterables of str
        One entry per training interaction (repeats of a pair count once).
    catalog : sequence of str, optional
        Every item id; items never seen get 0. Default: the items that occur.

    Examples
    --------
    >>> item_popularity(["u1", "u1", "u2", "u2"], ["a", "a", "a", "b"], ["a", "b", "c"]).tolist()
    [2, 1, 0]
    """
    df = pd.DataFrame({"user_id": list(map(str, user_ids)), "item_id": list(map(str, item_ids))})
    if len(df) == 0:
        counts = pd.Series(dtype=int)
    else:
        counts = df.groupby("item_id")["user_id"].nunique()
    index = list(map(str, catalog)) if catalog is not None else sorted(counts.index)
    return counts.reindex(index, fill_value=0).astype(int).rename("popularity")


def short_head_split(popularity: Mapping[str, float] | pd.Series,
                     share: float = 0.8) -> tuple[frozenset[str], frozenset[str]]:
    """(short head, long tail): the most popular items covering ``share`` of interactions.

    Items are taken in decreasing popularity (ties broken by item id) until their popularity
    sums to at least ``share`` of the total; the item that crosses the line is in the head.

    Examples
    --------
    >>> head, tail = short_head_split({"a": 5, "b": 3, "c": 1, "d": 1}, share=0.8)
    >>> sorted(head), sorted(tail)
    (['a', 'b'], ['c', 'd'])
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    pop = pd.Series(popularity, dtype=float)
    if (pop < 0).any():
        raise ValueError("popularity values must be >= 0")
    order = sorted(pop.index, key=lambda i: (-pop[i], str(i)))
    total = float(pop.sum())
    head: list[str] = []
    if total > 0:
        limit = share * total
        acc = 0.0
        for i in order:
            head.append(str(i))
            acc += pop[i]
            if acc >= limit - 1e-9:
                break
    head_set = frozenset(head)
    return head_set, frozenset(str(i) for i in pop.index if str(i) not in head_set)


# ---------------------------------------------------------------- per-user values
def user_average_popularity(lists: Lists, popularity: Mapping[str, float]) -> np.ndarray:
    """Per list: mean popularity of its items (NaN for an empty list); unknown ids count 0."""
    out = np.full(len(lists), np.nan)
    for n, lst in enumerate(lists):
        if len(lst):
            out[n] = float(np.mean([popularity.get(i, 0.0) for i in lst]))
    return out


def user_tail_count(lists: Lists, tail: Collection[str]) -> np.ndarray:
    """Per list: number of long-tail items, |L_u ∩ tail|."""
    tail = set(tail)
    return np.array([sum(1 for i in set(lst) if i in tail) for lst in lists], dtype=float)


def user_tail_share(lists: Lists, tail: Collection[str]) -> np.ndarray:
    """Per list: |L_u ∩ tail| / |L_u| (NaN for an empty list)."""
    counts = user_tail_count(lists, tail)
    sizes = np.array([len(set(lst)) for lst in lists], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sizes > 0, counts / np.where(sizes > 0, sizes, 1), np.nan)


def user_group_counts(lists: Lists, group: Collection[str], exclude: Sequence[Collection[str]],
                      relevant: Sequence[Collection[str]] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per user: (recommended, available) counts of one item group, for PopRSP / PopREO.

    ``recommended`` = |L_u ∩ g| (PopRSP) or |L_u ∩ g ∩ Rel_u| (PopREO, ``relevant`` given);
    ``available`` = |g \\ Train_u| (PopRSP) or |(g ∩ Rel_u) \\ Train_u| (PopREO).
    """
    g = set(group)
    rec = np.zeros(len(lists))
    avail = np.zeros(len(lists))
    for n, lst in enumerate(lists):
        seen = set(exclude[n])
        pool = g if relevant is None else g & set(relevant[n])
        rec[n] = len(set(lst) & pool)
        avail[n] = len(pool - seen)
    return rec, avail


def user_popularity_lift(lists: Lists, histories: Sequence[Sequence[str]],
                         popularity: Mapping[str, float]) -> np.ndarray:
    """Per user: mean popularity of recommended items / mean popularity of the history.

    1 = calibrated to the user's own taste for popularity; > 1 = pushed towards popular
    items. NaN when the list is empty or the history's mean popularity is 0.
    """
    rec = user_average_popularity(lists, popularity)
    hist = user_average_popularity(histories, popularity)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(hist > 0, rec / np.where(hist > 0, hist, 1), np.nan)


# ---------------------------------------------------------------- aggregate metrics
def arp(lists: Lists, popularity: Mapping[str, float]) -> float:
    """Average recommendation popularity: mean_u sum_{i in L_u} phi(i) / |L_u|.

    Examples
    --------
    >>> arp([["a", "b"], ["c"]], {"a": 4, "b": 2, "c": 1})
    2.0
    """
    return float(np.nanmean(user_average_popularity(lists, popularity)))


def aplt(lists: Lists, tail: Collection[str]) -> float:
    """Average percentage of long-tail items: mean_u |L_u ∩ tail| / |L_u|.

    Examples
    --------
    >>> aplt([["a", "c"], ["c", "d"]], tail={"c", "d"})
    0.75
    """
    return float(np.nanmean(user_tail_share(lists, tail)))


def aclt(lists: Lists, tail: Collection[str]) -> float:
    """Average coverage of long-tail items: mean_u |L_u ∩ tail| (a count).

    Examples
    --------
    >>> aclt([["a", "c"], ["c", "d"]], tail={"c", "d"})
    1.5
    """
    return float(np.mean(user_tail_count(lists, tail)))


def rsp_from_counts(rec_head: float, avail_head: float, rec_tail: float,
                    avail_tail: float) -> float:
    """std(P) / mean(P) for P = (rec_head / avail_head, rec_tail / avail_tail).

    Population standard deviation (``numpy.std``, as Elliot). NaN when a denominator is 0.
    """
    if avail_head <= 0 or avail_tail <= 0:
        return float("nan")
    p = np.array([rec_head / avail_head, rec_tail / avail_tail])
    if p.mean() == 0:
        return float("nan")
    return float(np.std(p) / np.mean(p))


def pop_rsp(lists: Lists, head: Collection[str], tail: Collection[str],
            train: Sequence[Collection[str]]) -> float:
    """Popularity-based ranking-based statistical parity (Zhu et al. 2021; Elliot).

    P_g = sum_u |L_u ∩ g| / sum_u |g \\ Train_u| for g in {head, tail}; RSP = std(P)/mean(P).
    0 = both groups recommended in proportion to their availability.
    """
    rh, ah = user_group_counts(lists, head, train)
    rt, at = user_group_counts(lists, tail, train)
    return rsp_from_counts(rh.sum(), ah.sum(), rt.sum(), at.sum())


def pop_reo(lists: Lists, head: Collection[str], tail: Collection[str],
            train: Sequence[Collection[str]], relevant: Sequence[Collection[str]]) -> float:
    """Popularity-based ranking-based equal opportunity (Zhu et al. 2021; Elliot).

    As :func:`pop_rsp`, counting only relevant (test) items:
    P_g = sum_u |L_u ∩ g ∩ Rel_u| / sum_u |(g ∩ Rel_u) \\ Train_u|.
    """
    rh, ah = user_group_counts(lists, head, train, relevant)
    rt, at = user_group_counts(lists, tail, train, relevant)
    return rsp_from_counts(rh.sum(), ah.sum(), rt.sum(), at.sum())


def recommendation_counts(lists: Lists, catalog: Sequence[str]) -> np.ndarray:
    """How often each catalog item appears across the lists (catalog order)."""
    index = {str(i): n for n, i in enumerate(catalog)}
    counts = np.zeros(len(index))
    for lst in lists:
        for i in lst:
            if i in index:
                counts[index[i]] += 1
    return counts


def gini(counts: Sequence[float] | np.ndarray) -> float:
    """Gini index of recommendation counts over ALL catalog items (0 = equal exposure).

    G = sum_j (2j - n - 1) x_(j) / ((n - 1) sum x), x sorted ascending, j = 1..n, n = catalog
    size (never-recommended items count 0). This is the inequality G with the ``n - 1``
    normalisation, so G = 1 exactly when a single item gets every slot. Libraries differ:

    - RecBole's ``GiniIndex`` (Zhao et al., CIKM 2021) divides by ``n`` instead of
      ``n - 1``: its value is ``(n - 1) / n`` times this one (at most ``(n - 1) / n``).
    - Elliot's ``Gini`` (Anelli et al., SIGIR 2021) computes this same G with ``n - 1``
      and reports ``1 - G`` (1 = equal exposure, a diversity score).

    Examples
    --------
    >>> gini([1, 1, 1, 1])
    0.0
    >>> gini([0, 0, 0, 5])
    1.0
    """
    x = np.sort(np.asarray(counts, dtype=float))
    n = x.size
    if n < 2 or x.sum() <= 0:
        return 0.0
    if (x < 0).any():
        raise ValueError("counts must be >= 0")
    j = np.arange(1, n + 1)
    return float(np.sum((2 * j - n - 1) * x) / ((n - 1) * x.sum()))


def item_coverage(lists: Lists, catalog: Sequence[str]) -> float:
    """Distinct recommended catalog items / catalog size.

    Examples
    --------
    >>> item_coverage([["a", "b"], ["b"]], ["a", "b", "c", "d"])
    0.5
    """
    if not len(catalog):
        return 0.0
    return float(np.mean(recommendation_counts(lists, catalog) > 0))


def popularity_lift(lists: Lists, histories: Sequence[Sequence[str]],
                    popularity: Mapping[str, float]) -> float:
    """Mean over users of :func:`user_popularity_lift` (1 = calibrated, > 1 = pushes popular).

    Examples
    --------
    >>> popularity_lift([["a"], ["b"]], [["b"], ["b"]], {"a": 4, "b": 2})
    1.5
    """
    return float(np.nanmean(user_popularity_lift(lists, histories, popularity)))
