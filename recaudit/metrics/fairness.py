"""Group fairness metrics: disaggregated utility (through fairlearn) and provider exposure.

- Consumer side: :func:`utility_frame` wraps fairlearn's :class:`~fairlearn.metrics.MetricFrame`
  around per-user utilities (NDCG@K, HR@K) so ``by_group``, ``difference()`` and ``ratio()``
  come from the reference implementation; :func:`group_means` / :func:`group_gap` are the
  same numbers in plain numpy, for the thousands of resamples a bootstrap or a permutation
  test needs (MetricFrame costs milliseconds per call). Tests check they agree.
- Within-user label permutation (:func:`snsr_permutation_test`): the null distribution of
  FaiRLLM's SNSR when the attribute value does not matter; permutations are drawn
  sequentially (:func:`sequential_permutation_pvalue`) so strong effects get p-values small
  enough for Holm's correction across an audit.
- Provider side: position-discounted exposure 1/log2(1 + rank) (Singh and Joachims 2018;
  FairRec-style item groups), each group's share of it, and its ratio to the group's share
  of the catalog or of relevant items (:func:`disparate_exposure`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "bootstrap_rows", "disparate_exposure", "exposure_by_group", "group_gap",
    "group_gap_bootstrap_ci", "group_gap_permutation_test", "group_means", "item_exposure", "min_max_ratio",
    "permutation_pvalue", "position_discount", "row_permutation_null",
    "sequential_permutation_pvalue", "share_by_group", "snsr_permutation_test",
    "utility_frame",
]


# ---------------------------------------------------------------------------- consumer side
def utility_frame(utilities: Mapping[str, Sequence[float]], groups: Sequence[str], *,
                  name: str = "group"):
    """A fairlearn ``MetricFrame`` of per-user utilities disaggregated by ``groups``.

    Each metric is the mean of a per-user value (NDCG@K, HR@K, ...). ``y_true`` carries row
    indices and each metric averages its own per-user values over the rows it receives, so
    ``by_group``, ``overall``, ``difference()`` (max - min of group means) and ``ratio()``
    (min / max) are fairlearn's own.

    Examples
    --------
    >>> mf = utility_frame({"ndcg": [0.1, 0.5, 0.3, 0.9]}, ["a", "b", "a", "b"])
    >>> mf.by_group["ndcg"].round(2).tolist(), round(float(mf.difference()["ndcg"]), 2)
    ([0.2, 0.7], 0.5)
    """
    from fairlearn.metrics import MetricFrame

    groups = np.asarray(groups, dtype=object).astype(str)
    metrics: dict[str, Callable[..., float]] = {}
    for key, vals in utilities.items():
        v = np.asarray(vals, dtype=float)
        if v.shape != groups.shape:
            raise ValueError(f"utility {key!r} has {v.size} values but there are "
                             f"{groups.size} group labels; pass one value per user")
        metrics[key] = _mean_over_rows(v)
    rows = np.arange(groups.size)
    return MetricFrame(metrics=metrics, y_true=rows, y_pred=rows,
                       sensitive_features=pd.Series(groups, name=name))


def _mean_over_rows(values: np.ndarray) -> Callable[..., float]:
    def metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(np.mean(values[np.asarray(y_true, dtype=int)]))

    return metric


def group_means(values: Sequence[float], groups: Sequence[str]) -> dict[str, float]:
    """Mean of ``values`` per group label (sorted labels); plain numpy, for resampling.

    Examples
    --------
    >>> group_means([1.0, 0.0, 1.0], ["x", "y", "x"])
    {'x': 1.0, 'y': 0.0}
    """
    v = np.asarray(values, dtype=float)
    labels, codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    sums = np.bincount(codes, weights=v, minlength=len(labels))
    counts = np.bincount(codes, minlength=len(labels))
    return {str(g): float(s / c) for g, s, c in zip(labels, sums, counts)}


def group_gap(values: Sequence[float], groups: Sequence[str]) -> tuple[float, float]:
    """(difference, ratio) of group means: max - min and min / max (fairlearn's
    ``between_groups`` definitions; the ratio is 1.0 when every mean is 0).

    Examples
    --------
    >>> [round(x, 4) for x in group_gap([0.1, 0.5, 0.3, 0.9], ["a", "b", "a", "b"])]
    [0.5, 0.2857]
    """
    m = np.array(list(group_means(values, groups).values()))
    if m.size == 0:
        return (float("nan"), float("nan"))
    hi, lo = float(m.max()), float(m.min())
    return (hi - lo, 1.0 if hi == 0 else lo / hi)


def permutation_pvalue(observed: float, null: Sequence[float]) -> float:
    """One-sided p-value of ``observed`` against permutation statistics (large is extreme):
    (b + 1) / (n + 1), b = null values >= observed (so p is never 0).

    Examples
    --------
    >>> permutation_pvalue(0.5, [0.5, 0.5, 0.5])
    1.0
    >>> permutation_pvalue(0.9, [0.1, 0.2, 0.95])
    0.5
    """
    null = np.asarray(null, dtype=float)
    null = null[~np.isnan(null)]
    if null.size == 0 or np.isnan(observed):
        return float("nan")
    exceed = int(np.sum(null >= observed - 1e-12))
    return (exceed + 1) / (null.size + 1)


def sequential_permutation_pvalue(observed: float,
                                  draw_null: Callable[[int, np.random.Generator], np.ndarray],
                                  *, n_permutations: int = 1000,
                                  max_permutations: int | None = None, min_exceed: int = 10,
                                  seed: int = 0) -> float:
    """Permutation p-value that keeps drawing while the observed value is rarely reached.

    ``draw_null(n, rng)`` returns ``n`` permutation statistics. Starts with
    ``n_permutations`` and doubles until ``min_exceed`` of them reach the observed value or
    ``max_permutations`` (default 50 x ``n_permutations``, at most 20,000) are drawn; returns
    (b + 1) / (n + 1) over all draws. Non-significant results stop early; a strong effect
    gets a p-value small enough to survive Holm's correction across a whole audit, which
    1 / (n + 1) with a few hundred permutations would not (the stopping idea of Besag and
    Clifford, Biometrika 1991).

    Examples
    --------
    >>> draw = lambda n, rng: rng.normal(size=n)
    >>> sequential_permutation_pvalue(5.0, draw, n_permutations=100, seed=0) < 1e-3
    True
    >>> sequential_permutation_pvalue(0.0, draw, n_permutations=100, seed=0) > 0.3
    True
    """
    if np.isnan(observed):
        return float("nan")
    if max_permutations is None:
        max_permutations = max(n_permutations, min(50 * n_permutations, 20_000))
    rng = np.random.default_rng(seed)
    exceed, total, n = 0, 0, n_permutations
    while n > 0:
        null = np.asarray(draw_null(n, rng), dtype=float)
        null = null[~np.isnan(null)]
        exceed += int(np.sum(null >= observed - 1e-12))
        total += null.size
        if exceed >= min_exceed or total >= max_permutations or null.size == 0:
            break
        n = min(total, max_permutations - total)
    return (exceed + 1) / (total + 1)


def row_permutation_null(matrix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws of the range of column means (SNSR) under within-row shuffles.

    ``matrix`` is (users x values): ``matrix[u, a]`` compares user u's list under value a
    with u's neutral list (or scores that list on held-out items). Under the null "the
    stated value does not change the list beyond what any value would", the entries of each
    row are exchangeable; each permutation shuffles every row independently and recomputes
    max_a mean_u - min_a mean_u. Vectorised in chunks of permutations.
    """
    m = np.asarray(matrix, dtype=float)
    if np.isnan(m).any():
        raise ValueError("row_permutation_null needs a matrix without NaN")
    out = np.empty(n)
    chunk = max(1, 2_000_000 // max(1, m.size))
    for start in range(0, n, chunk):
        b = min(chunk, n - start)
        perm = rng.permuted(np.broadcast_to(m, (b, *m.shape)), axis=2)
        means = perm.mean(axis=1)
        out[start:start + b] = means.max(axis=1) - means.min(axis=1)
    return out


def group_gap_bootstrap_ci(values: Sequence[float], groups: Sequence[str], *,
                           n_resamples: int = 1000, seed: int = 0,
                           confidence: float = 0.95) -> tuple[tuple[float, float],
                                                              tuple[float, float]]:
    """Percentile bootstrap CIs (resampling users) of the group-mean gap and ratio.

    Returns ((diff_low, diff_high), (ratio_low, ratio_high)). A resample that misses a
    group compares the groups it has (as :func:`group_gap` would). Vectorised: group sums
    of every resample from one product with the one-hot group matrix.

    Examples
    --------
    >>> v = np.r_[np.ones(30), np.zeros(30)]
    >>> group_gap_bootstrap_ci(v, ["a"] * 30 + ["b"] * 30, n_resamples=200)[0]
    (1.0, 1.0)
    """
    v = np.asarray(values, dtype=float)
    labels, codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    n = v.size
    if n < 2 or labels.size < 2:
        d, r = group_gap(v, groups) if n else (float("nan"), float("nan"))
        return (d, d), (r, r)
    rng = np.random.default_rng(seed)
    onehot = np.eye(labels.size)[codes]
    diffs, ratios = np.empty(n_resamples), np.empty(n_resamples)
    chunk = max(1, 1_000_000 // n)
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(b, n))
        counts = onehot[idx].sum(axis=1)  # (b, groups)
        sums = np.einsum("bn,bng->bg", v[idx], onehot[idx])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
            hi, lo = np.nanmax(means, axis=1), np.nanmin(means, axis=1)
            diffs[start:start + b] = hi - lo
            ratios[start:start + b] = np.where(hi == 0, 1.0, lo / np.where(hi == 0, 1, hi))
    a = (1 - confidence) / 2
    return ((float(np.quantile(diffs, a)), float(np.quantile(diffs, 1 - a))),
            (float(np.quantile(ratios, a)), float(np.quantile(ratios, 1 - a))))


def snsr_permutation_test(sim: np.ndarray, *, n_permutations: int = 1000,
                          seed: int = 0) -> float:
    """p-value of SNSR (range of column means) under within-user shuffles of the
    attribute-value labels (:func:`row_permutation_null`), drawn sequentially
    (:func:`sequential_permutation_pvalue`). A model whose lists never depend on the stated
    value gets p = 1.

    Examples
    --------
    >>> s = np.column_stack([np.full(50, 1.0), np.full(50, 0.5)])
    >>> snsr_permutation_test(s, n_permutations=99, seed=0) < 0.001
    True
    >>> snsr_permutation_test(np.ones((30, 3)), n_permutations=99)
    1.0
    """
    sim = np.asarray(sim, dtype=float)
    if sim.ndim != 2 or sim.shape[1] < 2:
        return 1.0
    means = np.nanmean(sim, axis=0)
    observed = float(np.nanmax(means) - np.nanmin(means))
    return sequential_permutation_pvalue(
        observed, lambda n, rng: row_permutation_null(sim, n, rng),
        n_permutations=n_permutations, seed=seed)


def group_gap_permutation_test(values: Sequence[float], groups: Sequence[str], *,
                               n_permutations: int = 1000, seed: int = 0) -> float:
    """p-value of the group-mean gap (max - min) against shuffled group labels (users
    exchange groups under the null "utility does not depend on the group"), drawn
    sequentially (:func:`sequential_permutation_pvalue`).

    Vectorised: group means of every permutation from one matrix product.

    Examples
    --------
    >>> v = np.r_[np.ones(30), np.zeros(30)]
    >>> group_gap_permutation_test(v, ["a"] * 30 + ["b"] * 30, n_permutations=199) < 0.001
    True
    """
    v = np.asarray(values, dtype=float)
    labels, codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    if labels.size < 2:
        return 1.0
    counts = np.bincount(codes, minlength=labels.size).astype(float)
    onehot = np.eye(labels.size)[codes]  # (users, groups)

    def draw(n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.empty(n)
        chunk = max(1, 2_000_000 // max(1, v.size))
        for start in range(0, n, chunk):
            b = min(chunk, n - start)
            idx = np.argsort(rng.random((b, v.size)), axis=1)
            means = v[idx] @ onehot / counts  # (b, groups)
            out[start:start + b] = means.max(axis=1) - means.min(axis=1)
        return out

    return sequential_permutation_pvalue(group_gap(v, groups)[0], draw,
                                         n_permutations=n_permutations, seed=seed)


def bootstrap_rows(matrix: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], *,
                   n_resamples: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of a statistic of column means, resampling rows (users).

    ``statistic`` maps a (resamples x columns) array of column means to a (resamples x q)
    array; returns (low, high), each of length q. Hand-written because one vectorised index
    draw serves every resample (``scipy.stats.bootstrap`` would call the statistic per
    resample for a matrix-valued sample).

    Examples
    --------
    >>> m = np.column_stack([np.r_[np.ones(20), np.zeros(20)], np.full(40, 0.5)])
    >>> lo, hi = bootstrap_rows(m, lambda c: c, n_resamples=500, seed=0)
    >>> bool(lo[0] < 0.5 < hi[0]), float(lo[1]), float(hi[1])
    (True, 0.5, 0.5)
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or m.shape[0] == 0:
        raise ValueError(f"expected a non-empty (users x columns) matrix, got shape {m.shape}")
    n = m.shape[0]
    if n < 2:
        v = np.asarray(statistic(np.nanmean(m, axis=0)[None, :]))[0]
        return v, v
    from .statistics import MAX_RESAMPLE_VALUES

    rng = np.random.default_rng(seed)
    # blocks of resamples keep memory flat in the number of users; same draws as one block
    block = max(1, min(n_resamples, MAX_RESAMPLE_VALUES // (n * m.shape[1])))
    means = np.concatenate([
        np.nanmean(m[rng.integers(0, n, size=(min(block, n_resamples - s), n))], axis=1)
        for s in range(0, n_resamples, block)])
    stats = np.asarray(statistic(means))
    a = (1 - confidence) / 2
    return np.nanquantile(stats, a, axis=0), np.nanquantile(stats, 1 - a, axis=0)


# ---------------------------------------------------------------------------- provider side
def position_discount(k: int) -> np.ndarray:
    """1 / log2(1 + rank) for 1-based ranks 1..k (rank 1 gets 1.0).

    Examples
    --------
    >>> position_discount(3).round(4).tolist()
    [1.0, 0.6309, 0.5]
    """
    return 1.0 / np.log2(np.arange(1, k + 1) + 1.0)


def item_exposure(lists: Sequence[Sequence[str]], k: int | None = None) -> dict[str, float]:
    """Total position-discounted exposure of every item appearing in ``lists`` (top-k).

    Examples
    --------
    >>> item_exposure([["a", "b"], ["b"]])
    {'a': 1.0, 'b': 1.6309297535714575}
    """
    out: dict[str, float] = {}
    for lst in lists:
        lst = list(lst) if k is None else list(lst)[:k]
        for item, w in zip(lst, position_discount(len(lst))):
            out[item] = out.get(item, 0.0) + float(w)
    return out


def exposure_by_group(lists: Sequence[Sequence[str]], item_groups: Mapping[str, str],
                      groups: Sequence[str], k: int | None = None) -> np.ndarray:
    """A (lists x groups) matrix of position-discounted exposure each list gives each group.

    Items without a group raise ``KeyError`` naming the item.
    """
    col = {g: n for n, g in enumerate(groups)}
    out = np.zeros((len(lists), len(groups)))
    for u, lst in enumerate(lists):
        lst = list(lst) if k is None else list(lst)[:k]
        for item, w in zip(lst, position_discount(len(lst))):
            try:
                out[u, col[item_groups[item]]] += w
            except KeyError as exc:
                raise KeyError(f"item {item!r} has no provider group (or its group is not one "
                               f"of {list(groups)})") from exc
    return out


def share_by_group(items: Sequence[str], item_groups: Mapping[str, str],
                   groups: Sequence[str]) -> np.ndarray:
    """Each group's share of a multiset of items (the catalog, or relevant items).

    Examples
    --------
    >>> share_by_group(["a", "b", "c", "c"], {"a": "x", "b": "y", "c": "y"}, ["x", "y"])
    array([0.25, 0.75])
    """
    col = {g: n for n, g in enumerate(groups)}
    counts = np.zeros(len(groups))
    for item in items:
        counts[col[item_groups[item]]] += 1
    total = counts.sum()
    return counts / total if total > 0 else np.full(len(groups), np.nan)


def disparate_exposure(exposure_share: Sequence[float],
                       reference_share: Sequence[float]) -> np.ndarray:
    """Per group, exposure share / reference share (1 = exposed in proportion; < 1 =
    under-exposed). A group with reference share 0 gets NaN.

    Examples
    --------
    >>> disparate_exposure([0.8, 0.2], [0.5, 0.5]).tolist()
    [1.6, 0.4]
    """
    e = np.asarray(exposure_share, dtype=float)
    r = np.asarray(reference_share, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, e / np.where(r > 0, r, 1.0), np.nan)


def min_max_ratio(values: Sequence[float]) -> float:
    """min / max over groups, ignoring NaN (1 = every group alike; 0 = a group gets nothing).

    Examples
    --------
    >>> min_max_ratio([1.6, 0.4])
    0.25
    """
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0 or v.max() <= 0:
        return float("nan")
    return float(v.min() / v.max())
