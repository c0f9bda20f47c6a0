"""Small helpers shared by auditors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..data import sample_users  # noqa: F401  (a data operation; the auditors import it here)
from ._metric_spec import MetricSpec

#: The metric :func:`hallucination_metric` emits (declared by the auditors that call it).
HALLUCINATION_RATE = MetricSpec(
    "hallucination_rate", "share of generated list entries that matched no catalog item (or "
    "no candidate); generating models only", higher_is_better=False)


def sample_negatives(data, user_id: str, n: int, rng: np.random.Generator, *,
                     strategy: str = "random", exclude: Sequence[str] = ()) -> list[str]:
    """``n`` catalog items the user has not interacted with (train or test).

    ``strategy`` is ``random`` (uniform) or ``popularity`` (weighted by train popularity + 1).
    """
    seen = set(data.train_histories.get(user_id, ())) | set(data.test_items.get(user_id, ()))
    seen |= set(exclude)
    pool = np.array([i for i in data.item_ids if i not in seen])
    if len(pool) < n:
        raise ValueError(f"user {user_id!r} has only {len(pool)} unseen items; need {n}")
    if strategy == "random":
        p = None
    elif strategy == "popularity":
        w = data.popularity.reindex(pool).to_numpy(dtype=float) + 1.0
        p = w / w.sum()
    else:
        raise ValueError(f"unknown negative sampling strategy {strategy!r}; "
                         "use 'random' or 'popularity'")
    return rng.choice(pool, size=n, replace=False, p=p).tolist()


def hallucination_metric(auditor, rankings: Sequence, *, n_bootstrap: int, seed: int):
    """``hallucination_rate`` of a generating model (``Ranking.raw`` set, as free-text and
    chat models do): per answer, entries that named no catalog item (or an item outside the
    candidates) over all matched-or-not entries kept, averaged with a bootstrap CI over
    answers. ``None`` for models that do not generate text and never hallucinate."""
    from ..metrics.statistics import bootstrap_ci

    if not any(r.raw is not None or r.hallucinated for r in rankings):
        return None
    rates = np.array([r.hallucinated / max(1, r.hallucinated + len(r.items))
                      for r in rankings], dtype=float)
    return auditor.metric(
        HALLUCINATION_RATE.name, float(rates.mean()),
        ci=bootstrap_ci(rates, n_resamples=n_bootstrap, seed=seed), higher_is_better=False,
        description="share of generated list entries that matched no catalog item "
                    "(or no candidate)")
