"""Faithfulness of feature attributions: ERASER, deletion/insertion curves, CountER.

Pure functions over the model outputs an auditor has already computed. The convention: a
feature vector has ``d`` features; an attribution orders them (most important first); a
*deletion curve* holds the model output after removing the top ``0, 1, ..., d`` features, an
*insertion curve* the output when only the top ``0, 1, ..., d`` features are kept
(``curve[0]`` is the output with every feature removed).

Definitions
-----------
- comprehensiveness (DeYoung et al. 2020, ERASER): ``p(y|x) - p(y|x without top-k)``;
  higher means the top features matter.
- sufficiency (ERASER): ``p(y|x) - p(y|only top-k)``; lower means the top features suffice.
- AOPC as ERASER computes it (DeYoung et al. 2020): the comprehensiveness averaged over the
  removal bins ``k = 1..L`` (no ``k = 0`` bin): ``1/L * sum_{k=1..L} (curve[0] - curve[k])``;
  the sufficiency variant averages ``p(y|x) - insertion[k]`` over the same bins. (Samek et
  al. 2017 also average the ``k = 0`` term, which is always 0: their AOPC is ``L/(L+1)``
  times this one.)
- deletion / insertion area (Petsiuk et al. 2018, RISE): area under the curve against the
  fraction of features removed / inserted, trapezoid rule on [0, 1]. A faithful attribution
  has a small deletion area and a large insertion area.
- CountER (Tan et al. 2021): PN = share of explained items that leave the top-K when the
  explanation is removed; PS = share that stay in the top-K when only the explanation is
  kept; FNS = their harmonic mean.

The curves are hand-written (not Captum's ``infidelity``/``sensitivity``, which measure
other things); the areas use :func:`numpy.trapezoid`, checked against scikit-learn's
``auc`` in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "aopc",
    "aopc_sufficiency",
    "attribution_order",
    "comprehensiveness",
    "curve_auc",
    "deletion_auc",
    "deletion_masks",
    "fns",
    "insertion_auc",
    "insertion_masks",
    "probability_of_necessity",
    "probability_of_sufficiency",
    "random_attribution",
    "sufficiency",
]


def _curve(curve: Sequence[float] | np.ndarray) -> np.ndarray:
    c = np.asarray(curve, dtype=float)
    if c.ndim != 1 or c.size < 2:
        raise ValueError(f"a curve needs at least 2 points (0 and 1 features), got shape "
                         f"{c.shape}")
    return c


def attribution_order(attributions: Sequence[float] | np.ndarray,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Feature indices from most to least important (descending attribution).

    Ties are broken at random when ``rng`` is given (so a flat attribution is no better
    than a random one), else by position (stable).

    Examples
    --------
    >>> attribution_order([0.1, 0.5, -0.2]).tolist()
    [1, 0, 2]
    """
    a = np.asarray(attributions, dtype=float)
    if np.isnan(a).any():
        raise ValueError("attributions contain NaN; check the attribution method's output")
    if rng is None:
        return np.argsort(-a, kind="stable")
    tiebreak = rng.random(a.size)
    return np.lexsort((tiebreak, -a))


def random_attribution(n_features: int, rng: np.random.Generator) -> np.ndarray:
    """A random attribution (a uniform random importance per feature): the baseline."""
    return rng.random(n_features)


def deletion_masks(order: Sequence[int] | np.ndarray, n_features: int | None = None,
                   ) -> np.ndarray:
    """Masks (1 = kept) after removing the top ``0..d`` features of ``order``: ``(d+1, d)``.

    Examples
    --------
    >>> deletion_masks([2, 0, 1]).tolist()
    [[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]]
    """
    order = np.asarray(order, dtype=int)
    d = int(n_features if n_features is not None else order.size)
    masks = np.ones((d + 1, d), dtype=int)
    for k in range(1, d + 1):
        masks[k:, order[k - 1]] = 0
    return masks


def insertion_masks(order: Sequence[int] | np.ndarray, n_features: int | None = None,
                    ) -> np.ndarray:
    """Masks (1 = kept) keeping only the top ``0..d`` features of ``order``: ``(d+1, d)``."""
    return 1 - deletion_masks(order, n_features)


def comprehensiveness(full: float | np.ndarray, without_top: float | np.ndarray,
                      ) -> float | np.ndarray:
    """ERASER comprehensiveness: ``p(y|x) - p(y|x without the top-k parts)``.

    Examples
    --------
    >>> comprehensiveness(0.8, 0.3)
    0.5
    """
    out = np.asarray(full, dtype=float) - np.asarray(without_top, dtype=float)
    return float(out) if out.ndim == 0 else out


def sufficiency(full: float | np.ndarray, only_top: float | np.ndarray) -> float | np.ndarray:
    """ERASER sufficiency: ``p(y|x) - p(y|only the top-k parts)`` (lower is better).

    Examples
    --------
    >>> sufficiency(0.8, 0.7)
    0.1
    """
    out = np.asarray(full, dtype=float) - np.asarray(only_top, dtype=float)
    return float(np.round(out, 12)) if out.ndim == 0 else out


def aopc(deletion_curve: Sequence[float] | np.ndarray, k_max: int | None = None) -> float:
    """Area over the perturbation curve, ERASER's AOPC comprehensiveness.

    ``deletion_curve[0]`` is the output for the full input (nothing removed) and
    ``deletion_curve[k]`` the output once the top ``k`` attributed features are removed.
    The result is the mean of ``curve[0] - curve[k]`` over the bins ``k = 1..L``, as in
    ERASER's ``compute_aopc_scores`` (DeYoung et al. 2020), which averages
    ``p(y|x) - p(y|x without the top-k)`` over its bins and has no ``k = 0`` bin. Here a bin
    is one removal step (ERASER's bins are token shares, 1% to 50%). ``L`` is ``k_max``
    capped at ``len(curve) - 1``; by default every step of the curve.

    Higher means removing the top-attributed features first hurts the output sooner (a more
    faithful attribution). Samek et al. (2017) average ``k = 0..L`` instead, including the
    ``k = 0`` term that is always 0; their value is ``L / (L + 1)`` times this one.

    Examples
    --------
    >>> aopc([1.0, 0.4, 0.2])  # (0.6 + 0.8) / 2
    0.7
    >>> aopc([1.0, 0.4, 0.2, 0.2], k_max=1)  # only the k = 1 bin
    0.6
    """
    c = _curve(deletion_curve)
    L = c.size - 1 if k_max is None else min(int(k_max), c.size - 1)
    if L < 1:
        raise ValueError(f"AOPC needs at least one removal step (k_max >= 1), got {k_max}")
    return float(np.round(np.mean(c[0] - c[1:L + 1]), 12))


def aopc_sufficiency(full: float, insertion_curve: Sequence[float] | np.ndarray,
                     k_max: int | None = None) -> float:
    """ERASER's AOPC sufficiency: mean of ``full - insertion[k]`` over the bins ``k = 1..L``
    (lower is better), with ``insertion[k]`` the output when only the top ``k`` features are
    kept (``insertion[0]``, nothing kept, is not a bin), as :func:`aopc`.

    Examples
    --------
    >>> aopc_sufficiency(1.0, [0.0, 0.9, 1.0])  # (0.1 + 0.0) / 2
    0.05
    """
    c = _curve(insertion_curve)
    L = c.size - 1 if k_max is None else min(int(k_max), c.size - 1)
    if L < 1:
        raise ValueError(f"AOPC needs at least one removal step (k_max >= 1), got {k_max}")
    return float(np.round(np.mean(float(full) - c[1:L + 1]), 12))


def curve_auc(curve: Sequence[float] | np.ndarray) -> float:
    """Trapezoid area under ``curve`` drawn against the fraction of features, x in [0, 1].

    Examples
    --------
    >>> curve_auc([1.0, 0.0])
    0.5
    """
    c = _curve(curve)
    x = np.linspace(0.0, 1.0, c.size)
    return float(np.trapezoid(c, x))


def deletion_auc(deletion_curve: Sequence[float] | np.ndarray) -> float:
    """Area under the deletion curve (Petsiuk et al. 2018); lower is more faithful."""
    return curve_auc(deletion_curve)


def insertion_auc(insertion_curve: Sequence[float] | np.ndarray) -> float:
    """Area under the insertion curve (Petsiuk et al. 2018); higher is more faithful."""
    return curve_auc(insertion_curve)


def probability_of_necessity(in_top_k_without: Sequence[bool] | np.ndarray) -> float:
    """CountER PN: share of explained items that drop out of the top-K once the explanation
    is removed. ``in_top_k_without[i]`` says whether item i is still in the top-K.

    Examples
    --------
    >>> probability_of_necessity([False, False, True, False])
    0.75
    """
    x = np.asarray(in_top_k_without, dtype=bool)
    if x.size == 0:
        return float("nan")
    return float(np.mean(~x))


def probability_of_sufficiency(in_top_k_only: Sequence[bool] | np.ndarray) -> float:
    """CountER PS: share of explained items still in the top-K when only the explanation is
    kept. ``in_top_k_only[i]`` says whether item i is in the top-K then.

    Examples
    --------
    >>> probability_of_sufficiency([True, False, True, True])
    0.75
    """
    x = np.asarray(in_top_k_only, dtype=bool)
    if x.size == 0:
        return float("nan")
    return float(np.mean(x))


def fns(pn: float, ps: float) -> float:
    """CountER's F_NS: harmonic mean of PN and PS (0 when both are 0).

    Examples
    --------
    >>> fns(0.5, 1.0)
    0.6666666666666666
    """
    if np.isnan(pn) or np.isnan(ps):
        return float("nan")
    if pn + ps == 0:
        return 0.0
    return float(2 * pn * ps / (pn + ps))
