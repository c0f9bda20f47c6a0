"""Utility of ranked lists against held-out items: NDCG@K and HR@K per user, and summaries.

Pure: the rankings come in as item lists (the caller asks the model); see
:func:`recaudit.study.measure_utility` for the sampled-users, whole-catalog version.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from .ranking import hit_at_k, ndcg_at_k
from .statistics import bootstrap_ci


def utility_per_user(rankings: Sequence[Sequence[str]], held_out: Sequence[Collection[str]],
                     k: int = 10) -> dict[str, np.ndarray]:
    """``{"ndcg_at_k": ..., "hr_at_k": ...}``: one value per (ranked list, held-out items) pair.

    Examples
    --------
    >>> u = utility_per_user([["a", "b"], ["c", "d"]], [{"b"}, {"x"}], k=2)
    >>> u["hr_at_2"].tolist(), round(float(u["ndcg_at_2"][0]), 4)
    ([1.0, 0.0], 0.6309)
    """
    out = {}
    for name, fn in ((f"ndcg_at_{k}", ndcg_at_k), (f"hr_at_{k}", hit_at_k)):
        out[name] = np.array([fn(items, relevant, k)
                              for items, relevant in zip(rankings, held_out)])
    return out


def summarize(per_user: Mapping[str, np.ndarray], *, n_resamples: int = 1000,
              seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """``{name: (mean, CI low, CI high)}``: the mean over users and its percentile bootstrap
    CI (:func:`~recaudit.metrics.statistics.bootstrap_ci`)."""
    out = {}
    for name, vals in per_user.items():
        lo, hi = bootstrap_ci(vals, n_resamples=n_resamples, seed=seed)
        out[name] = (float(np.mean(vals)), lo, hi)
    return out
